//! The tasks of a run and how each is done.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use hiercog_cog::{load_benchmark, Benchmark, LabelledImages, Split};
use hiercog_features::{FeatureSet, Format};
use hiercog_nn::{device_from_name, model_spec, Backbone, ExtractOptions, ExtractProgress};
use hiercog_probe::{KnnParams, ProgressEvent, ProtocolConfig};
use hiercog_reduce::{FitProgress, Reducer};
use hiercog_retrieval::Rows;
use hiercog_store::{path_fingerprint, RunKey};
use hiercog_taxonomy::{DistanceConvention, Taxonomy};

use crate::config::{ImageSource, LevelSource, RunConfig};
use crate::layout::{RunDir, SEEN};
use crate::prepare;
use crate::report::{ReportInput, RunReport};
use crate::results::{DatasetRecords, Results};
use crate::sweep::{ProbePlan, ProbeSweep, SweepEvent};
use crate::{Error, Observer, Result};

/// One unit of work; a Slurm array task runs exactly one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Task {
    /// Images, levels and image lists.
    Prepare,
    /// Features of one dataset's split.
    Extract {
        /// `seen` or a level's name.
        dataset: String,
        /// Train or test.
        split: Split,
    },
    /// One probe run (all data when `shots` is `None`).
    Probe {
        /// `seen` or a level's name.
        dataset: String,
        /// Training images per class; `None` for all of them.
        shots: Option<usize>,
        /// Seed of the run's validation split, few-shot draw, search and fit.
        seed: u64,
    },
    /// The report.
    Report,
}

impl Task {
    /// The stage the task belongs to (`prepare`, `extract`, `probe`, `report`).
    pub fn stage(&self) -> &'static str {
        match self {
            Task::Prepare => "prepare",
            Task::Extract { .. } => "extract",
            Task::Probe { .. } => "probe",
            Task::Report => "report",
        }
    }

    /// A readable name (`extract L1/train`, `probe seen 4-shot seed 22`), used in progress,
    /// errors and lock file names.
    pub fn label(&self) -> String {
        match self {
            Task::Prepare => "prepare".into(),
            Task::Extract { dataset, split } => format!("extract {dataset}/{split}"),
            Task::Probe {
                dataset,
                shots: None,
                seed,
            } => format!("probe {dataset} all-data seed {seed}"),
            Task::Probe {
                dataset,
                shots: Some(n),
                seed,
            } => format!("probe {dataset} {n}-shot seed {seed}"),
            Task::Report => "report".into(),
        }
    }
}

/// A configured run: its tasks and the means to do them.
pub struct Pipeline {
    cfg: RunConfig,
    dir: RunDir,
    tax: OnceLock<Arc<Taxonomy>>,
    bench: OnceLock<Benchmark>,
    model: OnceLock<Backbone>,
    /// Fingerprints of finished feature sets (written once, read by every probe task and the report).
    fingerprints: Mutex<HashMap<PathBuf, String>>,
    /// Every concept of the benchmark (seen set and levels), sorted: the hierarchy of the class
    /// distances of every dataset.
    hierarchy: OnceLock<Vec<String>>,
    /// The reduction before probing, fitted (or loaded) once per process.
    reducer: OnceLock<Arc<Reducer>>,
}

impl Pipeline {
    /// A pipeline over `cfg.run_dir`. If the run directory already holds a config, it must be the
    /// same: a run directory belongs to one configuration (use another directory, or `--fresh`).
    /// Relative paths of `cfg` are taken relative to the current directory and made absolute
    /// ([`RunConfig::resolve_paths`]), so `runs/x` and its absolute spelling are the same run.
    pub fn new(mut cfg: RunConfig) -> Result<Self> {
        let cwd = std::env::current_dir().map_err(hiercog_io::Error::read("."))?;
        cfg.resolve_paths(&cwd);
        let dir = RunDir::new(&cfg.run_dir);
        if let Ok(text) = std::fs::read_to_string(dir.config()) {
            let before: RunConfig = toml::from_str(&text).map_err(|e| Error::Config {
                path: dir.config(),
                message: e.to_string(),
            })?;
            if before.identity() != cfg.identity() {
                return Err(Error::Invalid(format!(
                    "{} was made with another configuration ({}): re-run with that config, choose \
                     another run_dir, or pass --fresh to start this directory over",
                    dir.root().display(),
                    dir.config().display()
                )));
            }
        }
        // A mistyped model name fails now, not after images and levels are prepared.
        let trained = Path::new(&cfg.model.name);
        if Backbone::is_trained_dir(trained) {
            if cfg.model.weights.is_some() || cfg.model.weights_prefix.is_some() {
                return Err(Error::Invalid(format!(
                    "model {} is a trained model directory, which carries its weights: leave \
                     the weights and weights_prefix settings out",
                    cfg.model.name
                )));
            }
        } else {
            model_spec(&cfg.model.name)?;
        }
        Ok(Pipeline {
            cfg,
            dir,
            tax: OnceLock::new(),
            bench: OnceLock::new(),
            model: OnceLock::new(),
            fingerprints: Mutex::default(),
            hierarchy: OnceLock::new(),
            reducer: OnceLock::new(),
        })
    }

