//! `hiercog probe`: the CoG linear-probe protocol on feature files (crate `hiercog-probe`), with a
//! results store (crate `hiercog-store`) that makes re-runs skip finished (seed, shots) runs, and
//! `hiercog probe report` to aggregate a store over seeds.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use hiercog_features::{check_pair, FeatureSet, Preprocess};
use hiercog_probe::{
    run_protocol, HyperParams, KnnParams, ProbeResult, ProgressEvent, ProtocolConfig, Samples,
    SolverKind,
};
use hiercog_report::table::{fmt_mean_std, Table};
use hiercog_store::{path_fingerprint, ResultsStore, RunKey};
use hiercog_taxonomy::{distance_matrix, DistanceConvention, DistanceMatrix};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use super::common::TaxonomySource;

/// The reference's seeds (naver/cog), in order; `--seeds N` takes the first N.
const REFERENCE_SEEDS: [u64; 5] = [22, 37, 45, 77, 93];

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ProbeArgs {
    #[command(subcommand)]
    command: Option<ProbeCommand>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(clap::Subcommand)]
enum ProbeCommand {
    /// Aggregate the runs of a results store over seeds (mean ± std) into a table.
    Report(ReportArgs),
}

#[derive(clap::Args)]
struct ReportArgs {
    /// The results store (SQLite) written by `hiercog probe --store`.
    #[arg(long, value_name = "FILE")]
    store: PathBuf,
    /// Print JSON instead of a markdown table.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum SolverArg {
    /// L-BFGS on a warm-started regularisation path (fast, default).
    Fast,
    /// The reference protocol: SGD, 30 random-search trials x 100 epochs.
    Sgd,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum DistanceArg {
    /// Height of the lowest common ancestor among the classes' hierarchy.
    Lca,
    /// LCA height with every class padded to the deepest one (making-better-mistakes files).
    Padded,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Training features (.npy pair/.npz, safetensors with X/Y, or the reference's X_Y.pth).
    #[arg(long, value_name = "PATH")]
    train: Option<PathBuf>,
    /// Test features, same format rules.
    #[arg(long, value_name = "PATH")]
    test: Option<PathBuf>,
    /// Solver.
    #[arg(long, value_enum, default_value = "fast")]
    solver: SolverArg,
    /// Few-shot: samples per class, one or a list (e.g. `--shots 1,2,4,8`); all data when absent.
    #[arg(long, value_delimiter = ',', value_name = "N")]
    shots: Vec<usize>,
    /// Keep classes with fewer samples than the shot count instead of failing.
    #[arg(long)]
    allow_fewer: bool,
    /// Number of seeds: the first N of the reference's 22, 37, 45, 77, 93.
    #[arg(long, default_value_t = 5, conflicts_with = "seed_list")]
    seeds: usize,
    /// Explicit seeds, e.g. `--seed-list 22,37`.
    #[arg(long, value_delimiter = ',', value_name = "SEEDS")]
    seed_list: Vec<u64>,
    /// Search budget: λ points on the path (fast, default 9: decades 1e-1 … 1e-9) or random-search trials (sgd, default 30).
    #[arg(long)]
    trials: Option<usize>,
    /// The fast solver's λ range, largest first (default `1e-1,1e-9`); the path is log-spaced over
    /// it with `--trials` points. Widen it when the chosen λ sits at the small end.
    #[arg(long, value_delimiter = ',', value_name = "HI,LO")]
    l2_range: Vec<f64>,
    /// Epochs per SGD fit (default 100, the reference's).
    #[arg(long)]
    epochs: Option<usize>,
    /// Feature preprocessing: l2 (each row divided by its norm, the reference), standardize
    /// (per-dimension, fitted on train; makes the probe less hyper-parameter sensitive) or none.
    #[arg(long, default_value = "l2", value_name = "l2|standardize|none")]
    preprocess: Preprocess,
    /// Also run the DINO-style weighted k-NN probe.
    #[arg(long)]
    knn: bool,
    /// Neighbours of the k-NN probe.
    #[arg(long, default_value_t = 20)]
    knn_k: usize,
    /// Class-distance convention of the hierarchical metrics (computed when class names are wnids).
    #[arg(long, value_enum, default_value = "lca")]
    distance: DistanceArg,
    #[command(flatten)]
    taxonomy: TaxonomySource,
    /// Results store: finished runs are recorded there and skipped on re-runs.
    #[arg(long, value_name = "FILE")]
    store: Option<PathBuf>,
    /// Print the results as JSON (one array) instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: ProbeArgs) -> anyhow::Result<()> {
    match args.command {
        Some(ProbeCommand::Report(r)) => report(&r),
        None => run_probe(&args.run),
    }
}

fn protocol_config(a: &RunArgs) -> anyhow::Result<ProtocolConfig> {
    let mut cfg = ProtocolConfig {
        solver: match a.solver {
            SolverArg::Fast => SolverKind::Fast,
            SolverArg::Sgd => SolverKind::Sgd,
        },
        allow_fewer: a.allow_fewer,
        knn: a.knn.then(|| KnnParams {
            k: a.knn_k,
            ..KnnParams::default()
        }),
        ..ProtocolConfig::default()
    };
    if let Some(t) = a.trials {
        cfg.fast.trials = t;
        cfg.sgd.trials = t;
    }
    match a.l2_range[..] {
        [] => {}
        [hi, lo] if hi < lo => bail!(
            "--l2-range {hi:e},{lo:e}: give the largest λ first, e.g. --l2-range {lo:e},{hi:e}"
        ),
        [hi, lo] => {
            cfg.fast.l2_max = hi;
            cfg.fast.l2_min = lo;
        }
        _ => bail!(
            "--l2-range takes two values, the largest λ first (e.g. --l2-range 1e-1,1e-12); got {:?}",
            a.l2_range
        ),
    }
    if let Some(e) = a.epochs {
        if e == 0 {
            bail!("--epochs must be at least 1");
        }
        cfg.sgd.sgd.epochs = e;
    }
    Ok(cfg)
}

fn seeds(a: &RunArgs) -> anyhow::Result<Vec<u64>> {
    if !a.seed_list.is_empty() {
        return Ok(a.seed_list.clone());
    }
    if a.seeds == 0 || a.seeds > REFERENCE_SEEDS.len() {
        bail!(
            "--seeds takes 1..={} (the reference's seeds); use --seed-list for others",
            REFERENCE_SEEDS.len()
        );
    }
    Ok(REFERENCE_SEEDS[..a.seeds].to_vec())
}

/// Class distances when every class name is a concept of the taxonomy; `None` (with a note) otherwise.
fn class_distances(
    a: &RunArgs,
    names: Option<&[String]>,
) -> anyhow::Result<Option<DistanceMatrix>> {
    let Some(names) = names else {
        return Ok(None);
    };
    let tax = a.taxonomy.load()?;
    let ids: Option<Vec<_>> = names.iter().map(|n| tax.get(n)).collect();
    let Some(ids) = ids else {
        eprintln!(
            "note: class names are not all concepts of the taxonomy; hierarchical metrics skipped"
        );
        return Ok(None);
    };
    let conv = match a.distance {
        DistanceArg::Lca => DistanceConvention::LcaHeight,
        DistanceArg::Padded => DistanceConvention::PaddedLcaHeight,
    };
    Ok(Some(distance_matrix(&tax, &ids, conv)?))
}

fn progress_bar(prefix: String) -> ProgressBar {
    let pb = ProgressBar::new(1);
    pb.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {percent:>3}% fit {msg} ETA {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb.set_prefix(prefix);
    pb
}

fn on_progress(pb: &ProgressBar, ev: ProgressEvent) {
    match ev {
        ProgressEvent::FitStarted { fit, fits, label } => {
            pb.set_message(format!("{}/{fits} {label}", fit + 1))
        }
        ProgressEvent::Step {
            fit,
            fits,
            done,
            total,
        } => {
            pb.set_length((fits * total) as u64);
            pb.set_position((fit * total + done) as u64);
        }
        ProgressEvent::FitFinished { .. } => {}
        ProgressEvent::Knn => pb.set_message("k-NN".to_string()),
    }
}

fn run_key(
    fingerprints: &[String],
    preprocess: Preprocess,
    cfg: &ProtocolConfig,
    seed: u64,
    shots: Option<usize>,
) -> RunKey {
    let cfg_json = serde_json::to_string(cfg).expect("config serialises");
    let pre = format!("{preprocess:?}");
    let shots = shots.map_or("all".to_string(), |s| s.to_string());
    RunKey::from_parts(&[
        b"hiercog probe v1",
        fingerprints[0].as_bytes(),
        fingerprints[1].as_bytes(),
        pre.as_bytes(),
        cfg_json.as_bytes(),
        &seed.to_le_bytes(),
        shots.as_bytes(),
    ])
}

fn run_probe(a: &RunArgs) -> anyhow::Result<()> {
    let (Some(train_path), Some(test_path)) = (&a.train, &a.test) else {
        bail!("give --train and --test feature files (or use `hiercog probe report --store FILE`)");
    };
    let cfg = protocol_config(a)?;
    let seeds = seeds(a)?;
    let shots: Vec<Option<usize>> = if a.shots.is_empty() {
        vec![None]
    } else {
        a.shots.iter().map(|&s| Some(s)).collect()
    };
    let store = a.store.as_deref().map(ResultsStore::open).transpose()?;
    let fingerprints = [path_fingerprint(train_path)?, path_fingerprint(test_path)?];
    let (train, test) = load_pair(train_path, test_path, a.preprocess)?;
    let dist = class_distances(a, train.class_names.as_deref())?;
    let train_view = train.samples()?;
    let test_view = test.samples()?;

    let total = seeds.len() * shots.len();
    let mut results: Vec<ProbeResult> = Vec::with_capacity(total);
    let mut n = 0;
    for &s in &shots {
        for &seed in &seeds {
            n += 1;
            let key = run_key(&fingerprints, a.preprocess, &cfg, seed, s);
            if let Some(rec) = store.as_ref().map(|st| st.get(&key)).transpose()?.flatten() {
                let r: ProbeResult = serde_json::from_value(rec["result"].clone())
                    .with_context(|| format!("store record {key} is not a probe result"))?;
                eprintln!(
                    "[{n}/{total}] seed {seed} shots {} already in the store: skipped",
                    shots_label(s)
                );
                results.push(r);
                continue;
            }
            let pb = progress_bar(format!(
                "[{n}/{total}] seed {seed} shots {}",
                shots_label(s)
            ));
            let r = run_protocol(train_view, test_view, &cfg, seed, s, dist.as_ref(), &|ev| {
                on_progress(&pb, ev)
            })
            .with_context(|| format!("probe run seed {seed}, shots {}", shots_label(s)))?;
            pb.finish_and_clear();
            eprintln!(
                "[{n}/{total}] seed {seed} shots {}: top-1 {:.2} top-5 {:.2} ({:.1} s)",
                shots_label(s),
                r.test.top1,
                r.test.top5,
                r.wall_seconds
            );
            if let HyperParams::Fast { l2 } = r.chosen {
                if l2 <= cfg.fast.l2_min * (1.0 + 1e-9) && cfg.fast.trials > 1 {
                    eprintln!(
                        "  note: the chosen λ={l2:.1e} is the smallest on the path, so the best \
                         may lie below it; widen the range, e.g. --l2-range {:.0e},{:.0e}",
                        cfg.fast.l2_max,
                        cfg.fast.l2_min * 1e-3
                    );
                }
            }
            if let Some(st) = &store {
                let rec = json!({
                    "train": train_path.display().to_string(),
                    "test": test_path.display().to_string(),
                    "preprocess": format!("{:?}", a.preprocess).to_lowercase(),
                    "result": r,
                });
                st.put(&key, "probe", &rec)?;
            }
            results.push(r);
        }
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        println!(
            "{}",
            summary_table(&results.iter().collect::<Vec<_>>(), None).to_markdown()
        );
    }
    Ok(())
}

fn shots_label(s: Option<usize>) -> String {
    s.map_or("all".into(), |s| s.to_string())
}

/// One row per (solver, shots) group: mean ± std over its seeds.
fn summary_table(results: &[&ProbeResult], title: Option<&str>) -> Table {
    let mut t = Table::new([
        "data",
        "solver",
        "shots",
        "seeds",
        "top-1 %",
        "top-5 %",
        "loss",
        "mistake sev.",
        "hdist@5",
        "k-NN top-1 %",
        "s/run",
    ]);
    if let Some(title) = title {
        t = t.with_title(title);
    }
    for g in group(results) {
        let vals = |f: &dyn Fn(&ProbeResult) -> Option<f64>| -> Vec<f64> {
            g.runs.iter().filter_map(|r| f(r)).collect()
        };
        t.push_row([
            g.data.clone(),
            format!("{:?}", g.runs[0].config.solver).to_lowercase(),
            shots_label(g.runs[0].shots),
            g.runs.len().to_string(),
            fmt_mean_std(&vals(&|r| Some(r.test.top1)), 2),
            fmt_mean_std(&vals(&|r| Some(r.test.top5)), 2),
            fmt_mean_std(&vals(&|r| Some(r.loss)), 4),
            fmt_mean_std(
                &vals(&|r| {
                    r.test
                        .hierarchical
                        .as_ref()
                        .and_then(|h| h.mistake_severity)
                }),
                3,
            ),
            fmt_mean_std(
                &vals(&|r| r.test.hierarchical.as_ref().map(|h| h.hdist_at_5)),
                3,
            ),
            fmt_mean_std(&vals(&|r| r.knn.as_ref().map(|k| k.top1)), 2),
            format!(
                "{:.1}",
                vals(&|r| Some(r.wall_seconds)).iter().sum::<f64>() / g.runs.len() as f64
            ),
        ]);
    }
    t
}

struct Group<'a> {
    data: String,
    runs: Vec<&'a ProbeResult>,
}

/// Groups runs that differ only by seed, keeping first-seen order.
fn group<'a>(results: &[&'a ProbeResult]) -> Vec<Group<'a>> {
    let mut groups: Vec<(String, Group<'a>)> = Vec::new();
    for r in results {
        let data = format!("{}x{} C={}", r.train_rows, r.dim, r.classes);
        let id = format!(
            "{data}|{}|{:?}",
            serde_json::to_string(&r.config).unwrap_or_default(),
            r.shots
        );
        match groups.iter_mut().find(|(k, _)| *k == id) {
            Some((_, g)) => g.runs.push(r),
            None => groups.push((
                id,
                Group {
                    data,
                    runs: vec![r],
                },
            )),
        }
    }
    groups.into_iter().map(|(_, g)| g).collect()
}

