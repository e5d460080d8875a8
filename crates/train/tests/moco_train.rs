//! MoCo-v2, MoCHi and MoCHi-LCA end to end on tiny data: the proxy task is learned, the
//! diagnostics are logged, an interrupted run resumes (queue and key encoder restored) to the
//! uninterrupted weights, images go through MoCo-v2's augmentation, bad settings are refused.

use candle_core::{Device, Tensor};
use hiercog_losses::{LabelTree, TreeFromDag};
use hiercog_nn::trainable::{Architecture, MlpConfig, ResNetConfig, WEIGHTS_FILE};
use hiercog_taxonomy::Taxonomy;
use hiercog_train::trainer::{METRICS_FILE, MODEL_DIR};
use hiercog_train::{
    pretrain, train, Augmentation, ContrastiveRecipe, FeatureViews, Head, InfoNce, MocoConfig,
    Objective, Progress, RunOptions, TrainConfig, TrainSet,
};
use rand::{Rng, SeedableRng};
use std::path::Path;
use support::{image_set, run_child};

mod support;

const CLASSES: usize = 4;

/// Four Gaussian blobs in 8-D, four stored views per row (jittered copies of the row).
fn blobs() -> TrainSet {
    let (rows, dim, views) = (96, 8, 4);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let centers: Vec<Vec<f32>> = (0..CLASSES)
        .map(|_| (0..dim).map(|_| rng.random_range(-3.0..3.0)).collect())
        .collect();
    let labels: Vec<u32> = (0..rows).map(|i| (i % CLASSES) as u32).collect();
    let points: Vec<Vec<f32>> = labels
        .iter()
        .map(|&l| {
            (0..dim)
                .map(|d| centers[l as usize][d] + rng.random_range(-1.5..1.5))
                .collect()
        })
        .collect();
    let mut data = vec![0f32; views * rows * dim];
    for v in 0..views {
        for (i, p) in points.iter().enumerate() {
            for d in 0..dim {
                data[(v * rows + i) * dim + d] = p[d] + rng.random_range(-0.3..0.3);
            }
        }
    }
    let mut fv = FeatureViews::plain("toy", data, views * rows, dim);
    fv.rows = rows;
    fv.groups[0].views = views;
    TrainSet::views(fv, labels, class_names()).unwrap()
}

fn class_names() -> Vec<String> {
    (0..CLASSES).map(|c| format!("c{c}")).collect()
}

/// c0, c1 under `a`; c2, c3 under `b`.
fn tree() -> LabelTree {
    let isa = "root\ta\nroot\tb\na\tc0\na\tc1\nb\tc2\nb\tc3\n";
    let tax = Taxonomy::from_isa_str(isa, Path::new("toy.tsv")).unwrap();
    LabelTree::from_taxonomy(&tax, &class_names(), TreeFromDag::First).unwrap()
}

fn config(recipe: &str, seed: u64) -> TrainConfig {
    let base = TrainConfig {
        architecture: Architecture::Mlp(MlpConfig {
            input_dim: 8,
            hidden: vec![16],
        }),
        head: Head::Moco(MocoConfig {
            dim: 8,
            queue_size: 32,
            momentum: 0.9,
            diagnostic_hardest: 8,
            ..MocoConfig::cpu()
        }),
        lr: 0.1,
        epochs: 6,
        warmup_epochs: 0,
        batch_size: 16,
        seed,
        ..TrainConfig::moco_frozen_features(8)
    };
    recipe.parse::<ContrastiveRecipe>().unwrap().config(&base)
}

fn run(recipe: &str, dir: &Path) -> hiercog_train::Result<hiercog_train::TrainOutcome> {
    pretrain(
        &blobs(),
        &config(recipe, 3),
        Some(&tree()),
        dir,
        &Device::Cpu,
        &RunOptions::default(),
        &|_| {},
    )
}

