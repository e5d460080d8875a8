//! `hiercog plan --estimate`: the compute a configured run needs, stage by stage, before it runs.
//!
//! * **probe**: every protocol run of the config (each dataset × all data and each shot count ×
//!   seed, with the k-NN probe on all data and its retrieval metrics on the first seed's, as
//!   [`Pipeline::protocol_plan`] runs them) priced by the probe cost model fitted to measured runs
//!   ([`hiercog_probe::cost::CostModel::fitted`]); peak memory from the same formula as the Slurm
//!   plan's probe tasks ([`probe_memory_bytes`](crate::slurm::probe_memory_bytes));
//! * **extract**: images × the backbone's measured CPU core-seconds per image, one thread
//!   (`data/extract_cost.tsv`, written by `data/extract_cost.sh`), and its peak memory at the
//!   configured batch (a line through the measured batches 16 and 64); GPU time only from a
//!   throughput the user gives (no GPU was measured);
//! * **prepare** and **report** are not modelled (file-system bound; seconds of compute).
//!
//! Dataset sizes are upper bounds: `train_per_concept` and `test_per_concept` images for every
//! concept (real concepts may have fewer).

use serde::Serialize;

use hiercog_probe::cost::{CostModel, ProbeShape};
use hiercog_report::table::Table;

use crate::config::{ImageSource, LevelSource};
use crate::slurm::probe_memory_bytes;
use crate::stages::Pipeline;
use crate::{prepare, Error, Result, SEEN};

/// What the estimate needs beyond the config.
#[derive(Clone, Debug, Default)]
pub struct EstimateOptions {
    /// Images per second of one GPU running the backbone (extraction GPU-hours); none: not given.
    pub gpu_img_per_s: Option<f64>,
}

/// One dataset of the run (the seen set or a level).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DatasetEstimate {
    /// `seen` or `L1`...
    pub name: String,
    /// Concepts (classes).
    pub classes: usize,
    /// Train images at most.
    pub train_images: usize,
    /// Test images at most.
    pub test_images: usize,
    /// Protocol runs (all data and each shot count, × seeds).
    pub probe_runs: usize,
    /// Core-hours of its probe runs (one thread each).
    pub probe_core_hours: f64,
    /// Peak memory of one of its probe tasks (GB).
    pub probe_peak_gb: f64,
    /// Core-hours of extracting its train and test features; `None` for a backbone not measured.
    pub extract_core_hours: Option<f64>,
    /// GPU-hours of the same, from the given GPU throughput.
    pub extract_gpu_hours: Option<f64>,
}

/// One stage of the run, summed over its tasks.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StageEstimate {
    /// `prepare`, `extract`, `probe` or `report`.
    pub stage: String,
    /// Tasks of the stage.
    pub tasks: usize,
    /// CPU core-hours; `None` where not modelled.
    pub core_hours: Option<f64>,
    /// GPU-hours, where a GPU throughput was given.
    pub gpu_hours: Option<f64>,
    /// Peak memory of one task (GB); `None` where not modelled.
    pub peak_gb: Option<f64>,
    /// How the figures were obtained, or why there are none.
    pub note: String,
}

/// The estimate of a configured run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Estimate {
    /// The backbone.
    pub model: String,
    /// Its feature dimension (the probes' dimension unless a reduction is configured).
    pub feature_dim: usize,
    /// The probes' dimension.
    pub probe_dim: usize,
    /// Per dataset.
    pub datasets: Vec<DatasetEstimate>,
    /// Per stage.
    pub stages: Vec<StageEstimate>,
    /// Where the probe cost model comes from and its error on held-out shapes.
    pub cost_model: Vec<String>,
}

/// A backbone's measured extraction cost (a line of `data/extract_cost.tsv`).
#[derive(Clone, Debug, PartialEq)]
pub struct ExtractCost {
    /// Registry name.
    pub model: String,
    /// CPU core-seconds per image (decode, preprocess, forward, write; one thread).
    pub core_s_per_image: f64,
    /// Peak resident memory (GB) at batch 16.
    pub peak_gb_batch16: f64,
    /// Peak resident memory (GB) at batch 64.
    pub peak_gb_batch64: f64,
}

impl ExtractCost {
    /// The measured backbones, compiled in from `data/extract_cost.tsv`.
    pub fn measured() -> Vec<ExtractCost> {
        ExtractCost::parse(include_str!("../data/extract_cost.tsv"))
            .expect("data/extract_cost.tsv is written by data/extract_cost.sh and tested")
    }

