//! Benchmark driver for the probe (run by `benches/run_bench.sh`, which compares it with the
//! PyTorch reference protocol and scikit-learn on the same data; nothing here is asserted).
//!
//! Subcommands (after `cargo bench -p hiercog-probe --bench probe_bench --`):
//! * `gen DIR N D C SEED [NOISE] [FINE]`: writes a seeded Gaussian-mixture feature set (L2-normalised
//!   rows) as raw little-endian `x_train.f32 y_train.u32 x_test.f32 y_test.u32` plus `meta.json`;
//!   FINE > 0 makes the classes a two-level hierarchy (C/10 superclasses, each class mean its
//!   superclass's plus FINE × its own), as real backbones give on far concepts;
//! * `run DIR fast|sgd [TRIALS] [EPOCHS]`: the full protocol (seed 22) on it, one JSON line out;
//!   TRIALS/EPOCHS shrink the `sgd` search to time a part of it for extrapolation;
//! * `fit DIR L2 MAX_ITER`: one cold L-BFGS fit capped at MAX_ITER (per-iteration cost, GFLOP/s);
//! * `gemms N D C`: the solver's two GEMM shapes, faer's plain form vs the slab-parallel `Xᵀ·P`;
//! * `sweep DIR`: cold L-BFGS fits over a λ grid at two tolerances (accuracy vs. λ and cost);
//! * `threads DIR fast|sgd [MAX_THREADS] [TRIALS] [EPOCHS]`: the protocol in rayon pools of
//!   1..=MAX_THREADS threads, back to back: wall time per thread count and whether the results are bit-identical;
//! * `memory DIR [CLASSES] [lean]`: the protocol cut to one search fit and one iteration per fit
//!   (peak memory is reached in the first), labels folded onto CLASSES, `lean` forcing row views
//!   and streamed passes,
//!   with the peak resident set size against the bytes of the features;
//! * `peak M K N`: faer's f32 GEMM speed on this machine (the roofline for the GFLOP/s ratio);
//! * `cost DIR all|SHOTS [knn]`: the protocol (seed 22) on one thread, its CPU seconds and the
//!   row counts the cost model (`hiercog_probe::cost`) takes, one TSV line; `knn` also times the
//!   k-NN probe and its retrieval metrics apart (the data of `benches/cost_model.sh`);
//! * `fit-cost MEASUREMENTS OUT CPU`: fits `hiercog_probe::cost::CostModel` to the `fit` lines
//!   of `cost_model.sh`'s measurements, writes its coefficients to OUT and prints the relative
//!   error on every `holdout` line;
//! * `predict N D C [SHOTS]`: the compiled-in cost model's core-seconds of one protocol run on
//!   N train rows (N/4 test rows), linear probe and k-NN apart.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};
use hiercog_probe::cost::{self, CostModel, ProbeShape};
use hiercog_probe::{
    retrieval_scores, run_protocol, zero_weight_gradient_scale, KnnParams, LbfgsParams,
    LogisticRegressionParams, ProtocolConfig, Samples, Solver, SolverKind,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn normal(rng: &mut ChaCha8Rng) -> f32 {
    // Box-Muller.
    let u1: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
    let u2: f64 = rng.random();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

/// Class means of norm ≈ 1 (so ≈ √2 apart) plus anisotropic noise (per-coordinate std
/// `scales[j]`, log-spread so that a weighted, well-regularised classifier beats nearest-mean),
/// rows L2-normalised like real features.
fn mixture(
    rng: &mut ChaCha8Rng,
    means: &[f32],
    scales: &[f32],
    n: usize,
    c: usize,
) -> (Vec<f32>, Vec<u32>) {
    let d = scales.len();
    let mut x = Vec::with_capacity(n * d);
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let k = i % c;
        let row: Vec<f32> = (0..d)
            .map(|j| means[k * d + j] + scales[j] * normal(rng))
            .collect();
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        x.extend(row.iter().map(|v| v / norm));
        y.push(k as u32);
    }
    (x, y)
}

fn write_raw(path: PathBuf, bytes: impl Iterator<Item = [u8; 4]>) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).expect("create data file"));
    for b in bytes {
        f.write_all(&b).expect("write data file");
    }
}