#[test]
fn every_recipe_learns_the_proxy_task_and_logs_its_diagnostics() {
    for recipe in ["moco", "mochi:8,6,4", "mochi-lca:8,6,4"] {
        let dir = tempfile::tempdir().unwrap();
        let out = run(recipe, dir.path()).unwrap();
        let (first, last) = (&out.epochs[0], out.epochs.last().unwrap());
        // The proxy task: a positive among 1 + K + s + s′ candidates. Uniform logits would give
        // a loss of ln(width) and a top-1 of 100 / width %.
        let width = (1 + 32 + if recipe == "moco" { 0 } else { 10 }) as f64;
        assert!(
            last.loss < width.ln() - 0.5 && last.top1 > 200.0 / width,
            "{recipe}: loss {} (chance {:.2}), top-1 {}",
            last.loss,
            width.ln(),
            last.top1
        );
        // The queries spread over the sphere as training goes (Wang & Isola's uniformity falls).
        let u = |m: &hiercog_train::EpochMetrics| m.diagnostics["uniformity"];
        assert!(
            u(last) < u(first) - 0.3,
            "{recipe}: uniformity {} -> {}",
            u(first),
            u(last)
        );
        let d = &last.diagnostics;
        for key in ["alignment", "uniformity", "false_negatives_pct"] {
            assert!(d[key].is_finite(), "{recipe}: {key} {d:?}");
        }
        // Unit vectors: alignment in [0, 4], uniformity in [−8, 0].
        assert!((0.0..=4.0).contains(&d["alignment"]), "{d:?}");
        assert!((-8.0..=0.0).contains(&d["uniformity"]), "{d:?}");
        // Keys of the query's own class are a quarter of the labelled queue: the hardest negatives
        // hold more than that once the proxy task is learned along the classes.
        assert!(d["false_negatives_pct"] > 25.0, "{recipe}: {d:?}");
        assert_eq!(
            d.contains_key("dropped_pct"),
            recipe.contains("lca"),
            "{d:?}"
        );
        let csv = std::fs::read_to_string(dir.path().join(METRICS_FILE)).unwrap();
        let header = if recipe.contains("lca") {
            "images_per_sec,alignment,dropped_pct,false_negatives_pct,uniformity"
        } else {
            "images_per_sec,alignment,false_negatives_pct,uniformity"
        };
        assert!(csv.lines().next().unwrap().ends_with(header), "{csv}");
        // The trunk alone is kept: an MLP 8 → 16.
        assert_eq!(out.model.feature_dim(), 16);
        let x = Tensor::zeros((2, 8), candle_core::DType::F32, &Device::Cpu).unwrap();
        assert_eq!(out.model.features(&x).unwrap().dims(), [2, 16]);
    }
}

/// Runs the MoCHi-LCA training of [`run`] in a child process (the ignored `child_moco` test),
/// with `HIERCOG_TRAIN_ABORT_AT=abort_at` when given; returns whether it exited successfully.
fn child(dir: &Path, abort_at: Option<&str>) -> bool {
    let dir = dir.to_string_lossy();
    run_child("child_moco", &[("MOCO_CHILD_DIR", &*dir)], abort_at)
}

#[test]
#[ignore = "the child process of mochi_lca_resumes_with_its_queue_to_the_same_weights"]
fn child_moco() {
    let dir = std::env::var("MOCO_CHILD_DIR").expect("run by the resume test");
    run("mochi-lca:8,6,4", Path::new(&dir)).unwrap();
}

#[test]
fn mochi_lca_resumes_with_its_queue_to_the_same_weights() {
    let whole = tempfile::tempdir().unwrap();
    let uninterrupted = run("mochi-lca:8,6,4", whole.path()).unwrap();
    let cut = tempfile::tempdir().unwrap();
    // 6 steps per epoch: step 9 is inside epoch 2; then stop between epoch 3's weights and its
    // commit; then finish.
    assert!(!child(cut.path(), Some("step-9")));
    assert!(!child(cut.path(), Some("weights-3")));
    assert!(child(cut.path(), None));
    let weights = |d: &Path| std::fs::read(d.join(MODEL_DIR).join(WEIGHTS_FILE)).unwrap();
    assert_eq!(weights(whole.path()), weights(cut.path()));
    // The diagnostics of the resumed epochs equal the uninterrupted run's (same queue contents).
    let resumed = run("mochi-lca:8,6,4", cut.path()).unwrap();
    assert_eq!(resumed.resumed_epochs, 6);
    assert_eq!(
        resumed.epochs.last().unwrap().diagnostics,
        uninterrupted.epochs.last().unwrap().diagnostics
    );
}