    /// The configuration the pipeline runs.
    pub fn config(&self) -> &RunConfig {
        &self.cfg
    }

    /// The run directory the pipeline writes to.
    pub fn dir(&self) -> &RunDir {
        &self.dir
    }

    /// The run's taxonomy (WordNet or the configured is-a file), loaded once.
    pub fn taxonomy(&self) -> hiercog_taxonomy::Result<&Arc<Taxonomy>> {
        if let Some(t) = self.tax.get() {
            return Ok(t);
        }
        let t = prepare::taxonomy(&self.cfg)?;
        Ok(self.tax.get_or_init(|| t))
    }

    fn levels_dir(&self) -> PathBuf {
        match (&self.cfg.levels.source, &self.cfg.levels.dir) {
            (LevelSource::Dir, Some(d)) => d.clone(),
            _ => self.dir.levels(),
        }
    }

    pub(crate) fn benchmark(&self) -> Result<&Benchmark> {
        if let Some(b) = self.bench.get() {
            return Ok(b);
        }
        let dir = self.levels_dir();
        if !dir.join("manifest.json").is_file() {
            return Err(Error::Invalid(format!(
                "no levels in {} yet: run the prepare stage first (`hiercog run --stage prepare`)",
                dir.display()
            )));
        }
        let b = load_benchmark(&dir)?;
        Ok(self.bench.get_or_init(|| b))
    }

    /// Names of the datasets: the seen set, then the levels (L1..Lk).
    pub fn datasets(&self) -> Result<Vec<String>> {
        let levels: Vec<String> = match self.cfg.levels.source {
            LevelSource::Build => (1..=self.cfg.levels.levels)
                .map(|i| format!("L{i}"))
                .collect(),
            // Official ImageNet-CoG has five levels; an existing directory says how many it has.
            LevelSource::Official => (1..=5).map(|i| format!("L{i}")).collect(),
            LevelSource::Dir => self
                .benchmark()?
                .levels()
                .iter()
                .map(|l| l.name.clone())
                .collect(),
        };
        Ok(std::iter::once(SEEN.to_string()).chain(levels).collect())
    }

    /// Every task of the run, in an order that respects their dependencies.
    pub fn tasks(&self) -> Result<Vec<Task>> {
        let datasets = self.datasets()?;
        let mut tasks = vec![Task::Prepare];
        for d in &datasets {
            for split in [Split::Train, Split::Test] {
                tasks.push(Task::Extract {
                    dataset: d.clone(),
                    split,
                });
            }
        }
        let shots: Vec<Option<usize>> = std::iter::once(None)
            .chain(self.cfg.probe.shots.iter().map(|&n| Some(n)))
            .collect();
        for d in &datasets {
            for &s in &shots {
                for &seed in &self.cfg.probe.seeds {
                    tasks.push(Task::Probe {
                        dataset: d.clone(),
                        shots: s,
                        seed,
                    });
                }
            }
        }
        tasks.push(Task::Report);
        Ok(tasks)
    }

    /// Loads the backbone on its device: a missing checkpoint, a device this build cannot use or
    /// weights that do not fit the model fail now, before the prepare stage (which on ImageNet-21K
    /// counts every image). Call it before running tasks that include an extraction.
    pub fn check_model(&self, obs: &dyn Observer) -> Result<()> {
        if let Some(w) = &self.cfg.model.weights {
            if !w.is_file() {
                return Err(Error::Invalid(format!(
                    "the weights file {} does not exist: check the path (relative paths in a \
                     config file are relative to that file's directory)",
                    w.display()
                )));
            }
        }
        self.model(obs).map(|_| ())
    }