/// Reads a raw little-endian file of 4-byte values in 1 MiB chunks (never the whole file as bytes
/// beside the values: the memory benchmark counts every byte).
fn read_raw<T>(path: PathBuf, from: fn([u8; 4]) -> T) -> Vec<T> {
    use std::io::Read;
    let file = std::fs::File::open(&path).expect("open data file");
    let len = file.metadata().expect("data file size").len() as usize / 4;
    let mut reader = std::io::BufReader::new(file);
    let mut out = Vec::with_capacity(len);
    let mut chunk = vec![0u8; 1 << 20];
    while out.len() < len {
        let n = ((len - out.len()) * 4).min(chunk.len());
        reader.read_exact(&mut chunk[..n]).expect("read data file");
        out.extend(
            chunk[..n]
                .chunks_exact(4)
                .map(|b| from([b[0], b[1], b[2], b[3]])),
        );
    }
    out
}

fn read_f32(path: PathBuf) -> Vec<f32> {
    read_raw(path, f32::from_le_bytes)
}

fn read_u32(path: PathBuf) -> Vec<u32> {
    read_raw(path, u32::from_le_bytes)
}

fn gen(dir: &Path, n: usize, d: usize, c: usize, seed: u64, noise: f32, fine: f32) {
    std::fs::create_dir_all(dir).expect("create output dir");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut means: Vec<f32> = (0..c * d)
        .map(|_| normal(&mut rng) / (d as f32).sqrt())
        .collect();
    if fine > 0.0 {
        // Two levels: siblings share a superclass mean and differ by `fine` × their own.
        let groups = (c / 10).max(1);
        let supers: Vec<f32> = (0..groups * d)
            .map(|_| normal(&mut rng) / (d as f32).sqrt())
            .collect();
        let keep = (1.0 - fine * fine).max(0.0).sqrt();
        for (k, mean) in means.chunks_exact_mut(d).enumerate() {
            let g = k * groups / c;
            for (m, s) in mean.iter_mut().zip(&supers[g * d..(g + 1) * d]) {
                *m = keep * s + fine * *m;
            }
        }
    }
    let scales: Vec<f32> = (0..d)
        .map(|_| noise * 10f32.powf(rng.random_range(-1.0..0.5)))
        .collect();
    let (xtr, ytr) = mixture(&mut rng, &means, &scales, n, c);
    let (xte, yte) = mixture(&mut rng, &means, &scales, (n / 4).max(c), c);
    write_raw(dir.join("x_train.f32"), xtr.iter().map(|v| v.to_le_bytes()));
    write_raw(dir.join("y_train.u32"), ytr.iter().map(|v| v.to_le_bytes()));
    write_raw(dir.join("x_test.f32"), xte.iter().map(|v| v.to_le_bytes()));
    write_raw(dir.join("y_test.u32"), yte.iter().map(|v| v.to_le_bytes()));
    std::fs::write(
        dir.join("meta.json"),
        format!(
            "{{\"dim\": {d}, \"classes\": {c}, \"seed\": {seed}, \"noise\": {noise}, \"fine\": {fine}}}\n"
        ),
    )
    .expect("write meta.json");
}

type Set = (Vec<f32>, Vec<u32>);

fn load(dir: &Path) -> (Set, Set, usize, usize) {
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).expect("meta.json"))
            .expect("meta");
    let (d, c) = (
        meta["dim"].as_u64().unwrap() as usize,
        meta["classes"].as_u64().unwrap() as usize,
    );
    let train = (
        read_f32(dir.join("x_train.f32")),
        read_u32(dir.join("y_train.u32")),
    );
    let test = (
        read_f32(dir.join("x_test.f32")),
        read_u32(dir.join("y_test.u32")),
    );
    (train, test, d, c)
}

/// The protocol's configuration for `fast` or `sgd`, the latter's search optionally shrunk.
fn config(solver: &str, trials: Option<usize>, epochs: Option<usize>) -> ProtocolConfig {
    let mut cfg = ProtocolConfig::default();
    if solver == "sgd" {
        cfg.solver = SolverKind::Sgd;
        if let Some(t) = trials {
            cfg.sgd.trials = t;
        }
        if let Some(e) = epochs {
            cfg.sgd.sgd.epochs = e;
        }
    }
    cfg
}

