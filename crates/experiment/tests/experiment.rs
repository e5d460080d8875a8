//! A whole experiment in seconds on a CoG run made in memory: Gaussian features whose clusters
//! follow a small is-a tree, 2 recipes (and t-ReX) × 2 seeds, the self-supervised recipes (MoCHi,
//! MoCHi-LCA) in the same table, then resumption and the errors of bad input (labels, recipes,
//! another configuration, unreadable images).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hiercog_cog::{LabelledImages, Split};
use hiercog_experiment::{CogRun, Depth, Experiment, ExperimentConfig, Task};
use hiercog_features::{FeatureSet, Format, Preprocess};
use hiercog_probe::ProtocolConfig;
use hiercog_run::report::ReportInput;
use hiercog_run::sweep::ProbePlan;
use hiercog_run::Observer;
use hiercog_taxonomy::{DistanceConvention, Taxonomy};
use hiercog_train::{FeatureViews, ViewProgress, ViewSpec};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// root → {animal → {dog, cat, bird}, thing → {car, cup, chair}, plant → {oak, fir}}.
const ISA: &str =
    "root\tanimal\nroot\tthing\nroot\tplant\nanimal\tdog\nanimal\tcat\nanimal\tbird\n\
thing\tcar\nthing\tcup\nthing\tchair\nplant\toak\nplant\tfir\n";
const DIM: usize = 12;
const PER_CLASS: usize = 10;

/// A finished CoG run in memory: seen = {dog, cat, car, cup}, L1 = {bird, chair}, L2 = {oak, fir}.
struct FakeRun {
    tax: Arc<Taxonomy>,
    dir: PathBuf,
    seen: Vec<String>,
    images: Option<Vec<(PathBuf, u32)>>,
}

/// A point of `concept`'s cluster: a vector per parent plus a smaller one per concept, plus noise.
fn point(concept: &str, parent: &str, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let direction = |name: &str, k: usize| {
        let h = name.bytes().fold(k as u32 * 7919, |a, b| {
            a.wrapping_mul(31).wrapping_add(b as u32)
        });
        ((h % 1000) as f32 / 500.0) - 1.0
    };
    (0..DIM)
        .map(|k| 2.0 * direction(parent, k) + direction(concept, k) + rng.random_range(-1.5..1.5))
        .collect()
}

fn parent_of(concept: &str) -> &'static str {
    match concept {
        "dog" | "cat" | "bird" => "animal",
        "car" | "cup" | "chair" => "thing",
        _ => "plant",
    }
}

impl FakeRun {
    fn new(dir: &Path, seen: &[&str]) -> FakeRun {
        let tax = Arc::new(Taxonomy::from_isa_str(ISA, Path::new("isa.tsv")).unwrap());
        let run = FakeRun {
            tax,
            dir: dir.to_path_buf(),
            seen: seen.iter().map(|s| s.to_string()).collect(),
            images: None,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for (name, classes) in run.dataset_classes() {
            for split in [Split::Train, Split::Test] {
                let (mut x, mut y) = (Vec::new(), Vec::new());
                for (label, c) in classes.iter().enumerate() {
                    for _ in 0..PER_CLASS {
                        x.extend(point(c, parent_of(c), &mut rng));
                        y.push(label as u32);
                    }
                }
                FeatureSet::from_vec(x, DIM, y, Some(classes.clone()))
                    .unwrap()
                    .save(&run.path(&name, split), Format::Npy)
                    .unwrap();
            }
        }
        run
    }

    fn dataset_classes(&self) -> Vec<(String, Vec<String>)> {
        let s = |v: &[&str]| v.iter().map(|c| c.to_string()).collect::<Vec<_>>();
        vec![
            ("seen".into(), self.seen.clone()),
            ("L1".into(), s(&["bird", "chair"])),
            ("L2".into(), s(&["oak", "fir"])),
        ]
    }

    fn path(&self, dataset: &str, split: Split) -> PathBuf {
        self.dir.join(format!("{dataset}-{split}"))
    }
}

impl CogRun for FakeRun {
    fn baseline(&self) -> hiercog_experiment::Result<ReportInput> {
        Ok(ReportInput {
            synthetic: true,
            model: "fake".into(),
            solver: "fast".into(),
            seeds: vec![],
            datasets: vec![
                ("seen".into(), None),
                ("L1".into(), Some(0.5)),
                ("L2".into(), Some(0.1)),
            ],
            runs: vec![],
            missing_runs: 0,
            levels_dir: None,
            hierarchy: "the classes of each dataset".into(),
            reduction: None,
        })
    }