    /// Runs every task in order in this process.
    pub fn run_all(&self, obs: &dyn Observer) -> Result<()> {
        self.check_model(obs)?;
        for task in self.tasks()? {
            self.run_task(&task, false, obs)?;
        }
        Ok(())
    }

    /// Runs one task (skipping it if its output exists). `result_files`: record probe results as
    /// per-task files (cluster array tasks) rather than in the SQLite store.
    ///
    /// The task's lock is held meanwhile: another process on the same task (a second `hiercog
    /// run`, a double submission) waits for it, with a note naming the holder; the lock of a
    /// process that died holding it is taken over. Different tasks run in parallel.
    pub fn run_task(&self, task: &Task, result_files: bool, obs: &dyn Observer) -> Result<()> {
        let label = task.label();
        let lock = hiercog_io::FileLock::acquire(&self.dir.lock(&label), |holder| {
            obs.note(&format!(
                "{label}: {holder} is doing this task; waiting for it to finish"
            ))
        })?;
        if let Some(dead) = lock.taken_over() {
            obs.note(&format!(
                "{label}: taking over from {dead}, which stopped without finishing"
            ));
        }
        hiercog_io::abort_point(&format!("before {label}"));
        self.do_task(task, result_files, obs)?;
        drop(lock);
        hiercog_io::abort_point(&format!("after {label}"));
        Ok(())
    }

    fn do_task(&self, task: &Task, result_files: bool, obs: &dyn Observer) -> Result<()> {
        match task {
            Task::Prepare => self.prepare(obs),
            Task::Extract { dataset, split } => self.extract(dataset, *split, obs),
            Task::Probe {
                dataset,
                shots,
                seed,
            } => {
                let results = Results::open(&self.dir, result_files)?;
                self.probe(&results, dataset, *shots, *seed, obs)
            }
            Task::Report => {
                self.write_report(obs)?;
                Ok(())
            }
        }
    }

    fn prepare(&self, obs: &dyn Observer) -> Result<()> {
        std::fs::create_dir_all(self.dir.root())
            .map_err(hiercog_io::Error::write(self.dir.root()))?;
        // What a killed prepare was writing (the levels directory, run.toml) is garbage.
        hiercog_io::sweep_temporaries(self.dir.root())?;
        hiercog_io::write_atomic(&self.dir.config(), self.cfg.to_toml().as_bytes())?;
        let tax = self.taxonomy()?;
        prepare::images(&self.cfg, &self.dir, tax, obs)?;
        let bench = prepare::levels(&self.cfg, &self.dir, tax, obs)?;
        let _ = self.bench.set(bench);
        prepare::seen_splits(&self.cfg, &self.dir, tax, obs)
    }

    /// The frozen backbone, loaded on first use; a checkpoint not taken as it is (a prefix
    /// stripped, keys ignored) is noted then.
    pub fn model(&self, obs: &dyn Observer) -> Result<&Backbone> {
        if let Some(m) = self.model.get() {
            return Ok(m);
        }
        let m = &self.cfg.model;
        let device = device_from_name(&m.device)?;
        let dir = Path::new(&m.name);
        let backbone = if Backbone::is_trained_dir(dir) {
            // A model trained by hiercog: its directory holds weights and preprocessing.
            Backbone::trained(dir, &device)?
        } else {
            let spec = model_spec(&m.name)?;
            let weights = hiercog_nn::cache::resolve_weights(&m.name, m.weights.as_deref())?;
            let backbone = Backbone::load(spec, &weights, m.weights_prefix.as_deref(), &device)?;
            let keys = backbone.key_report();
            if !keys.as_is() {
                obs.note(&format!("weights {}: {keys}", weights.display()));
            }
            backbone
        };
        Ok(self.model.get_or_init(|| backbone))
    }

    /// The final feature set of a dataset's split, once its extraction finished.
    pub fn features_path(&self, dataset: &str, split: Split) -> PathBuf {
        self.dir.features(dataset, split).join("features")
    }

