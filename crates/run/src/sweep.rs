//! The probe sweep: the probe protocol over seeds × shot counts on one train/test pair of feature
//! sets, each run recorded under its [`RunKey`] so that a re-run redoes nothing finished. One
//! implementation serves `hiercog probe` ([`StoreRecords`]) and the pipeline's probe tasks (one run
//! each, recorded in [`Results`](crate::results::Results)).
//!
//! A sweep looks up every run first and loads the features only when some run is missing; then it
//! checks the pair, fits the preprocessing on train, applies it to both, computes the classes'
//! LCA-height distances when every class name is a concept of the taxonomy (for hierarchical
//! metrics), and runs what is missing.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hiercog_features::{check_pair, FeatureSet, Preprocess};
use hiercog_probe::{run_protocol, OwnedSamples, ProbeResult, ProgressEvent, ProtocolConfig};
use hiercog_reduce::Reducer;
use hiercog_report::table::{fmt_mean_std, Table};
use hiercog_retrieval::Rows;
use hiercog_store::{path_fingerprint, ResultsStore, RunKey};
use hiercog_taxonomy::{distance_matrix_within, DistanceConvention, DistanceMatrix, Taxonomy};
use serde_json::json;

use crate::{Error, Result};

/// What a sweep runs, besides the data.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbePlan {
    /// The protocol of every run.
    pub protocol: ProtocolConfig,
    /// Also run the protocol's k-NN probe on few-shot runs (the pipeline runs it on all data only).
    pub few_shot_knn: bool,
    /// The seed whose all-data run also reports the k-NN probe's retrieval metrics (mAP, H-AP of
    /// the test rows against the train rows): they do not depend on the seed, so one run per
    /// dataset computes them. `None`: no run does.
    pub knn_retrieval_seed: Option<u64>,
    /// Feature preprocessing, fitted on train (after the reduction, if any).
    pub preprocess: Preprocess,
    /// The reduction applied to both feature sets before preprocessing, as it keys the runs (the
    /// reduction and what it was fitted on); `None`: the features as extracted. The sweep's
    /// [`ProbeSweep::reducer`] must be the reduction it names.
    pub reduce: Option<String>,
    /// Shot counts (`None`: all data), the outer loop.
    pub shots: Vec<Option<usize>>,
    /// Seeds, the inner loop.
    pub seeds: Vec<u64>,
    /// Class-distance convention of the hierarchical metrics.
    pub distance: DistanceConvention,
    /// The concepts whose induced hierarchy the class distances are measured in, with the classes
    /// (a whole benchmark's, so that its datasets' hierarchical metrics compare); empty: the
    /// hierarchy of each feature set's own classes.
    pub hierarchy: Vec<String>,
}

impl ProbePlan {
    /// The protocol of one run: k-NN only on all data unless `few_shot_knn`, its retrieval metrics
    /// only on the all-data run of `knn_retrieval_seed`.
    pub fn protocol(&self, shots: Option<usize>, seed: u64) -> ProtocolConfig {
        let mut cfg = self.protocol.clone();
        if shots.is_some() && !self.few_shot_knn {
            cfg.knn = None;
        }
        cfg.knn_retrieval =
            cfg.knn.is_some() && shots.is_none() && self.knn_retrieval_seed == Some(seed);
        cfg
    }

    /// The runs, `(shots, seed)`, in the order they are done.
    pub fn runs(&self) -> Vec<(Option<usize>, u64)> {
        self.shots
            .iter()
            .flat_map(|&s| self.seeds.iter().map(move |&seed| (s, seed)))
            .collect()
    }