    /// Reads `model<TAB>core_s_per_image<TAB>peak_gb_batch16<TAB>peak_gb_batch64` lines (`#`
    /// lines are comments).
    pub fn parse(text: &str) -> Result<Vec<ExtractCost>> {
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.starts_with('#') && !l.trim().is_empty())
            .map(|(i, line)| {
                let f: Vec<&str> = line.split('\t').collect();
                let num = |j: usize| f.get(j).and_then(|v| v.parse::<f64>().ok());
                match (f.first(), num(1), num(2), num(3)) {
                    (Some(m), Some(c), Some(a), Some(b)) if f.len() == 4 => Ok(ExtractCost {
                        model: m.to_string(),
                        core_s_per_image: c,
                        peak_gb_batch16: a,
                        peak_gb_batch64: b,
                    }),
                    _ => Err(Error::Invalid(format!(
                        "extract cost line {}: expected model and three numbers, got {line:?}",
                        i + 1
                    ))),
                }
            })
            .collect()
    }

    /// Peak memory (GB) at `batch` images per forward pass: the line through the two measured
    /// batch sizes.
    pub fn peak_gb(&self, batch: usize) -> f64 {
        let per_image = (self.peak_gb_batch64 - self.peak_gb_batch16) / 48.0;
        (self.peak_gb_batch16 + per_image * (batch as f64 - 16.0)).max(0.0)
    }
}

/// Classes, train and test images of each dataset of the run, in [`Pipeline::datasets`] order.
/// The levels are the prepared ones when the prepare stage has run, else the configured sizes.
pub fn dataset_sizes(p: &Pipeline) -> Result<Vec<(String, usize, usize, usize)>> {
    let cfg = p.config();
    let seen = prepare::seen_list(cfg, p.dir(), p.taxonomy()?)?
        .names()
        .len();
    let prepared = p.benchmark().ok();
    let level_classes = |i: usize| match (prepared, cfg.levels.source) {
        (Some(b), _) => b.levels().get(i).map_or(0, |l| l.concepts.len()),
        (None, LevelSource::Build) => cfg.levels.concepts_per_level,
        // The official ImageNet-CoG levels: 5 × 1,000 concepts.
        (None, LevelSource::Official) => 1000,
        (None, LevelSource::Dir) => 0,
    };
    let test = cfg.images.test_per_concept;
    let train = match cfg.images.source {
        ImageSource::Synthetic => cfg
            .images
            .train_per_concept
            .min(cfg.images.synthetic_per_concept.saturating_sub(test)),
        ImageSource::Folders => cfg.images.train_per_concept,
    };
    Ok(p.datasets()?
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let classes = if name == SEEN {
                seen
            } else {
                level_classes(i - 1)
            };
            (name, classes, classes * train, classes * test)
        })
        .collect())
}

