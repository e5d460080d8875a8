//! `hiercog run`, `hiercog report`, `hiercog plan`: the pipeline of `hiercog-run`, with progress bars.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hiercog_probe::SolverKind;
use hiercog_reduce::Reduction;
use hiercog_run::estimate::{estimate_tables, EstimateOptions};
use hiercog_run::report::{cog_table, compare, load};
use hiercog_run::slurm::{missing_tasks, write_plan, write_resubmit, SlurmOptions, PLAN_CONFIG};

use super::common::StageSelection;
use hiercog_run::{ImageSource, LevelSource, Observer, Pipeline, RunConfig, Task};
use indicatif::{ProgressBar, ProgressStyle};

/// Run the whole CoG evaluation of one backbone.
///
/// With no arguments: the built-in default — a SYNTHETIC hierarchical image set of 152 real WordNet
/// concepts (hiercog renders it), seen concepts and 5 levels of unseen concepts ranked by Lin
/// similarity on the embedded WordNet, features by the ImageNet-pretrained EfficientNet-Lite0, and
/// the probe protocol (all data + few-shot, 3 seeds). Timing: README, "The default run, measured".
///
/// Real ImageNet-CoG:
///   hiercog run --profile imagenet-cog --images-root /data/imagenet21k --in1k-root /data/imagenet \
///       --model resnet50 --weights resnet50.pth --device cuda
/// or with the official level files: add --official-levels cog_levels_mapping_file.pkl
/// --official-splits cog_concepts_split_file.pkl.
///
/// Everything is cached in the run directory: re-running after an interruption redoes nothing
/// finished (--fresh starts over). `--print-config > run.toml` writes the effective config to edit
/// and pass back with --config.
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct RunArgs {
    /// A TOML run config (see --print-config); default: the built-in default run.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Start from a built-in profile: `default` (synthetic, minutes on a laptop) or `imagenet-cog`
    /// (the full benchmark: IN-1K seen, IN-21K pool, 5 × 1,000 concepts, shots 1..128, 5 seeds).
    #[arg(long, value_name = "NAME", conflicts_with = "config")]
    profile: Option<String>,
    /// Print the effective config (TOML) and exit.
    #[arg(long)]
    print_config: bool,
    /// Delete the run directory and start over.
    #[arg(long, conflicts_with = "resume")]
    fresh: bool,
    /// Reuse everything finished in the run directory (the default; the flag only says so).
    #[arg(long)]
    resume: bool,
    /// Run directory (config: run_dir).
    #[arg(long, value_name = "DIR")]
    run_dir: Option<PathBuf>,
    /// Backbone (config: model.name); `hiercog models list` shows them. Or the model directory
    /// of a backbone trained by hiercog, e.g. OUT/model of `hiercog pretrain moco`.
    #[arg(long)]
    model: Option<String>,
    /// Checkpoint of the backbone (.pth or .safetensors); default: the model's built-in weights.
    #[arg(long, value_name = "FILE")]
    weights: Option<PathBuf>,
    /// The part of the checkpoint that holds the backbone, e.g. `encoder_q.` (MoCo) or
    /// `teacher.` (DINO) (config: model.weights_prefix); default: found from the keys.
    #[arg(long, value_name = "P")]
    weights_prefix: Option<String>,
    /// `cpu` or `cuda` (a build with `--features cuda`).
    #[arg(long)]
    device: Option<String>,
    /// Images per forward pass.
    #[arg(long)]
    batch: Option<usize>,
    /// Real images of the unseen concepts, one folder per wnid (ImageNet-21K layout, `root/<wnid>/*`).
    #[arg(long, value_name = "DIR")]
    images_root: Option<PathBuf>,
    /// Real images of the seen concepts: an ImageNet-1K folder with `train/<wnid>/` and `val/<wnid>/`.
    #[arg(long, value_name = "DIR")]
    in1k_root: Option<PathBuf>,
    /// Official ImageNet-CoG levels (`cog_levels_mapping_file.pkl`) instead of building them.
    #[arg(long, value_name = "PKL")]
    official_levels: Option<PathBuf>,
    /// Official image splits (`cog_concepts_split_file.pkl`), with --official-levels.
    #[arg(long, value_name = "PKL", requires = "official_levels")]
    official_splits: Option<PathBuf>,
    /// An existing benchmark directory (`hiercog cog build` output) instead of building levels.
    #[arg(long, value_name = "DIR", conflicts_with = "official_levels")]
    levels_dir: Option<PathBuf>,
    /// Probe solver: `fast` (hiercog's) or `sgd` (the reference protocol).
    #[arg(long)]
    solver: Option<SolverKind>,
    /// Few-shot sizes, e.g. 1,2,4,8 (an empty list runs all-data only).
    #[arg(long, value_delimiter = ',', num_args = 0..)]
    shots: Option<Vec<usize>>,
    /// Probe seeds, e.g. 22,37,45,77,93.
    #[arg(long, value_delimiter = ',')]
    seeds: Option<Vec<u64>>,
    /// Reduce the features before probing (config: probe.reduce): `tldr:128`, `pca:64`,
    /// `pca-whiten:128`, with options such as `tldr:128,epochs=20`; fitted on the seen set's
    /// train features only. Changing it re-probes without re-extracting.
    #[arg(long, value_name = "SPEC")]
    reduce: Option<Reduction>,
    #[command(flatten)]
    tasks: StageSelection,
}