    /// The key of one run: the feature sets' contents, the protocol, the preprocessing, the shots
    /// and the seed.
    pub fn key(&self, fingerprints: &[String; 2], shots: Option<usize>, seed: u64) -> RunKey {
        let protocol =
            serde_json::to_string(&self.protocol(shots, seed)).expect("protocol configs serialize");
        let shots = shots.map_or("all".to_string(), |n| n.to_string());
        let hierarchy = self.hierarchy.join(",");
        let preprocess = self.preprocess.to_string();
        let seed = seed.to_le_bytes();
        let mut parts: Vec<&[u8]> = vec![
            b"cog-probe/1",
            fingerprints[0].as_bytes(),
            fingerprints[1].as_bytes(),
            protocol.as_bytes(),
            preprocess.as_bytes(),
            shots.as_bytes(),
            &seed,
        ];
        // The distances change the hierarchical metrics (keys of runs without one are unchanged).
        if !hierarchy.is_empty() {
            parts.push(b"hierarchy");
            parts.push(hierarchy.as_bytes());
        }
        if let Some(r) = &self.reduce {
            parts.push(b"reduce");
            parts.push(r.as_bytes());
        }
        RunKey::from_parts(&parts)
    }
}

/// The content fingerprints of a train/test pair of feature sets ([`path_fingerprint`]).
pub fn fingerprint_pair(train: &Path, test: &Path) -> Result<[String; 2]> {
    Ok([path_fingerprint(train)?, path_fingerprint(test)?])
}

/// Where a sweep finds finished runs and records new ones.
pub trait ProbeRecords {
    /// The result of a finished run, if any.
    fn get(&self, key: &RunKey) -> Result<Option<ProbeResult>>;
    /// Records a finished run.
    fn put(&self, key: &RunKey, result: &ProbeResult) -> Result<()>;
}

/// What a sweep reports while it runs; `run` counts from 0 to `runs`.
#[derive(Debug)]
pub enum SweepEvent<'a> {
    /// A run was found finished: not redone.
    Reused {
        /// Its number.
        run: usize,
        /// Runs of the sweep.
        runs: usize,
        /// Its shot count.
        shots: Option<usize>,
        /// Its seed.
        seed: u64,
    },
    /// The features are loaded and preprocessed: the missing runs start.
    Loaded {
        /// Training rows.
        train_rows: usize,
        /// Test rows.
        test_rows: usize,
        /// Classes.
        classes: usize,
        /// Feature dimension.
        dim: usize,
        /// The sets name their classes.
        named_classes: bool,
        /// Hierarchical metrics are computed: the classes are named by concepts of the taxonomy.
        hierarchical: bool,
    },
    /// A run starts.
    Started {
        /// Its number.
        run: usize,
        /// Runs of the sweep.
        runs: usize,
        /// Its shot count.
        shots: Option<usize>,
        /// Its seed.
        seed: u64,
    },
    /// Progress inside the current run.
    Protocol(ProgressEvent),
    /// A run finished (and is recorded).
    Finished {
        /// Its number.
        run: usize,
        /// Runs of the sweep.
        runs: usize,
        /// The result.
        result: &'a ProbeResult,
    },
}

/// One sweep: a feature pair, a plan, where results are recorded, and the taxonomy of the class
/// names (loaded only if some run is missing and the sets name their classes).
pub struct ProbeSweep<'a> {
    /// Training features.
    pub train: &'a Path,
    /// Test features.
    pub test: &'a Path,
    /// Their content fingerprints ([`fingerprint_pair`]), which key the runs.
    pub fingerprints: [String; 2],
    /// What to run.
    pub plan: &'a ProbePlan,
    /// Finished runs.
    pub records: &'a dyn ProbeRecords,
    /// The taxonomy the class names belong to.
    pub taxonomy: &'a dyn Fn() -> hiercog_taxonomy::Result<Arc<Taxonomy>>,
    /// The fitted reduction of [`ProbePlan::reduce`], asked for only when some run is missing.
    pub reducer: Option<&'a dyn Fn() -> Result<Arc<Reducer>>>,
}