    fn taxonomy(&self) -> hiercog_experiment::Result<Arc<Taxonomy>> {
        Ok(self.tax.clone())
    }

    fn features(&self, dataset: &str, split: Split) -> hiercog_experiment::Result<PathBuf> {
        Ok(self.path(dataset, split))
    }

    fn images(&self, dataset: &str, split: Split) -> hiercog_experiment::Result<LabelledImages> {
        let classes = self
            .dataset_classes()
            .into_iter()
            .find(|d| d.0 == dataset)
            .unwrap()
            .1;
        let items = match &self.images {
            Some(items) => items.clone(),
            None => {
                let set = FeatureSet::load(&self.path(dataset, split)).unwrap();
                set.labels
                    .iter()
                    .enumerate()
                    .map(|(i, &l)| (PathBuf::from(format!("{dataset}/{i}.png")), l))
                    .collect()
            }
        };
        Ok(LabelledImages { items, classes })
    }

    fn frozen_shape(&self) -> hiercog_experiment::Result<(u32, usize)> {
        Ok((224, DIM))
    }

    /// The training features with noise, one copy per stored view.
    fn train_views(
        &self,
        spec: &ViewSpec,
        _cache: &Path,
        _workers: usize,
        _progress: &dyn Fn(ViewProgress),
    ) -> hiercog_experiment::Result<FeatureViews> {
        let set = FeatureSet::load(&self.path("seen", Split::Train)).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
        let mut views = FeatureViews::plain("fake", set.x().to_vec(), set.rows(), DIM);
        views.groups = spec
            .groups
            .iter()
            .map(|g| hiercog_train::views::StoredViews {
                views: g.views,
                data: (0..g.views)
                    .flat_map(|_| set.x().to_vec())
                    .map(|v| v + rng.random_range(-0.2..0.2))
                    .collect(),
            })
            .collect();
        Ok(views)
    }

    fn probe_plan(&self) -> hiercog_experiment::Result<ProbePlan> {
        Ok(ProbePlan {
            protocol: ProtocolConfig::default(),
            few_shot_knn: false,
            knn_retrieval_seed: None,
            preprocess: Preprocess::L2,
            reduce: None,
            shots: vec![None, Some(2)],
            seeds: vec![0],
            distance: DistanceConvention::LcaHeight,
            hierarchy: Vec::new(),
        })
    }
}

/// Collects the notes, to see what was reused.
#[derive(Default)]
struct Notes(std::sync::Mutex<Vec<String>>);

impl Observer for Notes {
    fn task(&self, label: &str, _: &str) {
        self.0.lock().unwrap().push(format!("task {label}"));
    }
    fn progress(&self, _: &str, _: usize, _: usize) {}
    fn note(&self, message: &str) {
        self.0.lock().unwrap().push(message.to_string());
    }
}

fn config(recipes: &str) -> ExperimentConfig {
    ExperimentConfig {
        recipes: recipes.split(',').map(|r| r.parse().unwrap()).collect(),
        seeds: vec![1, 2],
        epochs: Some(3),
        ..ExperimentConfig::default()
    }
}

#[test]
fn a_tiny_experiment_runs_reports_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let run = FakeRun::new(tmp.path(), &["dog", "cat", "car", "cup"]);
    let out = tmp.path().join("exp");
    let exp = Experiment::new(&run, config("ce,hxe:0.5,trex"), &out).unwrap();
    assert_eq!(exp.tasks().len(), 1 + 3 * 2 + 1);
    assert_eq!(exp.tasks()[0], Task::Views);