fn run(dir: &Path, solver: &str, trials: Option<usize>, epochs: Option<usize>) {
    let ((xtr, ytr), (xte, yte), d, c) = load(dir);
    let train = Samples::new(&xtr, &ytr, d, c).expect("train");
    let test = Samples::new(&xte, &yte, d, c).expect("test");
    let cfg = config(solver, trials, epochs);
    let t = Instant::now();
    let r = run_protocol(train, test, &cfg, 22, None, None, &|_| {}).expect("protocol");
    let wall = t.elapsed().as_secs_f64();
    let f = &r.final_fit;
    // GEMM work of the whole run: 4·rows·D·C per L-BFGS iteration or SGD epoch (X·W and Xᵀ·P).
    let n_search = train.rows()
        - (0..c)
            .map(|k| {
                (cfg.val_fraction * ytr.iter().filter(|&&y| y as usize == k).count() as f64)
                    as usize
            })
            .sum::<usize>();
    let per_row = 4.0 * (d * c) as f64;
    let search_its: usize = r.trials.iter().map(|t| t.iterations).sum();
    let flops = per_row * (search_its * n_search + f.iterations * train.rows()) as f64;
    println!(
        "{}",
        serde_json::json!({
            "impl": format!("hiercog {solver}"), "wall_s": wall, "top1": r.test.top1, "top5": r.test.top5,
            "n": train.rows(), "dim": d, "classes": c, "protocol_gflops": flops / wall / 1e9,
            "loss": r.loss, "fits": r.trials.len() + 1, "chosen": r.chosen,
            "iterations_per_fit": r.trials.iter().map(|t| t.iterations).collect::<Vec<_>>(),
            "val_top1_per_fit": r.trials.iter().map(|t| t.val_top1).collect::<Vec<_>>(),
            "final_iterations": f.iterations, "final_fit_s": f.seconds,
            "gemm_gflops": f.gemm_flops / f.gemm_seconds / 1e9,
            "fit_gflops": f.gemm_flops / f.seconds / 1e9,
            "epochs": cfg.sgd.sgd.epochs, "trials": if solver == "sgd" { cfg.sgd.trials } else { cfg.fast.trials },
        })
    );
}

/// The protocol in pools of 1..=`max_threads` threads: scaling and bitwise agreement.
fn threads(
    dir: &Path,
    solver: &str,
    max_threads: usize,
    trials: Option<usize>,
    epochs: Option<usize>,
) {
    let ((xtr, ytr), (xte, yte), d, c) = load(dir);
    let train = Samples::new(&xtr, &ytr, d, c).expect("train");
    let test = Samples::new(&xte, &yte, d, c).expect("test");
    let cfg = config(solver, trials, epochs);
    let mut first: Option<(f64, f64)> = None;
    for n in 1..=max_threads {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .expect("thread pool");
        let t = Instant::now();
        let r = pool
            .install(|| run_protocol(train, test, &cfg, 22, None, None, &|_| {}))
            .expect("protocol");
        let wall = t.elapsed().as_secs_f64();
        let (t1, w1) = *first.get_or_insert((r.loss, wall));
        println!(
            "{}",
            serde_json::json!({"impl": format!("hiercog {solver}"), "threads": n, "wall_s": wall,
                "speedup_vs_1": w1 / wall, "top1": r.test.top1, "loss": r.loss,
                "same_bits_as_1_thread": r.loss.to_bits() == t1.to_bits()})
        );
    }
}

/// Cold-started L-BFGS fits over a λ grid at a tight tolerance: test top-1, iterations, time.
fn sweep(dir: &Path) {
    let (train, test, d, c) = load(dir);
    let train = Samples::new(&train.0, &train.1, d, c).expect("train");
    let test = Samples::new(&test.0, &test.1, d, c).expect("test");
    let scale = zero_weight_gradient_scale(train);
    for l2 in [1e-2, 1e-3, 1e-4, 1e-5, 1e-6] {
        for rel in [1e-3, 1e-5] {
            let p = LogisticRegressionParams::new(Solver::Lbfgs(LbfgsParams {
                l2,
                tol: rel * scale,
                max_iter: 1000,
                history: 10,
                ..LbfgsParams::default()
            }))
            .expect("params");
            let m = p.fit(train, None, &mut |_, _| {}).expect("fit");
            let (t, loss) = m.evaluate(test, 1).expect("eval");
            println!(
                "{}",
                serde_json::json!({"l2": l2, "rel_tol": rel, "top1": t.accuracy(test.labels(), 1), "loss": loss,
                    "iterations": m.info.iterations, "objective": m.info.objective, "seconds": m.info.seconds})
            );
        }
    }
}

