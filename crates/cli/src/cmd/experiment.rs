//! `hiercog experiment hierarchy`: the experiment of `hiercog-experiment` over a `hiercog run`
//! pipeline, with progress bars and the table.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use hiercog_experiment::{Depth, Experiment, ExperimentConfig, OptimizerChoice, Recipe, Task};
use hiercog_run::{Pipeline, RunConfig};

use super::common::StageSelection;
use super::run::Terminal;

/// Experiments that train representations and measure their concept generalisation.
#[derive(clap::Args)]
pub struct ExperimentArgs {
    #[command(subcommand)]
    command: ExperimentCommand,
}

#[derive(clap::Subcommand)]
enum ExperimentCommand {
    /// Does training with the label hierarchy help unseen concepts? One representation per
    /// recipe and seed, trained on the seen concepts, probed on the seen set and every level.
    Hierarchy(HierarchyArgs),
}

/// Train one representation per recipe and seed on the seen concepts of a CoG run, probe each on
/// the seen set and every level of unseen concepts, and write one table: rows = recipes, columns =
/// seen top-1, mistake severity, hdist@5 and L1…Lk top-1 (mean ± std over seeds), each recipe
/// compared with cross-entropy seed by seed, plus few-shot curves per level.
///
///   hiercog experiment hierarchy                          # the default run, depth (a), 5 recipes × 3 seeds
///   hiercog experiment hierarchy --recipe ce,hxe:0.1,hxe:0.5,soft:10,trex --seeds 22,37,45
///   hiercog experiment hierarchy --depth small-resnet     # whole-backbone training from images
///   hiercog experiment hierarchy --recipe ce,moco,mochi,mochi-lca   # self-supervised beside ce
///
/// Recipes: ce, ce:ε (label smoothing), hxe:α (the reference code's HXE), hxe-paper:α, soft:β
/// (soft labels, KL), soft-ce:β, trex (t-ReX with cross-entropy), trex+LOSS.
/// Self-supervised (the labels unused but by the -lca recipes): moco (MoCo-v2), mochi[:N:s:s′]
/// (MoCHi hard-negative mixing; default N = K/16, s = 2N, s′ = N: 64,128,64 at the CPU queue of
/// 1,024), moco-lca and mochi-lca[:N:s:s′] (same-class negatives dropped, MoCHi's partners drawn
/// by LCA height: the hierarchy). At depth (a) they train the same MLP trunk on the frozen
/// features, query and key two distinct stored MoCo-v2 views of an image (views.moco of them);
/// at depth (b) they pre-train the backbone as `hiercog pretrain moco` does. A -lca recipe is
/// also compared with the same recipe without the hierarchy when both are listed.
/// Depths: last-layers (an MLP trunk on the frozen backbone's features; default, cheap on a CPU),
/// small-resnet (a ResNet-18 of width 16 from 64 px images), resnet50 (the GPU recipe).
///
/// The CoG run is done first if it is not (the same as `hiercog run` with the same config).
/// Everything is cached: re-running after an interruption redoes nothing finished.
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct HierarchyArgs {
    /// The CoG run's config (TOML, see `hiercog run --print-config`); default: the built-in
    /// default run (or RUN_DIR/run.toml with --run-dir).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The CoG run's directory (config: run_dir).
    #[arg(long, value_name = "DIR")]
    run_dir: Option<PathBuf>,
    /// The experiment's config (TOML, see --print-config); flags below override it.
    #[arg(long, value_name = "FILE")]
    experiment_config: Option<PathBuf>,
    /// Recipes, comma-separated, e.g. ce,hxe:0.1,hxe:0.5,soft:10,trex,mochi:256:512:256
    /// (MoCHi's numbers may also be given with commas: mochi:256,512,256).
    #[arg(long, value_delimiter = ',', value_name = "RECIPES")]
    recipe: Option<Vec<String>>,
    /// Training seeds, e.g. 22,37,45 (≥ 3 to judge seed noise).
    #[arg(long, value_delimiter = ',')]
    seeds: Option<Vec<u64>>,
    /// What is trained: last-layers, small-resnet or resnet50.
    #[arg(long)]
    depth: Option<String>,
    /// Training epochs (default: the depth's preset).
    #[arg(long)]
    epochs: Option<usize>,
    /// The optimizer: adamw (default; its steps do not depend on the loss's scale) or preset (the
    /// depth's SGD).
    #[arg(long)]
    optimizer: Option<String>,
    /// Peak learning rate (default: 1e-3 with AdamW, the preset's with --optimizer preset).
    #[arg(long)]
    lr: Option<f64>,
    /// `cpu` or `cuda` (a build with `--features cuda`).
    #[arg(long)]
    device: Option<String>,
    /// The experiment directory (default: RUN_DIR/experiments/hierarchy-DEPTH).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print the effective experiment config (TOML) and exit.
    #[arg(long)]
    print_config: bool,
    /// Delete the experiment directory (not the CoG run) and start over.
    #[arg(long)]
    fresh: bool,
    #[command(flatten)]
    tasks: StageSelection,
    /// Write the experiment as Slurm jobs into DIR (views → train[recipes × seeds] → report;
    /// `DIR/submit.sh [JOB_ID]` submits them after the CoG run's job) and exit.
    #[arg(long, value_name = "DIR")]
    slurm_plan: Option<PathBuf>,
    /// With --slurm-plan: GPUs per training task (0: train on CPUs).
    #[arg(long, default_value_t = 1)]
    gpus: usize,
    /// With --slurm-plan: wall-time limit per job.
    #[arg(long, default_value = "24:00:00")]
    time: String,
    /// With --slurm-plan: Slurm partition.
    #[arg(long)]
    partition: Option<String>,
    /// With --slurm-plan: CPUs per task (data loading).
    #[arg(long, default_value_t = 16)]
    cpus: usize,
    /// With --slurm-plan: extra #SBATCH option, repeatable (e.g. --sbatch=--account=myproject).
    #[arg(long = "sbatch", value_name = "OPTION")]
    extra: Vec<String>,
}

