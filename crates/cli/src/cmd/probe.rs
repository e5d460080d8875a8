//! `hiercog probe`: the CoG linear-probe protocol on feature files (crate `hiercog-probe`), with a
//! results store (crate `hiercog-store`) that makes re-runs skip finished (seed, shots) runs, and
//! `hiercog probe report` to aggregate a store over seeds.

use std::path::PathBuf;

use anyhow::bail;
use hiercog_features::Preprocess;
use hiercog_probe::{HyperParams, KnnParams, PathEnd, ProgressEvent, ProtocolConfig, SolverKind};
use hiercog_run::sweep::{
    fingerprint_pair, shots_label, stored_probe_runs, summary_table, ProbePlan, ProbeSweep,
    StoreRecords, SweepEvent,
};
use hiercog_store::ResultsStore;
use hiercog_taxonomy::DistanceConvention;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use super::common::{with_flag_hint, TaxonomySource};

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

#[derive(clap::Args)]
struct RunArgs {
    /// Training features (.npy pair/.npz, safetensors with X/Y, or the reference's X_Y.pth).
    #[arg(long, value_name = "PATH")]
    train: Option<PathBuf>,
    /// Test features, same format rules.
    #[arg(long, value_name = "PATH")]
    test: Option<PathBuf>,
    /// Solver: fast (L-BFGS on a warm-started regularisation path) or sgd (the reference
    /// protocol: SGD, 30 random-search trials x 100 epochs).
    #[arg(long, default_value = "fast", value_name = "fast|sgd")]
    solver: SolverKind,
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
    /// Class-distance convention of the hierarchical metrics (computed when class names are wnids):
    /// lca (height of the lowest common ancestor among the classes' hierarchy) or padded (LCA
    /// height with every class padded to the deepest one, as in making-better-mistakes' files).
    #[arg(long, default_value = "lca", value_name = "lca|padded")]
    distance: DistanceConvention,
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
    .map_err(|e| with_flag_hint(e, flag_for))
}

/// The flag of `hiercog probe` that fixes a protocol error.
fn flag_for(e: &hiercog_probe::Error) -> Option<&'static str> {
    match e {
        hiercog_probe::Error::TooFewSamples { .. } => Some("--allow-fewer keeps such classes"),
        _ => None,
    }
}

fn protocol_config(a: &RunArgs) -> anyhow::Result<ProtocolConfig> {
    let mut cfg = ProtocolConfig {
        solver: a.solver,
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

fn run_probe(a: &RunArgs) -> anyhow::Result<()> {
    let (Some(train), Some(test)) = (&a.train, &a.test) else {
        bail!("give --train and --test feature files (or use `hiercog probe report --store FILE`)");
    };
    let cfg = protocol_config(a)?;
    let seeds = seeds(a)?;
    let plan = ProbePlan {
        protocol: cfg.clone(),
        few_shot_knn: true,
        knn_retrieval_seed: seeds.first().copied(),
        preprocess: a.preprocess,
        reduce: None,
        shots: if a.shots.is_empty() {
            vec![None]
        } else {
            a.shots.iter().map(|&s| Some(s)).collect()
        },
        seeds,
        distance: a.distance,
        hierarchy: Vec::new(),
    };
    let records = StoreRecords::open(a.store.as_deref(), train, test, a.preprocess)?;
    let sweep = ProbeSweep {
        train,
        test,
        fingerprints: fingerprint_pair(train, test)?,
        plan: &plan,
        records: &records,
        taxonomy: &|| a.taxonomy.source().load(),
        reducer: None,
    };
    let runs = plan.runs();
    let bar = std::cell::RefCell::new(None::<ProgressBar>);
    let results = sweep.run(&|event| match event {
        SweepEvent::Reused { run, runs: n, .. } => {
            let (shots, seed) = runs[run];
            eprintln!(
                "[{}/{n}] seed {seed} shots {} already in the store: skipped",
                run + 1,
                shots_label(shots)
            );
        }
        SweepEvent::Loaded {
            named_classes,
            hierarchical,
            ..
        } => {
            if named_classes && !hierarchical {
                eprintln!("note: class names are not all concepts of the taxonomy; hierarchical metrics skipped");
            }
        }
        SweepEvent::Started {
            run,
            runs: n,
            shots,
            seed,
        } => {
            *bar.borrow_mut() = Some(progress_bar(format!(
                "[{}/{n}] seed {seed} shots {}",
                run + 1,
                shots_label(shots)
            )))
        }
        SweepEvent::Protocol(ev) => {
            if let Some(pb) = bar.borrow().as_ref() {
                on_progress(pb, ev)
            }
        }
        SweepEvent::Finished { run, runs: n, result } => {
            if let Some(pb) = bar.borrow_mut().take() {
                pb.finish_and_clear();
            }
            let r = result;
            eprintln!(
                "[{}/{n}] seed {} shots {}: top-1 {:.2} top-5 {:.2} ({:.1} s)",
                run + 1,
                r.seed,
                shots_label(r.shots),
                r.test.top1,
                r.test.top5,
                r.wall_seconds
            );
            if let (Some(end), HyperParams::Fast { l2 }) = (r.lambda_at_path_end(), &r.chosen) {
                let (side, hi, lo) = match end {
                    PathEnd::Smallest => ("smallest", cfg.fast.l2_max, cfg.fast.l2_min * 1e-3),
                    PathEnd::Largest => ("largest", cfg.fast.l2_max * 1e3, cfg.fast.l2_min),
                };
                eprintln!(
                    "  note: the chosen λ={l2:.1e} is the {side} on the path, so the best may lie \
                     beyond it; widen the range, e.g. --l2-range {hi:.0e},{lo:.0e}"
                );
            }
        }
    })?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        println!("{}", summary_table(&results, None).to_markdown());
    }
    Ok(())
}

fn report(a: &ReportArgs) -> anyhow::Result<()> {
    if !a.store.exists() {
        bail!(
            "no results store at {} (write one with `hiercog probe --store FILE`)",
            a.store.display()
        );
    }
    let groups = stored_probe_runs(&ResultsStore::open(&a.store)?)?;
    if groups.is_empty() {
        bail!("{} holds no probe runs yet", a.store.display());
    }
    let mut out = Vec::new();
    for (name, runs) in &groups {
        let table = summary_table(runs, Some(name));
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