/// The solver's two GEMM shapes on row-major buffers: `X·W` (N×D · D×C) and `Xᵀ·P` (D×N · N×C).
fn solver_gemms(n: usize, d: usize, c: usize) {
    let x: Vec<f32> = (0..n * d).map(|i| ((i * 7) % 13) as f32 * 0.01).collect();
    let w: Vec<f32> = (0..d * c).map(|i| ((i * 5) % 11) as f32 * 0.01).collect();
    let mut z = vec![0.0f32; n * c];
    let mut g = vec![0.0f32; d * c];
    let labels: Vec<u32> = (0..n).map(|i| (i % c) as u32).collect();
    let xm = faer::MatRef::from_row_major_slice(&x, n, d);
    let reps = 3;
    let t = Instant::now();
    for _ in 0..reps {
        let wm = faer::MatRef::from_row_major_slice(&w, d, c);
        matmul(
            faer::MatMut::from_row_major_slice_mut(&mut z, n, c),
            Accum::Replace,
            xm,
            wm,
            1.0,
            Par::rayon(0),
        );
    }
    let fwd = t.elapsed().as_secs_f64() / reps as f64;
    let t = Instant::now();
    for _ in 0..reps {
        let zm = faer::MatRef::from_row_major_slice(&z, n, c);
        matmul(
            faer::MatMut::from_row_major_slice_mut(&mut g, d, c),
            Accum::Replace,
            xm.transpose(),
            zm,
            1.0,
            Par::rayon(0),
        );
    }
    let bwd_plain = t.elapsed().as_secs_f64() / reps as f64;
    // The solver's slab-parallel form of the same product.
    let t = Instant::now();
    for _ in 0..reps {
        let _ = hiercog_probe::zero_weight_gradient_scale(
            Samples::new(&x, &labels, d, c).expect("samples"),
        );
    }
    let scale_s = t.elapsed().as_secs_f64() / reps as f64;
    let bwd = scale_s;
    let f = 2.0 * (n * d * c) as f64 / 1e9;
    println!(
        "{}",
        serde_json::json!({"shape": [n, d, c], "xw_gflops": f / fwd, "xtp_faer_gflops": f / bwd_plain,
            "xtp_slabs_gflops_upper_bound_incl_setup": f / bwd})
    );
}

/// One cold L-BFGS fit at `l2` capped at `max_iter` iterations: per-iteration cost on a shape too
/// large to run the whole path in a benchmark session.
fn fit_once(dir: &Path, l2: f64, max_iter: usize) {
    let ((xtr, ytr), (xte, yte), d, c) = load(dir);
    let train = Samples::new(&xtr, &ytr, d, c).expect("train");
    let test = Samples::new(&xte, &yte, d, c).expect("test");
    let p = LogisticRegressionParams::new(Solver::Lbfgs(LbfgsParams {
        l2,
        tol: 0.0,
        max_iter,
        history: 10,
        ..LbfgsParams::default()
    }))
    .expect("params");
    let m = p.fit(train, None, &mut |_, _| {}).expect("fit");
    let (t, loss) = m.evaluate(test, 5).expect("eval");
    let i = &m.info;
    println!(
        "{}",
        serde_json::json!({"impl": "hiercog fast (one capped fit)", "l2": l2, "iterations": i.iterations,
            "seconds": i.seconds, "seconds_per_iteration": i.seconds / i.iterations.max(1) as f64,
            "gemm_gflops": i.gemm_flops / i.gemm_seconds / 1e9, "fit_gflops": i.gemm_flops / i.seconds / 1e9,
            "top1": t.accuracy(test.labels(), 1), "loss": loss})
    );
}