impl ProbeSweep<'_> {
    /// Runs what is missing; returns every run's result in [`ProbePlan::runs`] order.
    pub fn run(&self, on_event: &dyn Fn(SweepEvent<'_>)) -> Result<Vec<ProbeResult>> {
        let runs = self.plan.runs();
        let total = runs.len();
        let mut done: Vec<Option<ProbeResult>> = Vec::with_capacity(total);
        for (i, &(shots, seed)) in runs.iter().enumerate() {
            let found = self
                .records
                .get(&self.plan.key(&self.fingerprints, shots, seed))?;
            if found.is_some() {
                on_event(SweepEvent::Reused {
                    run: i,
                    runs: total,
                    shots,
                    seed,
                });
            }
            done.push(found);
        }
        if done.iter().all(Option::is_some) {
            return Ok(done.into_iter().flatten().collect());
        }
        let reducer = self.reducer.map(|fit| fit()).transpose()?;
        let data = PreparedPair::load(
            self.train,
            self.test,
            reducer.as_deref(),
            self.plan.preprocess,
        )?;
        let dist = self.distances(data.class_names.as_deref())?;
        on_event(SweepEvent::Loaded {
            train_rows: data.train_rows,
            test_rows: data.test_rows,
            classes: data.classes,
            dim: data.dim,
            named_classes: data.class_names.is_some(),
            hierarchical: dist.is_some(),
        });
        for (i, &(shots, seed)) in runs.iter().enumerate() {
            if done[i].is_some() {
                continue;
            }
            on_event(SweepEvent::Started {
                run: i,
                runs: total,
                shots,
                seed,
            });
            let result = run_protocol(
                data.train.view(),
                data.test.view(),
                &self.plan.protocol(shots, seed),
                seed,
                shots,
                dist.as_ref(),
                &|e| on_event(SweepEvent::Protocol(e)),
            )?;
            self.records
                .put(&self.plan.key(&self.fingerprints, shots, seed), &result)?;
            on_event(SweepEvent::Finished {
                run: i,
                runs: total,
                result: &result,
            });
            done[i] = Some(result);
        }
        Ok(done.into_iter().flatten().collect())
    }

    /// Distances between the classes when every class name is a concept of the taxonomy.
    fn distances(&self, names: Option<&[String]>) -> Result<Option<DistanceMatrix>> {
        let Some(names) = names else {
            return Ok(None);
        };
        let tax = (self.taxonomy)()?;
        let ids: Option<Vec<_>> = names.iter().map(|n| tax.get(n)).collect();
        let hierarchy: Vec<_> = self
            .plan
            .hierarchy
            .iter()
            .filter_map(|n| tax.get(n))
            .collect();
        ids.map(|ids| distance_matrix_within(&tax, &ids, &hierarchy, self.plan.distance))
            .transpose()
            .map_err(Error::from)
    }
}

/// A train/test pair, checked, reduced (when a reduction is given; outputs L2-normalised, as the
/// TLDR reference and `hiercog reduce transform` do), with the preprocessing fitted on train
/// applied to both.
struct PreparedPair {
    train: OwnedSamples,
    test: OwnedSamples,
    train_rows: usize,
    test_rows: usize,
    classes: usize,
    dim: usize,
    class_names: Option<Vec<String>>,
}

impl PreparedPair {
    fn load(
        train: &Path,
        test: &Path,
        reducer: Option<&Reducer>,
        preprocess: Preprocess,
    ) -> Result<Self> {
        let mut train = FeatureSet::load(train)?;
        let mut test = FeatureSet::load(test)?;
        check_pair(&train, &test)?;
        if let Some(r) = reducer {
            let reduce = |set: &FeatureSet| -> Result<FeatureSet> {
                let rows = Rows::new(set.x(), set.dim()).map_err(hiercog_reduce::Error::from)?;
                let x = r.transform(rows, true)?;
                Ok(FeatureSet::from_vec(
                    x,
                    r.output_dim(),
                    set.labels.clone(),
                    set.class_names.clone(),
                )?)
            };
            train = reduce(&train)?;
            test = reduce(&test)?;
        }
        let fitted = preprocess.fit(&train)?;
        let (dim, classes) = (train.dim(), train.num_classes());
        let (train_rows, test_rows) = (train.rows(), test.rows());
        let class_names = train.class_names.clone();
        // Each set's matrix is taken out (a memory-mapped file copied with its pages released as
        // it goes) and preprocessed in place: the features are held once, not twice.
        let samples = |set: FeatureSet| {
            let (mut x, labels) = set.into_matrix_and_labels();
            fitted.transform_in_place(&mut x, dim);
            OwnedSamples::new(x, labels, dim, classes)
        };
        Ok(PreparedPair {
            train: samples(train)?,
            test: samples(test)?,
            train_rows,
            test_rows,
            classes,
            dim,
            class_names,
        })
    }
}