#[test]
fn moco_v2_trains_a_resnet_from_images() {
    let data = tempfile::tempdir().unwrap();
    let (items, set) = image_set(data.path());
    let config = TrainConfig {
        architecture: Architecture::ResNet(ResNetConfig::resnet18(4)),
        head: Head::Moco(MocoConfig {
            queue_size: 16,
            dim: 16,
            ..MocoConfig::cpu()
        }),
        epochs: 2,
        batch_size: 8,
        augmentation: Augmentation::moco_v2(32),
        ..TrainConfig::moco_small_resnet()
    };
    let dir = tempfile::tempdir().unwrap();
    let steps = std::sync::atomic::AtomicUsize::new(0);
    let out = pretrain(
        &set,
        &config,
        None,
        dir.path(),
        &Device::Cpu,
        &RunOptions::default(),
        &|p| {
            if let Progress::Step { loss, .. } = p {
                assert!(loss.is_finite());
                steps.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        },
    )
    .unwrap();
    assert_eq!(steps.into_inner(), 4);
    assert_eq!(out.model.card().preprocess.as_ref().unwrap().crop, 32);
    let feats =
        hiercog_train::image_features(&out.model, &items, None, &Device::Cpu, 5, 2).unwrap();
    assert_eq!((feats.rows(), feats.dim()), (16, 32));
    // The recipe is recorded with the model.
    let recipe = out.model.card().recipe.to_string();
    assert!(
        recipe.contains("info-nce") && recipe.contains("\"moco\""),
        "{recipe}"
    );
}

#[test]
fn bad_settings_are_refused_with_the_value_named() {
    let dir = tempfile::tempdir().unwrap();
    let train_err = |config: &TrainConfig, objective: &dyn Objective| {
        train(
            &blobs(),
            config,
            objective,
            dir.path(),
            &Device::Cpu,
            &RunOptions::default(),
            &|_| {},
        )
        .err()
        .expect("refused")
        .to_string()
    };
    // A queue that is not a whole number of batches.
    let mut c = config("moco", 0);
    if let Head::Moco(m) = &mut c.head {
        m.queue_size = 40;
    }
    let msg = train_err(&c, &InfoNce::new());
    assert!(
        msg.contains("queue size = 40") && msg.contains("16"),
        "{msg}"
    );
    // The hierarchy variant without the hierarchy.
    let msg = train_err(&config("mochi-lca", 0), &InfoNce::new());
    assert!(msg.contains("label tree") && msg.contains("-lca"), "{msg}");
    // One view per image.
    let one = TrainConfig {
        augmentation: Augmentation::single(1),
        ..config("moco", 0)
    };
    let msg = train_err(&one, &InfoNce::new());
    assert!(msg.contains("two views"), "{msg}");
    // A class head with InfoNCE, and a MoCo head with another loss.
    let plain = TrainConfig {
        head: Head::Linear,
        ..config("moco", 0)
    };
    let msg = train_err(&plain, &InfoNce::new());
    assert!(msg.contains("InfoNCE needs a MoCo head"), "{msg}");
    let ce = hiercog_losses::HierarchicalLoss::new(&"ce".parse().unwrap(), &tree(), &Device::Cpu)
        .unwrap();
    let msg = train_err(&config("moco", 0), &ce);
    assert!(
        msg.contains("loss = ce") && msg.contains("info-nce"),
        "{msg}"
    );
    assert!(!dir.path().join("checkpoint.json").exists());
}