/// Peak resident set (bytes) of this process so far, from `/proc/self/status` (Linux).
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Peak memory of a protocol run cut to one iteration per fit. `classes` folds the labels onto
/// fewer classes (`y mod classes`: less compute, the same memory structure per class); `lean`
/// forces row views and streamed passes whatever the size.
fn memory(dir: &Path, classes: Option<usize>, lean: bool) {
    let ((xtr, mut ytr), (xte, mut yte), d, mut c) = load(dir);
    if let Some(k) = classes.filter(|&k| k < c) {
        for y in ytr.iter_mut().chain(yte.iter_mut()) {
            *y %= k as u32;
        }
        c = k;
    }
    let feature_bytes = ((xtr.len() + xte.len()) * 4) as u64;
    let train = Samples::new(&xtr, &ytr, d, c).expect("train");
    let test = Samples::new(&xte, &yte, d, c).expect("test");
    let mut cfg = ProtocolConfig::default();
    cfg.fast.trials = 1;
    cfg.fast.search_max_iter = 1;
    cfg.fast.lbfgs.max_iter = 1;
    if lean {
        cfg.split_copy_bytes = 0;
        cfg.fast.lbfgs.logit_cache_bytes = 0;
    }
    let t = Instant::now();
    let r = run_protocol(train, test, &cfg, 22, None, None, &|_| {}).expect("protocol");
    let peak = peak_rss();
    let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
    println!(
        "{}",
        serde_json::json!({"n": train.rows(), "dim": d, "classes": c, "wall_s": t.elapsed().as_secs_f64(),
            "feature_gib": gib(feature_bytes), "peak_rss_gib": peak.map(gib),
            "overhead_gib": peak.map(|p| gib(p) - gib(feature_bytes)),
            "logits_cached": 2 * train.rows() * c * 4 <= cfg.fast.lbfgs.logit_cache_bytes,
            "split_copied": train.rows() * d * 4 <= cfg.split_copy_bytes,
            "iterations": r.final_fit.iterations})
    );
}

/// CPU seconds (user + system) of this process so far.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let s = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    s(u.ru_utime) + s(u.ru_stime)
}

/// CPU and wall seconds of `f`.
fn timed<T>(f: impl FnOnce() -> T) -> (T, f64, f64) {
    let (c, t) = (cpu_seconds(), Instant::now());
    let out = f();
    (out, cpu_seconds() - c, t.elapsed().as_secs_f64())
}

/// One protocol run (all data or `shots` per class) in a one-thread pool: its CPU seconds (the
/// work, free of other jobs' load) with the row counts of each part, for the cost model.
fn cost(dir: &Path, shots: Option<usize>, knn: bool) {
    let ((xtr, ytr), (xte, yte), d, c) = load(dir);
    let train = Samples::new(&xtr, &ytr, d, c).expect("train");
    let test = Samples::new(&xte, &yte, d, c).expect("test");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("thread pool");
    let cfg = ProtocolConfig::default();
    let (r, cpu, wall) = timed(|| {
        pool.install(|| run_protocol(train, test, &cfg, 22, shots, None, &|_| {}))
            .expect("protocol")
    });
    let (mut knn_cpu, mut retrieval_cpu) = ("-".to_string(), "-".to_string());
    if knn {
        let (_, cpu, _) = timed(|| {
            pool.install(|| KnnParams::default().predict_topk(train, test.x(), 5))
                .expect("k-NN")
        });
        knn_cpu = format!("{cpu:.3}");
        let (_, cpu, _) = timed(|| {
            pool.install(|| retrieval_scores(train, test, None))
                .expect("retrieval")
        });
        retrieval_cpu = format!("{cpu:.3}");
    }
    // The columns of `benches/cost_model.tsv` after its role and noise.
    println!(
        "{}\t{d}\t{c}\t{}\t{}\t{}\t{cpu:.3}\t{wall:.3}\t{knn_cpu}\t{retrieval_cpu}\t{}\t{}\t{}\t{:.2}",
        train.rows(),
        shots.map_or("all".to_string(), |s| s.to_string()),
        test.rows(),
        r.train_rows,
        r.trials.iter().map(|t| t.iterations).sum::<usize>(),
        r.trials.len(),
        r.final_fit.iterations,
        r.test.top1,
    );
}

/// One line of `benches/cost_model.tsv`.
struct Measured {
    holdout: bool,
    noise: String,
    shape: ProbeShape,
    linear: f64,
    knn: Option<f64>,
    retrieval: Option<f64>,
}