    let notes = Notes::default();
    let report = exp.run_all(&notes).unwrap();
    assert_eq!(report.datasets, ["seen", "L1", "L2"]);
    assert_eq!(report.rows.len(), 3);
    for row in &report.rows {
        assert_eq!(row.per_seed.len(), 2, "{}", row.recipe);
        let seen = row.top1[0].as_ref().unwrap();
        assert!(seen.mean > 50.0, "{}: seen top-1 {}", row.recipe, seen.mean);
        assert!(
            row.mistake_severity.is_some() && row.hdist_at_5.is_some(),
            "{}: {:?}",
            row.recipe,
            row.per_seed
        );
        assert_eq!(row.few_shot[1].keys().copied().collect::<Vec<_>>(), [2]);
        assert!(row.train_seconds.is_some());
    }
    // Every recipe but ce against ce, on every metric; one answer per recipe.
    assert_eq!(report.comparisons.len(), 2 * (1 + 3 + 2));
    // Every recipe but ce against ce, and one sentence over the hierarchical recipes first.
    assert_eq!(report.answer.len(), 3);
    assert!(
        report.answer[0]
            .starts_with("Training with the hierarchy (hxe:0.5) against plain cross-entropy"),
        "{}",
        report.answer[0]
    );
    assert!(
        report.answer[1].starts_with("hxe:0.5 vs ce"),
        "{}",
        report.answer[1]
    );
    for f in [
        "experiment.md",
        "experiment.json",
        "experiment.csv",
        "comparisons.csv",
        "top1_by_recipe.png",
        "few_shot_L2.svg",
    ] {
        assert!(out.join("report").join(f).is_file(), "{f} missing");
    }
    let md = std::fs::read_to_string(out.join("report/experiment.md")).unwrap();
    assert!(md.contains("| hxe:0.5 |     2 |"), "{md}");
    assert!(
        !md.contains("| pretrained"),
        "no baseline runs, no pretrained row:\n{md}"
    );

    // Again: every unit is reused, the numbers are the same.
    let notes = Notes::default();
    let again = exp.run_all(&notes).unwrap();
    let reused = notes
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|n| n.ends_with("finished earlier"))
        .count();
    assert_eq!(reused, 6);
    assert_eq!(again.rows[1].per_seed, report.rows[1].per_seed);

    // A unit killed after training and probing, before its commit point: nothing is redone
    // (the trained model, its features and the probe records are reused), same numbers.
    let unit_dir = out.join("hxe_0.5").join("seed-2");
    std::fs::remove_file(unit_dir.join("result.json")).unwrap();
    let notes = Notes::default();
    let resumed = exp.run_all(&notes).unwrap();
    assert_eq!(resumed.rows[1].per_seed, report.rows[1].per_seed);
    assert!(unit_dir.join("result.json").is_file());
}

#[test]
fn self_supervised_recipes_join_the_table_and_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let run = FakeRun::new(tmp.path(), &["dog", "cat", "car", "cup"]);
    let out = tmp.path().join("exp");
    let cfg = config("ce,mochi:8:4:4,mochi-lca:8:4:4");
    let exp = Experiment::new(&run, cfg, &out).unwrap();
    let report = exp.run_all(&Notes::default()).unwrap();
    let names: Vec<&str> = report.rows.iter().map(|r| r.recipe.as_str()).collect();
    assert_eq!(names, ["ce", "mochi:8:4:4", "mochi-lca:8:4:4"]);
    for row in &report.rows {
        assert_eq!(row.per_seed.len(), 2, "{}", row.recipe);
        for (i, d) in report.datasets.iter().enumerate() {
            let top1 = row.top1[i].as_ref().unwrap().mean;
            assert!(top1.is_finite() && top1 > 0.0, "{} {d}: {top1}", row.recipe);
        }
    }
    // The trunk was trained by MoCHi-LCA: InfoNCE over the MoCo-v2 views, with its diagnostics.
    let metrics =
        std::fs::read_to_string(out.join("mochi-lca_8_4_4/seed-1/train/metrics.csv")).unwrap();
    assert!(
        metrics.lines().next().unwrap().contains("dropped_pct"),
        "{metrics}"
    );
    assert_eq!(metrics.lines().count(), 1 + 3, "3 epochs");
    // Both against ce on every metric, MoCHi-LCA also against MoCHi (the hierarchy alone).
    assert_eq!(report.comparisons.len(), 3 * (1 + 3 + 2));
    assert!(report
        .comparisons
        .iter()
        .any(|c| c.recipe == "mochi-lca:8:4:4" && c.control == "mochi:8:4:4"));
    assert!(
        report.answer[0].starts_with(
            "Training with the hierarchy (mochi-lca:8:4:4) against the same training without it \
             (mochi-lca:8:4:4 vs mochi:8:4:4)"
        ),
        "{}",
        report.answer[0]
    );

    // Again: reused. A unit whose commit point is lost: its training and probes are reused.
    let notes = Notes::default();
    exp.run_all(&notes).unwrap();
    let notes = notes.0.into_inner().unwrap();
    assert_eq!(
        notes
            .iter()
            .filter(|n| n.ends_with("finished earlier"))
            .count(),
        6
    );
    let unit_dir = out.join("mochi-lca_8_4_4").join("seed-2");
    std::fs::remove_file(unit_dir.join("result.json")).unwrap();
    let resumed = exp.run_all(&Notes::default()).unwrap();
    assert_eq!(resumed.rows[2].per_seed, report.rows[2].per_seed);

    // Adding a self-supervised recipe leaves the finished supervised units valid.
    let ce_only = Experiment::new(&run, config("ce"), &out).unwrap();
    let notes = Notes::default();
    ce_only.run_all(&notes).unwrap();
    assert_eq!(
        notes
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|n| n.ends_with("finished earlier"))
            .count(),
        2
    );
}