impl HierarchyArgs {
    fn run_config(&self) -> anyhow::Result<RunConfig> {
        let in_dir = self.run_dir.as_ref().map(|d| d.join("run.toml"));
        let mut cfg = match (&self.config, in_dir) {
            (Some(path), _) => RunConfig::load(path)?,
            (None, Some(path)) if path.is_file() => RunConfig::load(&path)?,
            _ => RunConfig::default(),
        };
        if let Some(d) = &self.run_dir {
            cfg.run_dir = d.clone();
        }
        Ok(cfg)
    }

    fn experiment_config(&self) -> anyhow::Result<ExperimentConfig> {
        let mut cfg = match &self.experiment_config {
            Some(path) => ExperimentConfig::load(path)?,
            None => ExperimentConfig::default(),
        };
        if let Some(list) = &self.recipe {
            cfg.recipes = rejoin_numbers(list)
                .iter()
                .map(|r| r.parse::<Recipe>())
                .collect::<Result<_, _>>()
                .context("--recipe")?;
        }
        if let Some(s) = &self.seeds {
            cfg.seeds = s.clone();
        }
        if let Some(d) = &self.depth {
            cfg.depth = d.parse::<Depth>().context("--depth")?;
        }
        if let Some(e) = self.epochs {
            cfg.epochs = Some(e);
        }
        if let Some(o) = &self.optimizer {
            cfg.optimizer = match o.as_str() {
                "adamw" => OptimizerChoice::Adamw,
                "preset" => OptimizerChoice::Preset,
                other => bail!("--optimizer: unknown optimizer {other:?}; use adamw or preset"),
            };
        }
        if self.lr.is_some() {
            cfg.lr = self.lr;
        }
        if let Some(d) = &self.device {
            cfg.device.clone_from(d);
        }
        cfg.validate()?;
        Ok(cfg)
    }
}

/// The recipes of a comma-split `--recipe` list with the pieces that are bare numbers put back
/// on the recipe before them (`mochi:256`, `512`, `256` → `mochi:256,512,256`).
fn rejoin_numbers(pieces: &[String]) -> Vec<String> {
    let mut recipes: Vec<String> = Vec::new();
    for piece in pieces {
        match recipes.last_mut() {
            Some(last) if piece.trim().parse::<u64>().is_ok() && last.contains(':') => {
                last.push(',');
                last.push_str(piece.trim());
            }
            _ => recipes.push(piece.clone()),
        }
    }
    recipes
}