fn read_measurements(path: &Path) -> (Vec<String>, Vec<Measured>) {
    let text = std::fs::read_to_string(path).expect("measurements");
    let mut header = Vec::new();
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(c) = line.strip_prefix('#') {
            header.push(c.trim().to_string());
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let num = |i: usize| f[i].parse::<usize>().expect("a count");
        let secs = |i: usize| f[i].parse::<f64>().ok();
        out.push(Measured {
            holdout: f[0] == "holdout",
            noise: f[1].to_string(),
            shape: ProbeShape {
                train_rows: num(2),
                dim: num(3),
                classes: num(4),
                shots: f[5].parse().ok(),
                test_rows: num(6),
            },
            linear: secs(8).expect("cpu_s"),
            knn: secs(10),
            retrieval: secs(11),
        });
    }
    (header, out)
}

/// Fits the cost model to the `fit` measurements; prints and records the error on the others.
fn fit_cost(measurements: &Path, out: &Path, cpu: &str) {
    let (header, runs) = read_measurements(measurements);
    let fit = |terms: fn(&ProbeShape) -> Vec<f64>, part: fn(&Measured) -> Option<f64>| {
        let (rows, y): (Vec<_>, Vec<_>) = runs
            .iter()
            .filter(|m| !m.holdout)
            .filter_map(|m| part(m).map(|v| (terms(&m.shape), v.max(1e-3))))
            .unzip();
        cost::fit_nonnegative(&rows, &y).expect("fit")
    };
    let mut model = CostModel {
        linear: fit(ProbeShape::linear_terms, |m| Some(m.linear)),
        knn: fit(ProbeShape::knn_terms, |m| m.knn),
        retrieval: fit(ProbeShape::retrieval_terms, |m| m.retrieval),
        provenance: Vec::new(),
    };
    // A protocol run as `hiercog run` does it: linear probe, plus k-NN and retrieval on all data.
    let total = |m: &Measured| m.linear + m.knn.unwrap_or(0.0) + m.retrieval.unwrap_or(0.0);
    let predicted = |m: &Measured| {
        model.linear_seconds(&m.shape)
            + m.knn.map_or(0.0, |_| model.knn_seconds(&m.shape))
            + m.retrieval
                .map_or(0.0, |_| model.retrieval_seconds(&m.shape))
    };
    println!("role\tN\tD\tC\tnoise\tshots\tmeasured_s\tpredicted_s\trel_error");
    let mut errors: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for m in &runs {
        let (y, p) = (total(m), predicted(m));
        let e = (p - y) / y;
        errors[m.holdout as usize].push(e.abs());
        let s = &m.shape;
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{y:.3}\t{p:.3}\t{e:+.2}",
            if m.holdout { "holdout" } else { "fit" },
            s.train_rows,
            s.dim,
            s.classes,
            m.noise,
            s.shots.map_or("all".into(), |v| v.to_string())
        );
    }
    let summary = |e: &mut Vec<f64>| {
        e.sort_by(f64::total_cmp);
        let median = e.get(e.len() / 2).copied().unwrap_or(f64::NAN);
        let max = e.last().copied().unwrap_or(f64::NAN);
        format!(
            "{} runs, median |error| {:.0} %, max {:.0} %",
            e.len(),
            100.0 * median,
            100.0 * max
        )
    };
    let largest =
        runs.iter()
            .filter(|m| m.holdout && m.shape.shots.is_none())
            .max_by_key(|m| m.shape.train_rows * m.shape.dim * m.shape.classes)
            .map(|m| {
                let s = &m.shape;
                format!(
                "largest held-out shape {}x{}x{} (all data): measured {:.1} s, predicted {:.1} s",
                s.train_rows, s.dim, s.classes, total(m), predicted(m)
            )
            })
            .unwrap_or_default();
    model.provenance = vec![
        "The probe protocol's cost model (hiercog_probe::cost): core-seconds per unit of each term.".into(),
        format!("Fitted by crates/probe/benches/cost_model.sh (probe_bench fit-cost) on {cpu}."),
        "Its measurements (crates/probe/benches/cost_model.tsv):".into(),
    ];
    model
        .provenance
        .extend(header.iter().map(|h| format!("  {h}")));
    model.provenance.push(format!(
        "Error of a whole run, fit shapes: {}",
        summary(&mut errors[0])
    ));
    model.provenance.push(format!(
        "Error of a whole run, held-out shapes: {}",
        summary(&mut errors[1])
    ));
    model.provenance.push(largest);
    std::fs::write(out, model.to_tsv()).expect("write the coefficients");
    for line in &model.provenance[model.provenance.len() - 3..] {
        println!("{line}");
    }
}