fn report(a: &ReportArgs) -> anyhow::Result<()> {
    if !a.store.exists() {
        bail!(
            "no results store at {} (write one with `hiercog probe --store FILE`)",
            a.store.display()
        );
    }
    let store = ResultsStore::open(&a.store)?;
    let mut labelled: Vec<(String, ProbeResult)> = Vec::new();
    for (key, rec) in store.list(Some("probe"))? {
        let r: ProbeResult = serde_json::from_value(rec["result"].clone())
            .with_context(|| format!("store record {key} is not a probe result"))?;
        let name = format!(
            "{} → {} ({})",
            file_name(rec["train"].as_str()),
            file_name(rec["test"].as_str()),
            rec["preprocess"].as_str().unwrap_or("?")
        );
        labelled.push((name, r));
    }
    if labelled.is_empty() {
        bail!("{} holds no probe runs yet", a.store.display());
    }
    let mut names: Vec<&String> = labelled.iter().map(|(n, _)| n).collect();
    names.dedup();
    names.sort();
    names.dedup();
    let mut out = Vec::new();
    for name in names {
        let runs: Vec<&ProbeResult> = labelled
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, r)| r)
            .collect();
        let table = summary_table(&runs, Some(name));
        if a.json {
            out.push(json!({"data": name, "headers": table.headers, "rows": table.rows}));
        } else {
            println!("{}", table.to_markdown());
        }
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(())
}