impl RunArgs {
    fn config(&self) -> anyhow::Result<(RunConfig, Option<PathBuf>)> {
        let mut cfg = match (&self.config, self.profile.as_deref()) {
            (Some(path), _) => RunConfig::load(path)?,
            (None, profile) => RunConfig::profile(profile.unwrap_or("default"))?,
        };
        let set = |v: &Option<String>, f: &mut String| {
            if let Some(v) = v {
                f.clone_from(v);
            }
        };
        if let Some(d) = &self.run_dir {
            cfg.run_dir = d.clone();
        }
        set(&self.model, &mut cfg.model.name);
        set(&self.device, &mut cfg.model.device);
        if let Some(s) = self.solver {
            cfg.probe.solver = s;
        }
        if let Some(w) = &self.weights {
            cfg.model.weights = Some(w.clone());
        }
        if let Some(p) = &self.weights_prefix {
            cfg.model.weights_prefix = Some(p.clone());
        }
        if let Some(b) = self.batch {
            cfg.model.batch = b;
        }
        if let Some(root) = &self.images_root {
            cfg.images.source = ImageSource::Folders;
            cfg.images.root = Some(root.clone());
        }
        if let Some(root) = &self.in1k_root {
            cfg.images.seen_root = Some(root.clone());
        }
        if let Some(pkl) = &self.official_levels {
            cfg.levels.source = LevelSource::Official;
            cfg.levels.official_levels_pkl = Some(pkl.clone());
            cfg.levels.official_split_pkl = self.official_splits.clone();
        }
        if let Some(dir) = &self.levels_dir {
            cfg.levels.source = LevelSource::Dir;
            cfg.levels.dir = Some(dir.clone());
        }
        if let Some(s) = &self.shots {
            cfg.probe.shots = s.clone();
        }
        if let Some(s) = &self.seeds {
            cfg.probe.seeds = s.clone();
        }
        if let Some(r) = &self.reduce {
            cfg.probe.reduce = Some(r.clone());
        }
        Ok((cfg, self.config.clone()))
    }
}

/// Progress bars and lines on stderr, plus wall time per stage.
pub(crate) struct Terminal {
    bar: Mutex<Option<ProgressBar>>,
    stage_times: Mutex<Vec<(String, Duration)>>,
}