/// Record kind of `hiercog probe` runs in a results store.
const PROBE_KIND: &str = "probe";

/// The records of `hiercog probe`: a results store (or none, then nothing is kept), each record
/// naming the feature files and the preprocessing beside the result.
pub struct StoreRecords {
    store: Option<ResultsStore>,
    train: PathBuf,
    test: PathBuf,
    preprocess: Preprocess,
}

impl StoreRecords {
    /// Records of the runs on `train`/`test` in `store` (opened or created), or nowhere.
    pub fn open(
        store: Option<&Path>,
        train: &Path,
        test: &Path,
        preprocess: Preprocess,
    ) -> Result<Self> {
        Ok(StoreRecords {
            store: store.map(ResultsStore::open).transpose()?,
            train: train.to_path_buf(),
            test: test.to_path_buf(),
            preprocess,
        })
    }
}

impl ProbeRecords for StoreRecords {
    fn get(&self, key: &RunKey) -> Result<Option<ProbeResult>> {
        let Some(store) = &self.store else {
            return Ok(None);
        };
        store
            .get(key)?
            .map(|rec| probe_result(key, &rec))
            .transpose()
    }

    fn put(&self, key: &RunKey, result: &ProbeResult) -> Result<()> {
        if let Some(store) = &self.store {
            let rec = json!({
                "train": self.train.display().to_string(),
                "test": self.test.display().to_string(),
                "preprocess": self.preprocess.to_string(),
                "result": result,
            });
            store.put(key, PROBE_KIND, &rec)?;
        }
        Ok(())
    }
}

fn probe_result(key: &RunKey, record: &serde_json::Value) -> Result<ProbeResult> {
    serde_json::from_value(record["result"].clone()).map_err(|e| {
        Error::Invalid(format!(
            "results store record {key} is not a probe result ({e})"
        ))
    })
}

/// The `hiercog probe` runs of a store, grouped by data: `(train → test (preprocessing), runs)`,
/// sorted by that label, runs in the order they finished.
pub fn stored_probe_runs(store: &ResultsStore) -> Result<Vec<(String, Vec<ProbeResult>)>> {
    let mut groups: Vec<(String, Vec<ProbeResult>)> = Vec::new();
    for (key, rec) in store.list(Some(PROBE_KIND))? {
        let result = probe_result(&key, &rec)?;
        let label = format!(
            "{} → {} ({})",
            file_name(rec["train"].as_str()),
            file_name(rec["test"].as_str()),
            rec["preprocess"].as_str().unwrap_or("?")
        );
        match groups.iter_mut().find(|(l, _)| *l == label) {
            Some((_, runs)) => runs.push(result),
            None => groups.push((label, vec![result])),
        }
    }
    groups.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(groups)
}

fn file_name(p: Option<&str>) -> String {
    p.map(|p| {
        Path::new(p)
            .file_name()
            .map_or(p.to_string(), |f| f.to_string_lossy().into_owned())
    })
    .unwrap_or_else(|| "?".into())
}

/// `all` or the shot count.
pub fn shots_label(shots: Option<usize>) -> String {
    shots.map_or("all".into(), |s| s.to_string())
}