/// The compiled-in cost model's prediction for one shape.
fn predict(n: usize, d: usize, c: usize, shots: Option<usize>) {
    let model = CostModel::fitted();
    let shape = ProbeShape {
        train_rows: n,
        test_rows: n / 4,
        dim: d,
        classes: c,
        shots,
    };
    println!(
        "{}",
        serde_json::json!({"n": n, "dim": d, "classes": c, "shots": shots,
            "linear_core_s": model.linear_seconds(&shape), "knn_core_s": model.knn_seconds(&shape),
            "retrieval_core_s": model.retrieval_seconds(&shape)})
    );
}

fn peak(m: usize, k: usize, n: usize) {
    let a = Mat::<f32>::from_fn(m, k, |i, j| ((i * 7 + j * 3) % 13) as f32 * 0.01);
    let b = Mat::<f32>::from_fn(k, n, |i, j| ((i * 5 + j) % 11) as f32 * 0.01);
    let mut out = Mat::<f32>::zeros(m, n);
    matmul(
        out.as_mut(),
        Accum::Replace,
        a.as_ref(),
        b.as_ref(),
        1.0,
        Par::rayon(0),
    );
    let reps = 5;
    let t = Instant::now();
    for _ in 0..reps {
        matmul(
            out.as_mut(),
            Accum::Replace,
            a.as_ref(),
            b.as_ref(),
            1.0,
            Par::rayon(0),
        );
    }
    let s = t.elapsed().as_secs_f64() / reps as f64;
    println!(
        "{}",
        serde_json::json!({"gemm": [m, k, n], "gflops": 2.0 * (m * k * n) as f64 / s / 1e9})
    );
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let num = |i: usize| args.get(i).and_then(|v| v.parse::<usize>().ok());
    match args.first().map(String::as_str) {
        Some("gen") => gen(
            Path::new(&args[1]),
            num(2).expect("N"),
            num(3).expect("D"),
            num(4).expect("C"),
            num(5).unwrap_or(0) as u64,
            args.get(6).and_then(|v| v.parse().ok()).unwrap_or(0.35),
            args.get(7).and_then(|v| v.parse().ok()).unwrap_or(0.0),
        ),
        Some("run") => run(Path::new(&args[1]), &args[2], num(3), num(4)),
        Some("gemms") => solver_gemms(
            num(1).unwrap_or(20000),
            num(2).unwrap_or(512),
            num(3).unwrap_or(100),
        ),
        Some("fit") => fit_once(
            Path::new(&args[1]),
            args.get(2).and_then(|v| v.parse().ok()).expect("L2"),
            num(3).expect("MAX_ITER"),
        ),
        Some("sweep") => sweep(Path::new(&args[1])),
        Some("memory") => memory(
            Path::new(&args[1]),
            num(2),
            args.get(3).is_some_and(|a| a == "lean"),
        ),
        Some("threads") => threads(Path::new(&args[1]), &args[2], num(3).unwrap_or(2), num(4), num(5)),
        Some("peak") => peak(
            num(1).unwrap_or(4096),
            num(2).unwrap_or(2048),
            num(3).unwrap_or(1000),
        ),
        Some("cost") => cost(
            Path::new(&args[1]),
            args[2].parse().ok(),
            args.get(3).is_some_and(|a| a == "knn"),
        ),
        Some("fit-cost") => fit_cost(
            Path::new(&args[1]),
            Path::new(&args[2]),
            args.get(3).map_or("an unnamed CPU", String::as_str),
        ),
        Some("predict") => predict(
            num(1).expect("N"),
            num(2).expect("D"),
            num(3).expect("C"),
            num(4),
        ),
        _ => eprintln!(
            "usage: probe_bench gen DIR N D C SEED [NOISE] [FINE] | run DIR fast|sgd [TRIALS] [EPOCHS] | \
             fit DIR L2 MAX_ITER | gemms N D C | sweep DIR | threads DIR fast|sgd [MAX_THREADS] [TRIALS] [EPOCHS] | memory DIR [CLASSES] [lean] | \
             peak M K N | cost DIR all|SHOTS [knn] | fit-cost MEASUREMENTS OUT CPU | predict N D C [SHOTS]"
        ),
    }
}