    /// The labelled images of a dataset's split (after prepare), in the row order of its
    /// features.
    pub fn dataset_images(&self, dataset: &str, split: Split) -> Result<LabelledImages> {
        prepare::dataset_items(&self.dir, self.benchmark()?, dataset, split)
    }

    fn extract(&self, dataset: &str, split: Split, obs: &dyn Observer) -> Result<()> {
        let out = self.dir.features(dataset, split);
        if self.features_path(dataset, split).exists() {
            // A process killed between the set's commit and the removal of its shards left them.
            let removed = hiercog_features::remove_shards(&out)?;
            let leftovers = match removed.len() {
                0 => String::new(),
                n => format!(" (removed {n} leftover shard files)"),
            };
            obs.note(&format!(
                "extract {dataset}/{split}: features already extracted{leftovers}"
            ));
            return Ok(());
        }
        let LabelledImages { items, classes } = self.dataset_images(dataset, split)?;
        let model = self.model(obs)?;
        obs.task(
            &format!("extract {dataset}/{split}"),
            &format!(
                "{} images of {} concepts through {}",
                items.len(),
                classes.len(),
                self.cfg.model.name
            ),
        );
        let opts = ExtractOptions {
            batch_size: self.cfg.model.batch,
            rows_per_shard: self.cfg.model.shard_rows,
            format: Format::Npy,
            classes,
            ..ExtractOptions::default()
        };
        let summary = hiercog_nn::extract(model, &items, &out, &opts, &|p| match p {
            ExtractProgress::Batch { done, total, .. } => obs.progress("images", done, total),
            ExtractProgress::Skipped(s) => {
                obs.note(&format!("skipped {}: {}", s.path.display(), s.reason))
            }
        })?;
        if summary.resumed_from > 0 {
            obs.note(&format!(
                "extract {dataset}/{split}: resumed after {} images done earlier",
                summary.resumed_from
            ));
        }
        Ok(())
    }

    /// Every concept of the benchmark, sorted: the seen concepts and those of every level.
    fn hierarchy(&self) -> Result<&[String]> {
        if let Some(h) = self.hierarchy.get() {
            return Ok(h);
        }
        let seen = prepare::seen_list(&self.cfg, &self.dir, self.taxonomy()?)?;
        let mut all: Vec<String> = seen.names().to_vec();
        for level in self.benchmark()?.levels() {
            all.extend(level.concepts.iter().map(|c| c.wnid.clone()));
        }
        all.sort();
        all.dedup();
        Ok(self.hierarchy.get_or_init(|| all))
    }

    /// The probe runs of the config (shots and seeds of every dataset), with class distances in
    /// the hierarchy of the whole benchmark.
    pub fn probe_plan(&self) -> Result<ProbePlan> {
        Ok(ProbePlan {
            reduce: self.reduction_name()?,
            hierarchy: self.hierarchy()?.to_vec(),
            ..self.protocol_plan()
        })
    }

    /// The probe runs of the config and their protocols, without what needs the prepared
    /// benchmark and features (the hierarchy, the reduction's name): what the runs will do, known
    /// before anything has run ([`crate::estimate`]).
    pub fn protocol_plan(&self) -> ProbePlan {
        let p = &self.cfg.probe;
        ProbePlan {
            protocol: ProtocolConfig {
                solver: p.solver,
                knn: p.knn.then(KnnParams::default),
                ..ProtocolConfig::default()
            },
            few_shot_knn: false,
            knn_retrieval_seed: p.seeds.first().copied(),
            preprocess: p.preprocess,
            reduce: None,
            shots: std::iter::once(None)
                .chain(p.shots.iter().map(|&n| Some(n)))
                .collect(),
            seeds: p.seeds.clone(),
            distance: DistanceConvention::LcaHeight,
            hierarchy: Vec::new(),
        }
    }

    /// The configured reduction and the seen train features it is fitted on, as one name (it
    /// keys the probe runs and names the model's directory); `None` without a reduction.
    fn reduction_name(&self) -> Result<Option<String>> {
        let Some(r) = &self.cfg.probe.reduce else {
            return Ok(None);
        };
        let seen = self.fingerprint(&self.features_path(SEEN, Split::Train))?;
        let spec: String = r
            .to_string()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let seen = RunKey::from_parts(&[seen.as_bytes()]);
        Ok(Some(format!("{spec}-{}", &seen.as_str()[..16])))
    }