impl Terminal {
    pub(crate) fn new() -> Self {
        Terminal {
            bar: Mutex::new(None),
            stage_times: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn finish_bar(&self) {
        if let Some(bar) = self.bar.lock().unwrap().take() {
            bar.finish_and_clear();
        }
    }

    fn add_time(&self, stage: &str, d: Duration) {
        let mut t = self.stage_times.lock().unwrap();
        match t.iter_mut().find(|(s, _)| s == stage) {
            Some((_, total)) => *total += d,
            None => t.push((stage.to_string(), d)),
        }
    }
}

impl Terminal {
    /// Runs one task, adding its wall time to its stage's and, on failure, its label and how to
    /// resume to the error.
    pub(crate) fn timed<T>(
        &self,
        stage: &str,
        label: &str,
        task: impl FnOnce() -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let t0 = Instant::now();
        let out = task()
            .with_context(|| format!("{label} failed (re-run the same command to resume)"))?;
        self.add_time(stage, t0.elapsed());
        Ok(out)
    }

    /// Prints the wall time of each stage and the total since `started` on stderr.
    pub(crate) fn print_times(&self, started: Instant) {
        let times = self.stage_times.lock().unwrap();
        let line: Vec<String> = times
            .iter()
            .map(|(s, d)| format!("{s} {:.1} s", d.as_secs_f64()))
            .collect();
        eprintln!(
            "time per stage: {} (total {:.1} s)",
            line.join(", "),
            started.elapsed().as_secs_f64()
        );
    }
}

impl Observer for Terminal {
    fn task(&self, label: &str, detail: &str) {
        self.finish_bar();
        eprintln!("▸ {label}: {detail}");
    }

    fn progress(&self, what: &str, done: usize, total: usize) {
        let mut slot = self.bar.lock().unwrap();
        let bar = slot.get_or_insert_with(|| {
            let b = ProgressBar::new(total as u64);
            b.set_style(
                ProgressStyle::with_template("  {bar:40.cyan/blue} {pos}/{len} {msg} [{elapsed_precise}, ETA {eta}, {per_sec}]")
                    .expect("valid template"),
            );
            b
        });
        bar.set_length(total as u64);
        bar.set_position(done as u64);
        bar.set_message(what.to_string());
    }

    fn note(&self, message: &str) {
        // A hidden bar (stderr is not a terminal: logs, cluster jobs) would swallow the line.
        match self.bar.lock().unwrap().as_ref() {
            Some(bar) if !bar.is_hidden() => bar.println(format!("  · {message}")),
            _ => eprintln!("  · {message}"),
        }
    }
}

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let (cfg, config_path) = args.config()?;
    if args.print_config {
        print!("{}", cfg.to_toml());
        return Ok(());
    }
    if args.fresh {
        let root = &cfg.run_dir;
        if root.exists() {
            // Only ever delete a run directory, never a folder that merely has its name.
            if !root.join("run.toml").is_file() && std::fs::read_dir(root)?.next().is_some() {
                bail!(
                    "--fresh: {} is not a hiercog run directory (no run.toml); not deleting it",
                    root.display()
                );
            }
            std::fs::remove_dir_all(root)
                .with_context(|| format!("cannot delete {}", root.display()))?;
        }
    }
    let pipeline = Pipeline::new(cfg)?;
    const STAGES: [&str; 4] = ["prepare", "extract", "probe", "report"];
    if args.tasks.list_tasks {
        StageSelection::list(&pipeline.tasks()?, &STAGES, |t| t.stage(), Task::label);
        return Ok(());
    }
    let term = Terminal::new();
    let tasks = args
        .tasks
        .select(pipeline.tasks()?, &STAGES, |t| t.stage())?;
    if tasks.iter().any(|t| t.stage() == "extract") {
        pipeline
            .check_model(&term)
            .context("the backbone cannot be loaded")?;
    }
    let started = Instant::now();
    for task in &tasks {
        term.timed(task.stage(), &task.label(), || {
            Ok(pipeline.run_task(task, args.tasks.result_files, &term)?)
        })?;
    }
    term.finish_bar();
    if tasks.contains(&Task::Report) {
        let report = hiercog_run::report::load(pipeline.dir().root())?;
        println!("\n{}", cog_table(&report).to_terminal());
        if report.synthetic {
            println!("(SYNTHETIC images: these numbers test the pipeline, not ImageNet-CoG.)");
        }
        println!("{}", report.machines_line());
        if let Some(note) = report.path_end_note() {
            println!("note: {note}");
        }
        println!(
            "report: {}",
            pipeline.dir().report().join("report.md").display()
        );
    }
    term.print_times(started);
    if let Some(p) = config_path {
        eprintln!("config: {}", p.display());
    }
    Ok(())
}

/// Show the report of finished runs; with several run directories, compare them side by side.
///
///   hiercog report runs/default                 # the CoG table of one run (regenerates its report)
///   hiercog report runs/effnet runs/resnet50    # one column per backbone
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct ReportArgs {
    /// Run directories (each holds run.toml and results).
    #[arg(required = true, value_name = "RUN_DIR")]
    run_dirs: Vec<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run_report(args: ReportArgs) -> anyhow::Result<()> {
    let mut reports = Vec::new();
    for dir in &args.run_dirs {
        let config = dir.join("run.toml");
        if config.is_file() {
            // Regenerate from the results (merging per-task files of cluster runs).
            let cfg = RunConfig::load(&config)?;
            let p = Pipeline::new(cfg)?;
            p.write_report(&hiercog_run::Silent)?;
        }
        reports.push((dir.display().to_string(), load(dir)?));
    }
    if args.json {
        let v: Vec<_> = reports
            .iter()
            .map(|(d, r)| serde_json::json!({"run_dir": d, "report": r}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else if let [(_, r)] = &reports[..] {
        println!("{}", cog_table(r).to_terminal());
    } else {
        println!("{}", compare(&reports).to_terminal());
    }
    Ok(())
}

/// Write a Slurm job array that runs a configured evaluation on a cluster.
///
///   hiercog run --profile imagenet-cog --images-root /data/in21k --in1k-root /data/in1k --print-config > cog.toml
///   hiercog plan --cluster slurm cog.toml --out plan/ --gpus 1 --partition gpu --time 04:00:00
///   plan/submit.sh
///
/// Jobs: prepare (levels, image lists) → extract (array: one task per dataset × split, on GPUs) →
/// probe (array: one task per dataset × shots × seed, on CPUs; each writes its own result file) →
/// report. Relative paths in the config are relative to the config file; the plan keeps its own
/// copy with absolute paths (plan/run.toml). If a task fails, the jobs after it stay pending
/// (cancel them with scancel) and
///
///   hiercog plan --resubmit-missing plan/
///
/// submits the tasks without output and everything after them.
///
///   hiercog plan --estimate cog.toml [--json] [--gpu-img-per-s 2000]
///
/// writes nothing and prints what the run will cost: per dataset and per stage, CPU core-hours
/// (probes: a cost model fitted to measured runs of the protocol; extraction: the backbone's
/// measured CPU throughput; GPU-hours only from a GPU throughput you give) and peak memory of a
/// task. README, "Performance": how the model was fitted and its error on held-out shapes.
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct PlanArgs {
    /// The cluster scheduler (only `slurm` for now).
    #[arg(long, default_value = "slurm")]
    cluster: String,
    /// The run config (TOML) the jobs execute.
    #[arg(
        value_name = "RUN_CONFIG",
        required_unless_present = "resubmit_missing"
    )]
    config: Option<PathBuf>,
    /// Resubmit the tasks of the plan in DIR that have no output, and every stage after them.
    #[arg(long, value_name = "PLAN_DIR", conflicts_with = "config")]
    resubmit_missing: Option<PathBuf>,
    /// Print the expected core-hours and peak memory of each stage of the run instead of
    /// writing a plan.
    #[arg(long, conflicts_with = "resubmit_missing")]
    estimate: bool,
    /// With --estimate: JSON instead of tables.
    #[arg(long, requires = "estimate")]
    json: bool,
    /// With --estimate: images per second of one GPU running the backbone (GPU-hours of the
    /// extraction; GPU throughput is not measured by hiercog).
    #[arg(long, value_name = "IMG_PER_S", requires = "estimate")]
    gpu_img_per_s: Option<f64>,
    /// Where to write the scripts.
    #[arg(long, value_name = "DIR", default_value = "plan")]
    out: PathBuf,
    /// GPUs per extraction task (0: a CPU plan, extraction on CPUs).
    #[arg(long, default_value_t = 1)]
    gpus: usize,
    /// Wall-time limit per job.
    #[arg(long, default_value = "04:00:00")]
    time: String,
    /// Slurm partition of the prepare, extract and report jobs.
    #[arg(long)]
    partition: Option<String>,
    /// CPUs per prepare, extract and report task.
    #[arg(long, default_value_t = 8)]
    cpus: usize,
    /// Memory per prepare, extract and report task (e.g. 32G).
    #[arg(long)]
    mem: Option<String>,
    /// Slurm partition of the probe tasks (CPU work); default: --partition.
    #[arg(long)]
    probe_partition: Option<String>,
    /// CPUs per probe task.
    #[arg(long, default_value_t = 8)]
    probe_cpus: usize,
    /// Memory per probe task (e.g. 64G); default: estimated from the largest feature set.
    #[arg(long)]
    probe_mem: Option<String>,
    /// Extra #SBATCH option, repeatable (e.g. --sbatch=--account=myproject).
    #[arg(long = "sbatch", value_name = "OPTION")]
    extra: Vec<String>,
}

/// The command that builds hiercog with CUDA, for plans that extract on GPUs.
const CUDA_BUILD: &str = "cargo build --release -p hiercog --features cuda";

pub fn run_plan(args: PlanArgs) -> anyhow::Result<()> {
    if args.cluster != "slurm" {
        bail!(
            "unknown cluster {:?}: hiercog plans for slurm",
            args.cluster
        );
    }
    if let Some(plan_dir) = &args.resubmit_missing {
        return resubmit(plan_dir);
    }
    let config = args.config.as_ref().expect("clap requires it");
    if args.estimate {
        return estimate(config, args.json, args.gpu_img_per_s);
    }
    if args.gpus > 0 && !cfg!(feature = "cuda") {
        bail!(
            "--gpus {}: this hiercog was built without CUDA, so its jobs cannot use GPUs. Build it \
             with `{CUDA_BUILD}` on a machine with the CUDA toolkit, or pass --gpus 0 for a plan \
             that extracts on CPUs",
            args.gpus
        );
    }
    let pipeline = Pipeline::new(RunConfig::load(config)?)?;
    let hiercog = std::env::current_exe().context("cannot locate the hiercog executable")?;
    let opts = SlurmOptions {
        gpus: args.gpus,
        time: args.time,
        partition: args.partition,
        cpus: args.cpus,
        mem: args.mem,
        probe_partition: args.probe_partition,
        probe_cpus: args.probe_cpus,
        probe_mem: args.probe_mem,
        hiercog,
        extra: args.extra,
    };
    let plan = write_plan(&pipeline, &args.out, &opts)?;
    println!(
        "wrote {}: prepare, extract[{}], probe[{}] ({} each), report; run dir {}; submit with {}",
        plan.dir.display(),
        plan.extract_tasks,
        plan.probe_tasks,
        plan.probe_mem,
        pipeline.dir().root().display(),
        plan.dir.join("submit.sh").display()
    );
    Ok(())
}

/// `hiercog plan --estimate RUN_CONFIG`.
fn estimate(
    config: &std::path::Path,
    json: bool,
    gpu_img_per_s: Option<f64>,
) -> anyhow::Result<()> {
    let pipeline = Pipeline::new(RunConfig::load(config)?)?;
    let e = hiercog_run::estimate::estimate(&pipeline, &EstimateOptions { gpu_img_per_s })
        .with_context(|| match gpu_img_per_s {
            Some(g) => format!("cannot estimate {} (--gpu-img-per-s {g})", config.display()),
            None => format!("cannot estimate {}", config.display()),
        })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&e)?);
        return Ok(());
    }
    for table in estimate_tables(&e) {
        println!("{}\n", table.to_terminal());
    }
    println!(
        "Core-hours are CPU time of one thread per task (several threads per task add their \
         overhead); images and probe sizes are upper bounds (train_per_concept and \
         test_per_concept images for every concept)."
    );
    for line in e
        .cost_model
        .iter()
        .filter(|l| l.starts_with("Error") || l.starts_with("largest"))
    {
        println!("probe cost model: {line}");
    }
    Ok(())
}

/// `hiercog plan --resubmit-missing PLAN_DIR`.
fn resubmit(plan_dir: &std::path::Path) -> anyhow::Result<()> {
    let config = plan_dir.join(PLAN_CONFIG);
    let pipeline = Pipeline::new(
        RunConfig::load(&config)
            .with_context(|| format!("{} is not a plan directory", plan_dir.display()))?,
    )?;
    let missing = missing_tasks(&pipeline)?;
    if missing.is_empty() {
        println!(
            "nothing to resubmit: every task of {} has its output",
            plan_dir.display()
        );
        return Ok(());
    }
    let script = write_resubmit(plan_dir, &missing)?;
    println!(
        "missing: {}extract {:?}, probe {:?}{}",
        if missing.prepare { "prepare, " } else { "" },
        missing.extract,
        missing.probe,
        if missing.report { ", report" } else { "" }
    );
    let status = std::process::Command::new("bash")
        .arg(&script)
        .status()
        .with_context(|| format!("cannot run {}", script.display()))?;
    if !status.success() {
        bail!("{} failed ({status})", script.display());
    }
    Ok(())
}
