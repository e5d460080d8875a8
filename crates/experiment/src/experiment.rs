//! [`Experiment`]: one representation per (recipe, seed) — trained on the seen concepts, applied
//! to the seen set and every level, probed with the CoG protocol — then one table.
//!
//! Everything lives in the experiment directory (`RUN_DIR/experiments/hierarchy-DEPTH/` by
//! default):
//!
//! ```text
//! experiment.toml                 the effective config
//! views/                          depth (a): the frozen backbone's features of augmented views
//! <recipe>/seed-<s>/train/        the training run (checkpoints, metrics.csv, model/)
//! <recipe>/seed-<s>/features/     the representation of every dataset's train and test split
//! <recipe>/seed-<s>/result.json   the unit's probe results: its commit point
//! results.sqlite, results/        every probe run, recorded as it finishes (the pipeline's store)
//! report/                         experiment.md, .json, .csv and plots
//! ```
//!
//! Each stage checks what is on disk first: training resumes from its last epoch, features and
//! probe runs already there are reused, a unit with a `result.json` is not touched. So a killed
//! experiment resumes without redoing finished work; every file is written atomically.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::Device;
use hiercog_cog::{LabelledImages, Split};
use hiercog_features::{FeatureSet, Format};
use hiercog_losses::{HierarchicalLoss, LabelTree};
use hiercog_nn::trainable::TrainedBackbone;
use hiercog_nn::Preprocess;
use hiercog_run::results::{DatasetRecords, Machine, ProbeRecord, Results};
use hiercog_run::sweep::{fingerprint_pair, ProbePlan, ProbeSweep, SweepEvent};
use hiercog_run::{Observer, RunDir, SEEN};
use hiercog_train::{
    image_features, pretrain, train, transform_features, InfoNce, Progress, RunOptions,
    TrainConfig, TrainSet,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{Depth, ExperimentConfig};
use crate::recipe::Recipe;
use crate::source::CogRun;
use crate::summary::{self, ExperimentReport};
use crate::{Error, Result};

/// One representation: a recipe trained with a seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Unit {
    /// The recipe.
    pub recipe: Recipe,
    /// The training seed (also the seed of its probe runs).
    pub seed: u64,
}

impl Unit {
    /// `hxe:0.1 seed 22`.
    pub fn label(&self) -> String {
        format!("{} seed {}", self.recipe, self.seed)
    }
}

/// One task of an experiment; a Slurm array task runs one.
#[derive(Clone, Debug, PartialEq)]
pub enum Task {
    /// Depth (a): the frozen backbone's features of augmented views of the seen training images.
    Views,
    /// Train, represent and probe one unit.
    Unit(Unit),
    /// The table and plots.
    Report,
}

impl Task {
    /// The stage the task belongs to: `views`, `train` or `report`.
    pub fn stage(&self) -> &'static str {
        match self {
            Task::Views => "views",
            Task::Unit(_) => "train",
            Task::Report => "report",
        }
    }

    /// What the task does, in a few words.
    pub fn label(&self) -> String {
        match self {
            Task::Views => "views of the seen training images".into(),
            Task::Unit(u) => format!("train {}", u.label()),
            Task::Report => "report".into(),
        }
    }
}

/// The finished work of one unit (`result.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UnitResult {
    /// What produced it ([`Experiment::unit_identity`]); a mismatch means another configuration.
    pub identity: String,
    /// The unit.
    pub unit: Unit,
    /// Training wall time, all epochs (also those of interrupted sessions).
    pub train_seconds: f64,
    /// Mean training loss and top-1 (%) of the last epoch.
    pub train_loss: f64,
    /// Training top-1 (%) of the last epoch.
    pub train_top1: f64,
    /// Seconds spent making the representation of every split.
    pub represent_seconds: f64,
    /// Probe seconds (all runs of the unit).
    pub probe_seconds: f64,
    /// Every probe run: per dataset, all data and every shot count, with the unit's seed.
    pub probes: Vec<ProbeRecord>,
}