fn file_name(p: Option<&str>) -> String {
    p.map(|p| {
        Path::new(p)
            .file_name()
            .map_or(p.to_string(), |f| f.to_string_lossy().into_owned())
    })
    .unwrap_or_else(|| "?".into())
}

/// A loaded, validated and preprocessed feature set.
struct Features {
    x: Vec<f32>,
    labels: Vec<u32>,
    dim: usize,
    classes: usize,
    class_names: Option<Vec<String>>,
}

impl Features {
    fn samples(&self) -> anyhow::Result<Samples<'_>> {
        Ok(Samples::new(&self.x, &self.labels, self.dim, self.classes)?)
    }
}

/// Loads both sets, checks they fit together, fits the preprocessing on train and applies it to both.
fn load_pair(train: &Path, test: &Path, pre: Preprocess) -> anyhow::Result<(Features, Features)> {
    let train = FeatureSet::load(train)
        .with_context(|| format!("loading train features {}", train.display()))?;
    let test = FeatureSet::load(test)
        .with_context(|| format!("loading test features {}", test.display()))?;
    check_pair(&train, &test)?;
    let fitted = pre.fit(&train)?;
    let prepared = |set: &FeatureSet| Features {
        x: fitted.transform(set),
        labels: set.labels.clone(),
        dim: set.dim(),
        classes: set.num_classes(),
        class_names: set.class_names.clone(),
    };
    Ok((prepared(&train), prepared(&test)))
}