#[test]
fn bad_labels_recipes_and_configurations_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let err = |seen: &[&str]| {
        let dir = tmp.path().join(seen.join("-"));
        std::fs::create_dir_all(&dir).unwrap();
        let run = FakeRun::new(&dir, seen);
        Experiment::new(&run, config("ce"), &dir.join("exp"))
            .err()
            .expect("refused")
            .to_string()
    };
    let missing = err(&["dog", "cat", "dgo"]);
    assert!(
        missing.contains("not in the hierarchy: \"dgo\""),
        "{missing}"
    );
    let ancestor = err(&["dog", "animal", "car"]);
    assert!(
        ancestor.contains("ancestors of other labels (animal > dog"),
        "{ancestor}"
    );

    for (recipe, expected) in [
        ("hex:0.1", "did you mean \"hxe\"?"),
        ("trx", "did you mean \"trex\"?"),
        ("hxe:-1", "HXE α = -1 is out of range"),
        ("soft:0", "soft-label β = 0 is out of range"),
        ("soft:nan", "soft-label β = NaN is out of range"),
    ] {
        let e = recipe
            .parse::<hiercog_experiment::Recipe>()
            .unwrap_err()
            .to_string();
        assert!(e.contains(expected), "{recipe}: {e}");
        assert!(e.contains(recipe), "{recipe}: {e}");
    }

    // A finished directory is not overwritten by another configuration.
    let run = FakeRun::new(tmp.path(), &["dog", "cat", "car", "cup"]);
    let out = tmp.path().join("exp");
    let one = ExperimentConfig {
        seeds: vec![5],
        epochs: Some(1),
        ..config("ce")
    };
    Experiment::new(&run, one.clone(), &out)
        .unwrap()
        .run_all(&Notes::default())
        .unwrap();
    let result = out.join("ce/seed-5/result.json");
    let before = std::fs::read(&result).unwrap();
    let other = ExperimentConfig {
        epochs: Some(2),
        ..one
    };
    let e = Experiment::new(&run, other, &out)
        .unwrap()
        .run_all(&Notes::default())
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("was made by another configuration of ce seed 5"),
        "{e}"
    );
    assert_eq!(std::fs::read(&result).unwrap(), before);
}

#[test]
fn unreadable_training_images_are_named_before_training() {
    let tmp = tempfile::tempdir().unwrap();
    let mut run = FakeRun::new(tmp.path(), &["dog", "cat"]);
    let mut items = Vec::new();
    for i in 0..4u32 {
        let p = tmp.path().join(format!("img{i}.png"));
        image::RgbImage::from_pixel(8, 8, image::Rgb([40 * i as u8, 90, 200]))
            .save(&p)
            .unwrap();
        items.push((p, i % 2));
    }
    let broken = tmp.path().join("broken.png");
    std::fs::write(&broken, b"not a png").unwrap();
    items.push((broken.clone(), 0));
    run.images = Some(items);
    let cfg = ExperimentConfig {
        depth: Depth::SmallResnet,
        seeds: vec![1],
        epochs: Some(1),
        ..config("ce")
    };
    let out = tmp.path().join("exp");
    let exp = Experiment::new(&run, cfg, &out).unwrap();
    let e = exp.run_all(&Notes::default()).unwrap_err().to_string();
    assert!(e.contains("broken.png"), "{e}");
    // Nothing half-written: no checkpoint, no result.
    assert!(!out.join("ce/seed-1/train/checkpoint.json").exists());
    assert!(!out.join("ce/seed-1/result.json").exists());
}