/// Estimates the compute of the pipeline's run.
pub fn estimate(p: &Pipeline, opts: &EstimateOptions) -> Result<Estimate> {
    let cfg = p.config();
    let spec = hiercog_nn::model_spec(&cfg.model.name)?;
    if cfg.probe.solver != hiercog_probe::SolverKind::Fast {
        return Err(Error::Invalid(format!(
            "the cost model is fitted to the fast solver's protocol; the {} solver's is not \
             modelled (estimate with the fast solver, or time one run of it)",
            cfg.probe.solver
        )));
    }
    if let Some(g) = opts.gpu_img_per_s.filter(|g| !(g.is_finite() && *g > 0.0)) {
        return Err(Error::Invalid(format!(
            "GPU throughput {g} images/s: must be a positive number"
        )));
    }
    let probe_dim = cfg
        .probe
        .reduce
        .as_ref()
        .map_or(spec.feature_dim, |r| r.output_dim());
    let model = CostModel::fitted();
    let extract = ExtractCost::measured()
        .into_iter()
        .find(|e| e.model == spec.name);
    let plan = p.protocol_plan();
    let mut datasets = Vec::new();
    for (name, classes, train, test) in dataset_sizes(p)? {
        let mut seconds = 0.0;
        let mut runs = 0;
        for &shots in &plan.shots {
            for &seed in &plan.seeds {
                let shape = ProbeShape {
                    train_rows: train,
                    test_rows: test,
                    dim: probe_dim,
                    classes,
                    shots,
                };
                let protocol = plan.protocol(shots, seed);
                seconds += model.linear_seconds(&shape);
                if protocol.knn.is_some() {
                    seconds += model.knn_seconds(&shape);
                }
                if protocol.knn_retrieval {
                    seconds += model.retrieval_seconds(&shape);
                }
                runs += 1;
            }
        }
        let images = (train + test) as f64;
        datasets.push(DatasetEstimate {
            name,
            classes,
            train_images: train,
            test_images: test,
            probe_runs: runs,
            probe_core_hours: seconds / 3600.0,
            probe_peak_gb: probe_memory_bytes(train + test, spec.feature_dim) / 1e9,
            extract_core_hours: extract
                .as_ref()
                .map(|e| images * e.core_s_per_image / 3600.0),
            extract_gpu_hours: opts.gpu_img_per_s.map(|g| images / g / 3600.0),
        });
    }
    let sum = |f: fn(&DatasetEstimate) -> Option<f64>| datasets.iter().map(f).sum::<Option<f64>>();
    let max = |f: fn(&DatasetEstimate) -> f64| datasets.iter().map(f).fold(0.0, f64::max);
    let extract_note = match &extract {
        Some(_) => format!(
            "{} measured on one CPU thread (data/extract_cost.tsv); GPU: {}",
            spec.name,
            match opts.gpu_img_per_s {
                Some(g) => format!("at the given {g} images/s"),
                None => "not measured (give a GPU's images/s for GPU-hours)".into(),
            }
        ),
        None => format!(
            "{}: CPU throughput not measured (measured: {}); give a GPU's images/s for GPU-hours",
            spec.name,
            ExtractCost::measured()
                .iter()
                .map(|e| e.model.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut probe_note = String::from(
        "fast solver, cost model fitted to measured runs (one thread per run: CPU time)",
    );
    if let Some(r) = &cfg.probe.reduce {
        probe_note.push_str(&format!(
            "; at the reduced dimension {}, the reduction's own fit not included",
            r.output_dim()
        ));
    }
    let stages = vec![
        StageEstimate {
            stage: "prepare".into(),
            tasks: 1,
            core_hours: None,
            gpu_hours: None,
            peak_gb: None,
            note: "not modelled: levels take seconds; counting and listing images is file-system bound"
                .into(),
        },
        StageEstimate {
            stage: "extract".into(),
            tasks: 2 * datasets.len(),
            core_hours: sum(|d| d.extract_core_hours),
            gpu_hours: sum(|d| d.extract_gpu_hours),
            peak_gb: extract.as_ref().map(|e| e.peak_gb(cfg.model.batch)),
            note: extract_note,
        },
        StageEstimate {
            stage: "probe".into(),
            tasks: datasets.iter().map(|d| d.probe_runs).sum(),
            core_hours: Some(datasets.iter().map(|d| d.probe_core_hours).sum()),
            gpu_hours: None,
            peak_gb: Some(max(|d| d.probe_peak_gb)),
            note: probe_note,
        },
        StageEstimate {
            stage: "report".into(),
            tasks: 1,
            core_hours: None,
            gpu_hours: None,
            peak_gb: None,
            note: "not modelled: reads the result files (seconds)".into(),
        },
    ];
    Ok(Estimate {
        model: spec.name.to_string(),
        feature_dim: spec.feature_dim,
        probe_dim,
        datasets,
        stages,
        cost_model: model.provenance,
    })
}

/// A number of hours with a precision that suits it.
fn hours(h: Option<f64>) -> String {
    match h {
        None => "–".into(),
        Some(h) if h >= 100.0 => format!("{h:.0}"),
        Some(h) if h >= 1.0 => format!("{h:.1}"),
        Some(h) => format!("{h:.3}"),
    }
}

/// The estimate as two tables: per dataset, then per stage.
pub fn estimate_tables(e: &Estimate) -> [Table; 2] {
    let gb = |g: Option<f64>| g.map_or("–".into(), |g| format!("{g:.1}"));
    let mut per_dataset = Table::new([
        "dataset",
        "classes",
        "train images",
        "test images",
        "probe runs",
        "probe core-h",
        "probe peak GB",
        "extract core-h",
        "extract GPU-h",
    ])
    .with_title(format!(
        "{} ({}-d features, probes at {}-d): at most these many images",
        e.model, e.feature_dim, e.probe_dim
    ));
    for d in &e.datasets {
        per_dataset.push_row([
            d.name.clone(),
            d.classes.to_string(),
            d.train_images.to_string(),
            d.test_images.to_string(),
            d.probe_runs.to_string(),
            hours(Some(d.probe_core_hours)),
            gb(Some(d.probe_peak_gb)),
            hours(d.extract_core_hours),
            hours(d.extract_gpu_hours),
        ]);
    }
    let mut per_stage = Table::new(["stage", "tasks", "core-h", "GPU-h", "peak GB", "how"])
        .with_title("per stage (peak: of one task)");
    for s in &e.stages {
        per_stage.push_row([
            s.stage.clone(),
            s.tasks.to_string(),
            hours(s.core_hours),
            hours(s.gpu_hours),
            gb(s.peak_gb),
            s.note.clone(),
        ]);
    }
    [per_dataset, per_stage]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RunConfig;

    fn estimate_of(toml: &str) -> Estimate {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg: RunConfig = toml::from_str(toml).unwrap();
        cfg.run_dir = dir.path().join("run");
        estimate(&Pipeline::new(cfg).unwrap(), &EstimateOptions::default()).unwrap()
    }

    fn probe_hours(e: &Estimate) -> f64 {
        e.stages[2].core_hours.unwrap()
    }

    #[test]
    fn the_default_run_is_counted_as_it_runs() {
        let e = estimate_of("");
        // Seen (49 synthetic concepts) and 5 levels of 15; 24 train and 16 test images each.
        let names: Vec<_> = e.datasets.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["seen", "L1", "L2", "L3", "L4", "L5"]);
        assert_eq!(
            (
                e.datasets[0].classes,
                e.datasets[0].train_images,
                e.datasets[0].test_images
            ),
            (49, 49 * 24, 49 * 16)
        );
        assert_eq!(e.datasets[1].classes, 15);
        // All data + 5 shot counts, 3 seeds.
        assert!(e.datasets.iter().all(|d| d.probe_runs == 18));
        assert_eq!(e.stages[2].tasks, 108);
        assert_eq!(e.stages[1].tasks, 12);
        assert_eq!((e.feature_dim, e.probe_dim), (1280, 1280));
        // Lite0 is measured: extraction has CPU core-hours, but no GPU-hours without a throughput.
        assert!(e.stages[1].core_hours.unwrap() > 0.0 && e.stages[1].gpu_hours.is_none());
        assert!(e.cost_model.iter().any(|l| l.contains("held-out")));
    }

    #[test]
    fn seeds_and_shots_multiply_as_the_protocol_does() {
        let one = probe_hours(&estimate_of(
            "[probe]\nshots = []\nseeds = [22]\nknn = false\n",
        ));
        let three = probe_hours(&estimate_of(
            "[probe]\nshots = []\nseeds = [22, 37, 45]\nknn = false\n",
        ));
        assert!((three / one - 3.0).abs() < 1e-9, "{three} vs 3 × {one}");
        // Each shot count adds a run per seed, cheaper than the all-data run.
        let shots = probe_hours(&estimate_of(
            "[probe]\nshots = [4]\nseeds = [22]\nknn = false\n",
        ));
        assert!(shots > one && shots < 2.0 * one, "{shots} vs {one}");
        // k-NN adds its cost to the all-data runs.
        let knn = probe_hours(&estimate_of("[probe]\nshots = []\nseeds = [22]\n"));
        assert!(knn > one);
    }

    #[test]
    fn bigger_runs_cost_more() {
        let base = estimate_of("[levels]\nconcepts_per_level = 10\n");
        for bigger in [
            // More classes per level, more images per class, a wider backbone.
            "[levels]\nconcepts_per_level = 15\n",
            "[levels]\nconcepts_per_level = 10\n[images]\nsynthetic_per_concept = 60\ntrain_per_concept = 44\n",
            "[levels]\nconcepts_per_level = 10\n[model]\nname = \"resnet50\"\n",
        ] {
            let e = estimate_of(bigger);
            assert!(probe_hours(&e) > probe_hours(&base), "{bigger}");
            assert!(e.stages[2].peak_gb >= base.stages[2].peak_gb, "{bigger}");
        }
    }

    #[test]
    fn a_gpu_throughput_gives_gpu_hours_and_a_bad_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = Pipeline::new(RunConfig {
            run_dir: dir.path().join("run"),
            ..RunConfig::default()
        })
        .unwrap();
        let e = estimate(
            &p,
            &EstimateOptions {
                gpu_img_per_s: Some(1000.0),
            },
        )
        .unwrap();
        // 49 + 5 × 15 = 124 concepts × 40 images at 1,000 images/s.
        let gpu_h = e.stages[1].gpu_hours.unwrap();
        assert!(
            (gpu_h - 124.0 * 40.0 / 1000.0 / 3600.0).abs() < 1e-12,
            "{gpu_h}"
        );
        let err = estimate(
            &p,
            &EstimateOptions {
                gpu_img_per_s: Some(0.0),
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("positive"), "{err}");
    }

    #[test]
    fn the_measured_extraction_costs_read_back() {
        let costs = ExtractCost::measured();
        assert!(costs.iter().any(|c| c.model == "efficientnet-lite0"));
        for c in &costs {
            assert!(c.core_s_per_image > 0.0 && c.peak_gb(16) > 0.0, "{c:?}");
            hiercog_nn::model_spec(&c.model).unwrap();
        }
        let err = ExtractCost::parse("# x\nresnet50\t1.0\n").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