    /// The reduction before probing, fitted on the seen set's train features only (no test data,
    /// no unseen concept) and saved in the run directory; loaded from there when it was fitted
    /// earlier. A TLDR fit checkpoints every epoch and resumes after an interruption. The fit is
    /// under a lock: a second process waits for it.
    fn reducer(&self, obs: &dyn Observer) -> Result<Arc<Reducer>> {
        if let Some(r) = self.reducer.get() {
            return Ok(r.clone());
        }
        let (Some(reduction), Some(name)) = (&self.cfg.probe.reduce, self.reduction_name()?) else {
            return Err(Error::Invalid("no reduction is configured".into()));
        };
        let dir = self.dir.reduction(&name);
        let label = format!("reduce {reduction}");
        let lock = hiercog_io::FileLock::acquire(&self.dir.lock(&label), |holder| {
            obs.note(&format!(
                "{label}: {holder} is fitting it; waiting for it to finish"
            ))
        })?;
        let reducer = if dir.join(hiercog_reduce::MODEL_JSON).is_file() {
            obs.note(&format!("{label}: fitted earlier"));
            Reducer::load(&dir)?
        } else {
            let seen = FeatureSet::load(&self.features_path(SEEN, Split::Train))?;
            obs.task(
                &label,
                &format!(
                    "fitted on the seen set's {} train rows ({}-d), no test data",
                    seen.rows(),
                    seen.dim()
                ),
            );
            std::fs::create_dir_all(&dir).map_err(hiercog_io::Error::write(&dir))?;
            let checkpoint = dir.join("fit.ckpt");
            let rows = Rows::new(seen.x(), seen.dim()).map_err(hiercog_reduce::Error::from)?;
            let fitted = reduction.fit(rows, Some(&checkpoint), &|p| match p {
                FitProgress::Knn { done, total } => obs.progress("k-NN graph rows", done, total),
                FitProgress::Epoch { epoch, epochs, .. } => obs.progress("epochs", epoch, epochs),
                _ => {}
            })?;
            // model.json is written last: its presence means the model is complete.
            fitted.save(&dir)?;
            if checkpoint.exists() {
                std::fs::remove_file(&checkpoint).map_err(hiercog_io::Error::write(&checkpoint))?;
            }
            fitted
        };
        drop(lock);
        Ok(self.reducer.get_or_init(|| Arc::new(reducer)).clone())
    }

    /// The fingerprints of a dataset's train and test features.
    fn fingerprints(&self, dataset: &str) -> Result<[String; 2]> {
        Ok([
            self.fingerprint(&self.features_path(dataset, Split::Train))?,
            self.fingerprint(&self.features_path(dataset, Split::Test))?,
        ])
    }

    /// The key of a probe run ([`ProbePlan::key`]).
    fn probe_key(&self, dataset: &str, shots: Option<usize>, seed: u64) -> Result<RunKey> {
        Ok(self
            .probe_plan()?
            .key(&self.fingerprints(dataset)?, shots, seed))
    }

    fn probe(
        &self,
        results: &Results,
        dataset: &str,
        shots: Option<usize>,
        seed: u64,
        obs: &dyn Observer,
    ) -> Result<()> {
        let label = Task::Probe {
            dataset: dataset.into(),
            shots,
            seed,
        }
        .label();
        let plan = ProbePlan {
            shots: vec![shots],
            seeds: vec![seed],
            ..self.probe_plan()?
        };
        let fit_reducer = || self.reducer(obs);
        let sweep = ProbeSweep {
            train: &self.features_path(dataset, Split::Train),
            test: &self.features_path(dataset, Split::Test),
            fingerprints: self.fingerprints(dataset)?,
            plan: &plan,
            records: &DatasetRecords { results, dataset },
            taxonomy: &|| self.taxonomy().cloned(),
            reducer: plan.reduce.is_some().then_some(&fit_reducer),
        };
        sweep.run(&|event| match event {
            SweepEvent::Reused { .. } => obs.note(&format!("{label}: finished earlier")),
            SweepEvent::Loaded {
                train_rows,
                test_rows,
                classes,
                dim,
                ..
            } => obs.task(
                &label,
                &format!("{train_rows} train / {test_rows} test rows, {classes} classes, {dim}-d"),
            ),
            SweepEvent::Protocol(ProgressEvent::FitFinished { fit, fits, .. }) => {
                obs.progress("fits", fit + 1, fits)
            }
            _ => {}
        })?;
        Ok(())
    }