/// One row per group of runs that differ only by seed (first-seen order): mean ± std over seeds
/// of top-1, top-5, loss, hierarchical metrics and k-NN top-1.
pub fn summary_table(results: &[ProbeResult], title: Option<&str>) -> Table {
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
    for (data, runs) in seed_groups(results) {
        let vals = |f: &dyn Fn(&ProbeResult) -> Option<f64>| -> Vec<f64> {
            runs.iter().filter_map(|r| f(r)).collect()
        };
        t.push_row([
            data,
            runs[0].config.solver.to_string(),
            shots_label(runs[0].shots),
            runs.len().to_string(),
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
                vals(&|r| Some(r.wall_seconds)).iter().sum::<f64>() / runs.len() as f64
            ),
        ]);
    }
    t
}

/// Runs that differ only by seed, grouped in first-seen order, each group named by its data shape.
fn seed_groups(results: &[ProbeResult]) -> Vec<(String, Vec<&ProbeResult>)> {
    let mut groups: Vec<(String, String, Vec<&ProbeResult>)> = Vec::new();
    for r in results {
        let data = format!("{}x{} C={}", r.train_rows, r.dim, r.classes);
        // The retrieval metrics of one seed's run do not set it apart from the other seeds'.
        let config = ProtocolConfig {
            knn_retrieval: false,
            ..r.config.clone()
        };
        let id = format!(
            "{data}|{}|{:?}",
            serde_json::to_string(&config).unwrap_or_default(),
            r.shots
        );
        match groups.iter_mut().find(|(k, _, _)| *k == id) {
            Some((_, _, runs)) => runs.push(r),
            None => groups.push((id, data, vec![r])),
        }
    }
    groups
        .into_iter()
        .map(|(_, data, runs)| (data, runs))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::HashMap;

    use hiercog_features::Format;

    use super::*;

    /// Records kept in memory, counting the runs put.
    #[derive(Default)]
    struct Memory(RefCell<HashMap<RunKey, ProbeResult>>);

    impl ProbeRecords for Memory {
        fn get(&self, key: &RunKey) -> Result<Option<ProbeResult>> {
            Ok(self.0.borrow().get(key).cloned())
        }
        fn put(&self, key: &RunKey, result: &ProbeResult) -> Result<()> {
            self.0.borrow_mut().insert(key.clone(), result.clone());
            Ok(())
        }
    }

    /// Two well-separated classes in 3-d; `rows` per class; class names `a`, `b` of `tree`.
    fn write_set(path: &Path, rows: usize, offset: f32) {
        let mut x = Vec::new();
        let mut labels = Vec::new();
        for class in 0..2u32 {
            for i in 0..rows {
                let t = (i as f32 + offset) * 0.37;
                x.extend([class as f32 * 4.0 + t.sin(), t.cos(), 1.0 + class as f32]);
                labels.push(class);
            }
        }
        let names = Some(vec!["a".to_string(), "b".to_string()]);
        FeatureSet::from_vec(x, 3, labels, names)
            .unwrap()
            .save(path, Format::Npy)
            .unwrap();
    }

    fn plan() -> ProbePlan {
        ProbePlan {
            protocol: ProtocolConfig {
                knn: Some(hiercog_probe::KnnParams::default()),
                ..ProtocolConfig::default()
            },
            few_shot_knn: false,
            knn_retrieval_seed: Some(22),
            preprocess: Preprocess::L2,
            reduce: None,
            shots: vec![None, Some(2)],
            seeds: vec![22, 37],
            distance: DistanceConvention::LcaHeight,
            hierarchy: Vec::new(),
        }
    }

    #[test]
    fn keys_tell_runs_apart_and_few_shot_runs_skip_knn() {
        let p = plan();
        let fp = ["train".to_string(), "test".to_string()];
        let keys: Vec<RunKey> = p
            .runs()
            .iter()
            .map(|&(s, seed)| p.key(&fp, s, seed))
            .collect();
        assert_eq!(
            p.runs(),
            [(None, 22), (None, 37), (Some(2), 22), (Some(2), 37)]
        );
        for (i, k) in keys.iter().enumerate() {
            assert!(!keys[..i].contains(k), "run {i} shares a key");
        }
        assert!(p.protocol(None, 37).knn.is_some() && p.protocol(Some(2), 22).knn.is_none());
        // Retrieval metrics once per dataset: the all-data run of the first seed.
        let retrieval: Vec<bool> = p
            .runs()
            .iter()
            .map(|&(s, seed)| p.protocol(s, seed).knn_retrieval)
            .collect();
        assert_eq!(retrieval, [true, false, false, false]);
        let knn_everywhere = ProbePlan {
            few_shot_knn: true,
            ..plan()
        };
        assert!(knn_everywhere.protocol(Some(2), 22).knn.is_some());
        assert!(!knn_everywhere.protocol(Some(2), 22).knn_retrieval);
        assert_ne!(knn_everywhere.key(&fp, Some(2), 22), keys[2]);
        let standardized = ProbePlan {
            preprocess: Preprocess::Standardize,
            ..plan()
        };
        assert_ne!(standardized.key(&fp, None, 22), keys[0]);
        let shared = ProbePlan {
            hierarchy: vec!["a".into(), "b".into(), "c".into()],
            ..plan()
        };
        assert_ne!(shared.key(&fp, None, 22), keys[0]);
        let reduced = ProbePlan {
            reduce: Some("pca:16 fitted on abc".into()),
            ..plan()
        };
        assert_ne!(reduced.key(&fp, None, 22), keys[0]);
    }

    #[test]
    fn a_second_sweep_reuses_every_run_without_loading_the_features() {
        let dir = tempfile::tempdir().unwrap();
        let (train, test) = (dir.path().join("train"), dir.path().join("test"));
        write_set(&train, 12, 0.0);
        write_set(&test, 5, 0.5);
        let tree = Arc::new(Taxonomy::from_isa_str("root\ta\nroot\tb\n", Path::new("t")).unwrap());
        let records = Memory::default();
        let p = plan();
        let sweep = ProbeSweep {
            train: &train,
            test: &test,
            fingerprints: fingerprint_pair(&train, &test).unwrap(),
            plan: &p,
            records: &records,
            taxonomy: &|| Ok(tree.clone()),
            reducer: None,
        };
        let events = RefCell::new(Vec::new());
        let log = |e: SweepEvent<'_>| match e {
            SweepEvent::Reused { run, .. } => events.borrow_mut().push(format!("reused {run}")),
            SweepEvent::Loaded { hierarchical, .. } => {
                events.borrow_mut().push(format!("loaded {hierarchical}"))
            }
            SweepEvent::Finished { run, .. } => events.borrow_mut().push(format!("ran {run}")),
            _ => {}
        };
        let first = sweep.run(&log).unwrap();
        assert_eq!(
            events.take(),
            ["loaded true", "ran 0", "ran 1", "ran 2", "ran 3"]
        );
        assert_eq!(first.len(), 4);
        assert!(first[0].test.hierarchical.is_some() && first[0].knn.is_some());
        let scores = first[0]
            .knn_retrieval
            .as_ref()
            .expect("first seed, all data");
        assert!(scores.hap.is_some() && scores.map > 0.0);
        assert!(first[1].knn_retrieval.is_none() && first[1].knn.is_some());
        assert_eq!((first[3].shots, first[3].seed), (Some(2), 37));
        assert!(first[3].knn.is_none());

        // The feature files are gone: a sweep that tried to load them would fail.
        std::fs::remove_dir_all(&train).unwrap();
        let again = sweep.run(&log).unwrap();
        assert_eq!(
            events.take(),
            ["reused 0", "reused 1", "reused 2", "reused 3"]
        );
        let top1 = |rs: &[ProbeResult]| rs.iter().map(|r| r.test.top1).collect::<Vec<_>>();
        assert_eq!(top1(&again), top1(&first));

        let table = summary_table(&first, None);
        assert_eq!(table.rows.len(), 2, "one row per shot count, seeds pooled");
        assert_eq!(&table.rows[1][1..4], ["fast", "2", "2"]);
    }
}