const RESULT_FILE: &str = "result.json";

/// An experiment over a CoG run.
pub struct Experiment<'a> {
    run: &'a dyn CogRun,
    cfg: ExperimentConfig,
    dir: PathBuf,
    device: Device,
    tree: LabelTree,
    seen: LabelledImages,
    datasets: Vec<String>,
}

impl<'a> Experiment<'a> {
    /// An experiment of `cfg` over `run` in `dir`. Checks now what can be checked before any
    /// training: the recipes and seeds, the device, and the label tree of the seen concepts
    /// (every label in the taxonomy, none an ancestor of another).
    pub fn new(run: &'a dyn CogRun, cfg: ExperimentConfig, dir: &Path) -> Result<Self> {
        cfg.validate()?;
        let device = hiercog_nn::device_from_name(&cfg.device)?;
        let seen = run.images(SEEN, Split::Train)?;
        let taxonomy = run.taxonomy()?;
        let tree = LabelTree::from_taxonomy(&taxonomy, &seen.classes, cfg.tree_from_dag)?;
        for r in &cfg.recipes {
            match r {
                Recipe::Supervised { loss, .. } => {
                    drop(HierarchicalLoss::new(loss, &tree, &device)?)
                }
                Recipe::Contrastive(c) if c.hierarchy => drop(InfoNce::with_hierarchy(&tree)?),
                Recipe::Contrastive(_) => {}
            }
        }
        let datasets = run.baseline()?.datasets.into_iter().map(|d| d.0).collect();
        Ok(Experiment {
            run,
            cfg,
            dir: dir.to_path_buf(),
            device,
            tree,
            seen,
            datasets,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ExperimentConfig {
        &self.cfg
    }

    /// The experiment directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The label tree the hierarchical losses use (its dropped edges belong in the report).
    pub fn tree(&self) -> &LabelTree {
        &self.tree
    }

    /// The units, recipe-major ([`ExperimentConfig::units`]).
    pub fn units(&self) -> Vec<Unit> {
        self.cfg.units()
    }

    /// Every task, in an order that respects their dependencies ([`ExperimentConfig::tasks`]).
    pub fn tasks(&self) -> Vec<Task> {
        self.cfg.tasks()
    }

    /// Runs every task in this process and returns the report.
    pub fn run_all(&self, obs: &dyn Observer) -> Result<ExperimentReport> {
        self.write_config()?;
        for task in self.tasks() {
            if task != Task::Report {
                self.run_task(&task, false, obs)?;
            }
        }
        self.write_report(obs)
    }

    /// Runs one task (what is finished is skipped). `result_files`: record probe runs as one
    /// file each (cluster array tasks) rather than in the SQLite store.
    pub fn run_task(&self, task: &Task, result_files: bool, obs: &dyn Observer) -> Result<()> {
        self.write_config()?;
        match task {
            Task::Views => self.views(obs).map(drop),
            Task::Unit(unit) => self.unit(unit, result_files, obs).map(drop),
            Task::Report => self.write_report(obs).map(drop),
        }
    }

    fn write_config(&self) -> Result<()> {
        std::fs::create_dir_all(&self.dir).map_err(hiercog_io::Error::write(&self.dir))?;
        hiercog_io::write_atomic(
            &self.dir.join("experiment.toml"),
            self.cfg.to_toml().as_bytes(),
        )?;
        Ok(())
    }

    /// Depth (a): the stored views of the seen training images (extracted once, then read from
    /// the cache).
    fn views(&self, obs: &dyn Observer) -> Result<hiercog_train::FeatureViews> {
        let (size, _) = self.run.frozen_shape()?;
        let spec = self.cfg.view_spec(size);
        let started = std::sync::atomic::AtomicBool::new(false);
        self.run
            .train_views(&spec, &self.dir.join("views"), self.cfg.workers, &|p| {
                if p.done < p.total && !started.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    obs.task(
                        "views",
                        &format!(
                            "{} augmented views of {} seen training images through the frozen backbone",
                            p.passes, p.total
                        ),
                    );
                }
                obs.progress("views", p.pass * p.total + p.done, p.passes * p.total)
            })
    }

    /// The training set of `recipe` and the width of its inputs (0 for images). At depth (a) a
    /// self-supervised recipe trains on the MoCo-v2 views alone, the others on the global (and
    /// local) views.
    fn train_set(&self, recipe: &Recipe, obs: &dyn Observer) -> Result<(TrainSet, usize)> {
        let labels: Vec<u32> = self.seen.items.iter().map(|(_, l)| *l).collect();
        if self.cfg.depth.takes_images() {
            let size = self.cfg.train_config(recipe, 0, 0).augmentation.groups[0]
                .crop
                .size;
            let set = TrainSet::images(
                &self.seen.items,
                self.seen.classes.clone(),
                Preprocess::imagenet(size, size),
            )?;
            Ok((set, 0))
        } else {
            let mut views = self.views(obs)?;
            if let (Some(_), Some(group)) = (recipe.contrastive(), self.cfg.moco_group()) {
                views.groups = vec![views.groups.swap_remove(group)];
            }
            let dim = views.dim;
            Ok((
                TrainSet::views(views, labels, self.seen.classes.clone())?,
                dim,
            ))
        }
    }

    fn unit_dir(&self, unit: &Unit) -> PathBuf {
        self.dir
            .join(unit.recipe.slug())
            .join(format!("seed-{}", unit.seed))
    }

    /// What determines a unit's result: its training configuration, loss, label-tree rule, the
    /// stored views (depth a) and the probe plan. Hashed.
    pub fn unit_identity(&self, unit: &Unit, train_config: &TrainConfig) -> Result<String> {
        let plan = self.plan(unit)?;
        // Plain recipes train on the global views alone, which do not change when local or
        // MoCo-v2 views are added for other recipes: the views config, not the spec, identifies
        // their result (without the MoCo-v2 views' count, which only self-supervised units read).
        let mut views = serde_json::to_value(&self.cfg.views).expect("plain data");
        if unit.recipe.contrastive().is_none() {
            if let Some(map) = views.as_object_mut() {
                map.remove("moco");
            }
        }
        let views = (!self.cfg.depth.takes_images()).then_some(views);
        let text = serde_json::json!({
            "train": train_config,
            "recipe": unit.recipe,
            "tree": self.cfg.tree_from_dag,
            "views": views,
            "protocol": plan.protocol,
            "preprocess": plan.preprocess.to_string(),
            "shots": plan.shots,
            "distance": format!("{:?}", plan.distance),
            "hierarchy": plan.hierarchy,
        })
        .to_string();
        Ok(Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect())
    }

    /// The probe runs of a unit: the CoG run's plan with the unit's seed (without the k-NN
    /// probe's retrieval metrics, which the experiment does not report, and on the features as
    /// extracted).
    fn plan(&self, unit: &Unit) -> Result<ProbePlan> {
        Ok(ProbePlan {
            seeds: vec![unit.seed],
            knn_retrieval_seed: None,
            reduce: None,
            ..self.run.probe_plan()?
        })
    }

    /// The finished result of a unit, if any (and made by this configuration).
    fn finished(&self, unit: &Unit, identity: &str) -> Result<Option<UnitResult>> {
        let path = self.unit_dir(unit).join(RESULT_FILE);
        let Ok(text) = std::fs::read_to_string(&path) else {
            return Ok(None);
        };
        let result: UnitResult = serde_json::from_str(&text).map_err(|e| Error::Corrupt {
            path: path.clone(),
            reason: format!("not an experiment unit result ({e})"),
        })?;
        if result.identity != identity {
            return Err(Error::Invalid(format!(
                "{} was made by another configuration of {}: use another experiment directory, \
                 or delete this one to start over",
                path.display(),
                unit.label()
            )));
        }
        Ok(Some(result))
    }

    /// Trains, represents and probes one unit (resuming whatever an earlier call left).
    pub fn unit(&self, unit: &Unit, result_files: bool, obs: &dyn Observer) -> Result<UnitResult> {
        let (_, frozen_dim) = if self.cfg.depth.takes_images() {
            (0, 0)
        } else {
            self.run.frozen_shape()?
        };
        let config = self.cfg.train_config(&unit.recipe, unit.seed, frozen_dim);
        let identity = self.unit_identity(unit, &config)?;
        if let Some(done) = self.finished(unit, &identity)? {
            obs.note(&format!("{}: finished earlier", unit.label()));
            return Ok(done);
        }
        let dir = self.unit_dir(unit);
        let (set, _) = self.train_set(&unit.recipe, obs)?;
        obs.task(
            &format!("train {}", unit.label()),
            &format!(
                "{} on {} seen images of {} concepts",
                config.describe(),
                set.len(),
                set.classes.len()
            ),
        );
        let total_epochs = config.epochs;
        let options = RunOptions {
            workers: Some(self.cfg.workers),
            ..RunOptions::default()
        };
        let progress = |p: &Progress| {
            if let Progress::Step {
                epoch,
                step,
                steps_per_epoch,
                ..
            } = p
            {
                obs.progress(
                    "steps",
                    epoch * steps_per_epoch + step + 1,
                    total_epochs * steps_per_epoch,
                );
            }
        };
        let train_dir = dir.join("train");
        let outcome = match &unit.recipe {
            Recipe::Supervised { loss, .. } => {
                let loss = HierarchicalLoss::new(loss, &self.tree, &self.device)?;
                train(
                    &set,
                    &config,
                    &loss,
                    &train_dir,
                    &self.device,
                    &options,
                    &progress,
                )?
            }
            Recipe::Contrastive(_) => pretrain(
                &set,
                &config,
                Some(&self.tree),
                &train_dir,
                &self.device,
                &options,
                &progress,
            )?,
        };
        drop(set);

        let t0 = std::time::Instant::now();
        obs.task(
            &format!("represent {}", unit.label()),
            &format!("{} datasets × train/test", self.datasets.len()),
        );
        for (i, dataset) in self.datasets.iter().enumerate() {
            for split in [Split::Train, Split::Test] {
                self.represent(&outcome.model, dataset, split, &dir)?;
            }
            obs.progress("datasets", i + 1, self.datasets.len());
        }
        let represent_seconds = t0.elapsed().as_secs_f64();

        let t0 = std::time::Instant::now();
        let plan = self.plan(unit)?;
        let results = Results::open(&RunDir::new(&self.dir), result_files)?;
        let taxonomy: Arc<_> = self.run.taxonomy()?;
        let mut probes = Vec::new();
        obs.task(
            &format!("probe {}", unit.label()),
            &format!(
                "{} datasets × {} runs",
                self.datasets.len(),
                plan.runs().len()
            ),
        );
        for (i, dataset) in self.datasets.iter().enumerate() {
            let (train_path, test_path) = (
                features_dir(&dir, dataset, Split::Train),
                features_dir(&dir, dataset, Split::Test),
            );
            let sweep = ProbeSweep {
                train: &train_path,
                test: &test_path,
                fingerprints: fingerprint_pair(&train_path, &test_path)?,
                plan: &plan,
                records: &DatasetRecords {
                    results: &results,
                    dataset,
                },
                taxonomy: &|| Ok(taxonomy.clone()),
                reducer: None,
            };
            let found = sweep.run(&|e| {
                if let SweepEvent::Finished { run, runs, .. } = e {
                    obs.progress("probe runs", i * runs + run + 1, self.datasets.len() * runs)
                }
            })?;
            probes.extend(found.into_iter().map(|result| ProbeRecord {
                dataset: dataset.clone(),
                shots: result.shots,
                seed: result.seed,
                result,
                machine: Some(Machine::this()),
            }));
        }
        let last = outcome.epochs.last();
        let result = UnitResult {
            identity,
            unit: unit.clone(),
            train_seconds: outcome.epochs.iter().map(|e| e.seconds).sum(),
            train_loss: last.map_or(f64::NAN, |e| e.loss),
            train_top1: last.map_or(f64::NAN, |e| e.top1),
            represent_seconds,
            probe_seconds: t0.elapsed().as_secs_f64(),
            probes,
        };
        hiercog_io::write_atomic(
            &dir.join(RESULT_FILE),
            serde_json::to_string_pretty(&result)
                .expect("results serialize")
                .as_bytes(),
        )?;
        Ok(result)
    }

    /// The representation of one dataset's split, saved once.
    fn represent(
        &self,
        model: &TrainedBackbone,
        dataset: &str,
        split: Split,
        unit_dir: &Path,
    ) -> Result<()> {
        let out = features_dir(unit_dir, dataset, split);
        if out.exists() {
            return Ok(());
        }
        let set = if self.cfg.depth.takes_images() {
            let images = self.run.images(dataset, split)?;
            image_features(
                model,
                &images.items,
                Some(images.classes),
                &self.device,
                64,
                self.cfg.workers,
            )?
        } else {
            let frozen = FeatureSet::load(&self.run.features(dataset, split)?)?;
            transform_features(model, &frozen, &self.device, 1024)?
        };
        set.save(&out, Format::Npy)?;
        Ok(())
    }

    /// The finished units' results (in unit order) and the labels of those not finished.
    pub fn collect(&self) -> Result<(Vec<UnitResult>, Vec<String>)> {
        let frozen_dim = if self.cfg.depth.takes_images() {
            0
        } else {
            self.run.frozen_shape()?.1
        };
        let mut done = Vec::new();
        let mut missing = Vec::new();
        for unit in self.units() {
            let config = self.cfg.train_config(&unit.recipe, unit.seed, frozen_dim);
            match self.finished(&unit, &self.unit_identity(&unit, &config)?)? {
                Some(r) => done.push(r),
                None => missing.push(unit.label()),
            }
        }
        Ok((done, missing))
    }

    /// Summarises the finished units and writes the report into `DIR/report/`.
    pub fn write_report(&self, obs: &dyn Observer) -> Result<ExperimentReport> {
        obs.task("report", "table and plots");
        let (units, missing) = self.collect()?;
        let baseline = self.run.baseline()?;
        let training = self.cfg.train_config(
            &self.cfg.recipes[0],
            0,
            self.run.frozen_shape().map_or(0, |s| s.1),
        );
        let report = summary::summarize(&summary::SummaryInput {
            config: &self.cfg,
            training: describe_depth(self.cfg.depth, &training),
            baseline: &baseline,
            units: &units,
            missing,
            dropped_edges: self.tree.dropped_edges().len(),
        });
        summary::write(&report, &self.dir.join("report"))?;
        Ok(report)
    }
}

/// The depth in words, for the report.
fn describe_depth(depth: Depth, config: &TrainConfig) -> String {
    let what = match depth {
        Depth::LastLayers => {
            "depth (a), the last layers: an MLP trunk trained on features of augmented views by the \
             frozen pretrained backbone; its output is the representation (whole-backbone \
             training: `--depth small-resnet`)"
        }
        Depth::SmallResnet => "depth (b), a whole backbone trained from images on CPUs",
        Depth::Resnet50 => "depth (b), a whole ResNet-50 trained from images (the GPU recipe)",
    };
    format!(
        "{what}; {} ({}), {} epochs, batch {}, lr {}",
        config.architecture.name(),
        match config.optimizer {
            hiercog_train::OptimizerConfig::Sgd { .. } => "SGD",
            _ => "AdamW",
        },
        config.epochs,
        config.batch_size,
        config.lr
    )
}

/// Where a unit keeps the representation of a dataset's split.
fn features_dir(unit_dir: &Path, dataset: &str, split: Split) -> PathBuf {
    unit_dir
        .join("features")
        .join(dataset)
        .join(split.to_string())
}