    /// What the report is made of: the finished probe runs of the current tasks, in task order.
    pub fn report_input(&self) -> Result<ReportInput> {
        let results = Results::open(&self.dir, false)?;
        results.merge_files()?;
        let bench = self.levels()?;
        let datasets = self
            .datasets()?
            .into_iter()
            .map(|name| {
                let similarity = bench.level(&name).ok().map(|l| {
                    l.concepts.iter().map(|c| c.similarity).sum::<f64>()
                        / l.concepts.len().max(1) as f64
                });
                (name, similarity)
            })
            .collect();
        let mut runs = Vec::new();
        let mut missing_runs = 0;
        for task in self.tasks()? {
            let Task::Probe {
                dataset,
                shots,
                seed,
            } = task
            else {
                continue;
            };
            let record = match self.probe_key(&dataset, shots, seed) {
                Ok(key) => results.get(&key)?,
                Err(_) => None, // features not extracted yet
            };
            match record {
                Some(r) => runs.push(r),
                None => missing_runs += 1,
            }
        }
        let cfg = &self.cfg;
        let hierarchy = format!(
            "class distances (mistake severity, hdist@5) are LCA heights in the hierarchy that \
             all {} concepts of the benchmark (the seen set and every level) induce in {}, one \
             hierarchy shared by every dataset",
            self.hierarchy()?.len(),
            prepare::taxonomy_source(cfg)
        );
        Ok(ReportInput {
            hierarchy,
            reduction: cfg.probe.reduce.as_ref().map(ToString::to_string),
            synthetic: cfg.images.source == ImageSource::Synthetic,
            model: cfg.model.name.clone(),
            solver: cfg.probe.solver.to_string(),
            seeds: cfg.probe.seeds.clone(),
            datasets,
            runs,
            missing_runs,
            levels_dir: bench.dir().map(Path::to_path_buf),
        })
    }

    /// Writes the report of the finished runs into the run directory's `report/`.
    pub fn write_report(&self, obs: &dyn Observer) -> Result<RunReport> {
        obs.task("report", "tables and plots");
        crate::report::write(&self.report_input()?, &self.dir.report())
    }

    /// The content fingerprint of a finished feature set, computed once per process.
    fn fingerprint(&self, path: &Path) -> Result<String> {
        if let Some(f) = self.fingerprints.lock().expect("not poisoned").get(path) {
            return Ok(f.clone());
        }
        if !path.exists() {
            return Err(Error::Invalid(format!(
                "no features at {}: run the extract stage first (`hiercog run --stage extract`)",
                path.display()
            )));
        }
        let f = path_fingerprint(path)?;
        self.fingerprints
            .lock()
            .expect("not poisoned")
            .insert(path.to_path_buf(), f.clone());
        Ok(f)
    }

    /// The levels the run uses (after prepare).
    pub fn levels(&self) -> Result<&Benchmark> {
        self.benchmark()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mistyped_model_fails_before_any_work() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = RunConfig {
            run_dir: dir.path().join("run"),
            ..RunConfig::default()
        };
        cfg.model.name = "efficientnet-lite".into();
        let msg = Pipeline::new(cfg).err().expect("unknown model").to_string();
        assert!(
            msg.contains("did you mean \"efficientnet-lite0\"?"),
            "{msg}"
        );
        assert!(!dir.path().join("run").exists(), "nothing was written");
    }

    #[test]
    fn tasks_cover_every_dataset_split_shot_and_seed() {
        let dir = tempfile::tempdir().unwrap();
        let p = Pipeline::new(RunConfig {
            run_dir: dir.path().join("run"),
            ..RunConfig::default()
        })
        .unwrap();
        let tasks = p.tasks().unwrap();
        let count = |stage: &str| tasks.iter().filter(|t| t.stage() == stage).count();
        // seen + 5 levels; (all-data + 5 shot counts) × 3 seeds.
        assert_eq!(
            (
                count("prepare"),
                count("extract"),
                count("probe"),
                count("report")
            ),
            (1, 12, 108, 1)
        );
        assert_eq!(tasks.first(), Some(&Task::Prepare));
        assert_eq!(tasks.last(), Some(&Task::Report));
    }
}