/// Writes the configs the jobs read and the Slurm scripts into `plan_dir`.
fn write_slurm_plan(
    args: &HierarchyArgs,
    cfg: &ExperimentConfig,
    run_cfg: &RunConfig,
    out: &std::path::Path,
    plan_dir: &std::path::Path,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(plan_dir)
        .with_context(|| format!("cannot create {}", plan_dir.display()))?;
    let absolute = |p: &std::path::Path| {
        std::path::absolute(p).with_context(|| format!("cannot resolve {}", p.display()))
    };
    let run_config = match &args.config {
        Some(p) => absolute(p)?,
        None => {
            let p = absolute(&plan_dir.join("run.toml"))?;
            hiercog_io::write_atomic(&p, run_cfg.to_toml().as_bytes())?;
            p
        }
    };
    let experiment_config = absolute(&plan_dir.join("experiment.toml"))?;
    hiercog_io::write_atomic(&experiment_config, cfg.to_toml().as_bytes())?;
    let opts = hiercog_run::slurm::SlurmOptions {
        gpus: args.gpus,
        time: args.time.clone(),
        partition: args.partition.clone(),
        cpus: args.cpus,
        // The experiment's train tasks probe their own representation: no separate probe jobs.
        mem: None,
        probe_partition: None,
        probe_cpus: args.cpus,
        probe_mem: None,
        hiercog: std::env::current_exe().context("cannot locate the hiercog executable")?,
        extra: args.extra.clone(),
    };
    let plan = hiercog_experiment::slurm::write_plan(
        cfg,
        &run_config,
        &experiment_config,
        &absolute(out)?,
        plan_dir,
        &opts,
    )?;
    println!(
        "wrote {} (train array: {} tasks = {} recipes x {} seeds); submit with {} [JOB_ID of the CoG run's report job]",
        plan.dir.display(),
        plan.train_tasks,
        cfg.recipes.len(),
        cfg.seeds.len(),
        plan.dir.join("submit.sh").display()
    );
    Ok(())
}

pub fn run(args: ExperimentArgs) -> anyhow::Result<()> {
    match args.command {
        ExperimentCommand::Hierarchy(a) => hierarchy(a),
    }
}

fn hierarchy(args: HierarchyArgs) -> anyhow::Result<()> {
    let cfg = args.experiment_config()?;
    if args.print_config {
        print!("{}", cfg.to_toml());
        return Ok(());
    }
    let run_cfg = args.run_config()?;
    let out = args.out.clone().unwrap_or_else(|| {
        run_cfg
            .run_dir
            .join("experiments")
            .join(format!("hierarchy-{}", cfg.depth))
    });
    if args.fresh && out.exists() {
        // Only ever delete an experiment directory.
        if !out.join("experiment.toml").is_file() && std::fs::read_dir(&out)?.next().is_some() {
            bail!(
                "--fresh: {} is not a hiercog experiment directory (no experiment.toml); not deleting it",
                out.display()
            );
        }
        std::fs::remove_dir_all(&out)
            .with_context(|| format!("cannot delete {}", out.display()))?;
    }
    if let Some(plan_dir) = &args.slurm_plan {
        return write_slurm_plan(&args, &cfg, &run_cfg, &out, plan_dir);
    }
    let term = Terminal::new();
    let started = Instant::now();
    let pipeline = Pipeline::new(run_cfg)?;
    if args.tasks.stage.is_none() && !args.tasks.list_tasks {
        // The CoG run first (what is finished is skipped): its features and its own table.
        for task in pipeline.tasks()? {
            term.timed(task.stage(), &format!("CoG run: {}", task.label()), || {
                Ok(pipeline.run_task(&task, false, &term)?)
            })?;
        }
        term.finish_bar();
        let cog = hiercog_run::report::load(pipeline.dir().root())?;
        println!(
            "\nThe frozen backbone (CoG run, {}):\n{}",
            pipeline.dir().report().join("report.md").display(),
            hiercog_run::report::cog_table(&cog).to_terminal()
        );
    }
    let experiment = Experiment::new(&pipeline, cfg, &out)?;
    const STAGES: [&str; 3] = ["views", "train", "report"];
    if args.tasks.list_tasks {
        StageSelection::list(&experiment.tasks(), &STAGES, |t| t.stage(), Task::label);
        return Ok(());
    }
    let tasks = args
        .tasks
        .select(experiment.tasks(), &STAGES, |t| t.stage())?;
    let mut report = None;
    for task in &tasks {
        term.timed(task.stage(), &task.label(), || {
            match task {
                Task::Report => report = Some(experiment.write_report(&term)?),
                _ => experiment.run_task(task, args.tasks.result_files, &term)?,
            }
            Ok(())
        })?;
    }
    term.finish_bar();
    if let Some(report) = report {
        println!(
            "\n{}",
            hiercog_experiment::summary::table(&report).to_terminal()
        );
        for line in &report.answer {
            println!("- {line}");
        }
        if report.synthetic {
            println!("(SYNTHETIC images: these numbers test the experiment, not ImageNet-CoG.)");
        }
        println!(
            "report: {}",
            out.join("report").join("experiment.md").display()
        );
    }
    term.print_times(started);
    Ok(())
}
