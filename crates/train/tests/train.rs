//! End-to-end training on tiny data: learning, determinism, resume after an abort, divergence,
//! bad input.

use candle_core::{Device, Tensor};
use hiercog_losses::{HierarchicalLoss, LabelTree, LossSpec, TreeFromDag};
use hiercog_nn::trainable::{Architecture, MlpConfig, ResNetConfig, WEIGHTS_FILE};
use hiercog_nn::Preprocess;
use hiercog_taxonomy::Taxonomy;
use hiercog_train::trainer::MODEL_DIR;
use hiercog_train::{
    train, Augmentation, CropSpec, Error, FeatureViews, Head, Objective, Progress, RunOptions,
    TrainConfig, TrainSet, TrexConfig, ViewGroup,
};
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use support::{image_folder, image_set, run_child};

mod support;

/// Four Gaussian blobs in 8-D (separable), two stored views per row (the second a jittered copy).
fn blobs() -> TrainSet {
    let (rows, dim, classes) = (96, 8, 4);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let centers: Vec<Vec<f32>> = (0..classes)
        .map(|_| (0..dim).map(|_| rng.random_range(-3.0..3.0)).collect())
        .collect();
    let labels: Vec<u32> = (0..rows).map(|i| (i % classes) as u32).collect();
    let mut data = vec![0f32; 2 * rows * dim];
    for v in 0..2 {
        for (i, &l) in labels.iter().enumerate() {
            for d in 0..dim {
                data[(v * rows + i) * dim + d] =
                    centers[l as usize][d] + rng.random_range(-1.0..1.0);
            }
        }
    }
    let mut views = FeatureViews::plain("toy", data, 2 * rows, dim);
    views.rows = rows;
    views.groups[0].views = 2;
    TrainSet::views(
        views,
        labels,
        (0..classes).map(|c| format!("c{c}")).collect(),
    )
    .unwrap()
}

/// t-ReX on the blobs: both stored views classified each step, a small memory.
fn trex_config(seed: u64) -> TrainConfig {
    TrainConfig {
        head: Head::Trex(TrexConfig {
            hidden_layers: 1,
            hidden_dim: 16,
            bottleneck_dim: 8,
            memory_size: 48,
            ema_momentum: 0.9,
            ..TrexConfig::cpu()
        }),
        augmentation: Augmentation {
            groups: vec![ViewGroup {
                count: 2,
                crop: CropSpec::standard(1),
            }],
        },
        lr: 0.1,
        epochs: 6,
        ..blob_config(seed)
    }
}

fn blob_config(seed: u64) -> TrainConfig {
    TrainConfig {
        architecture: Architecture::Mlp(MlpConfig {
            input_dim: 8,
            hidden: vec![16],
        }),
        epochs: 4,
        warmup_epochs: 1,
        batch_size: 16,
        augmentation: Augmentation::single(1),
        seed,
        ..TrainConfig::frozen_features(8)
    }
}

/// `loss` over the toy classes `c0`… `c{n-1}` under one root.
fn loss_over(spec: &str, n: usize) -> HierarchicalLoss {
    let isa: String = (0..n).map(|c| format!("root\tc{c}\n")).collect();
    let tax = Taxonomy::from_isa_str(&isa, Path::new("toy.tsv")).unwrap();
    let labels: Vec<String> = (0..n).map(|c| format!("c{c}")).collect();
    let tree = LabelTree::from_taxonomy(&tax, &labels, TreeFromDag::First).unwrap();
    HierarchicalLoss::new(&spec.parse::<LossSpec>().unwrap(), &tree, &Device::Cpu).unwrap()
}

static CE: std::sync::LazyLock<HierarchicalLoss> = std::sync::LazyLock::new(|| loss_over("ce", 4));

fn run(
    dir: &Path,
    config: &TrainConfig,
    objective: &dyn Objective,
) -> hiercog_train::Result<hiercog_train::TrainOutcome> {
    train(
        &blobs(),
        config,
        objective,
        dir,
        &Device::Cpu,
        &RunOptions::default(),
        &|_| {},
    )
}

/// Trains `config` on `set` in `dir` with cross-entropy and default options.
fn train_on(set: &TrainSet, config: &TrainConfig, dir: &Path) -> hiercog_train::TrainOutcome {
    let ce = loss_over("ce", set.classes.len());
    train(
        set,
        config,
        &ce,
        dir,
        &Device::Cpu,
        &RunOptions::default(),
        &|_| {},
    )
    .unwrap()
}

fn weights(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join(MODEL_DIR).join(WEIGHTS_FILE)).unwrap()
}

/// The last epoch's loss is below `ratio` × the first's and its training top-1 above `top1` %.
fn assert_learned(out: &hiercog_train::TrainOutcome, ratio: f64, top1: f64) {
    let (first, last) = (&out.epochs[0], out.epochs.last().unwrap());
    assert!(
        last.loss < ratio * first.loss,
        "loss {} -> {}",
        first.loss,
        last.loss
    );
    assert!(last.top1 > top1, "top-1 {}", last.top1);
}

#[test]
fn training_learns_a_separable_toy_set() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &blob_config(1), &*CE).unwrap();
    assert_eq!(out.epochs.len(), 4);
    assert_learned(&out, 0.5, 95.0);
    // The saved representation extracts features; the metrics are in the CSV.
    let x = Tensor::zeros((3, 8), candle_core::DType::F32, &Device::Cpu).unwrap();
    assert_eq!(out.model.features(&x).unwrap().dims(), [3, 16]);
    assert_eq!(out.model.card().classes.len(), 4);
    let csv = std::fs::read_to_string(dir.path().join("metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5, "{csv}");
    // A second call finds the finished run and redoes nothing.
    let again = train(
        &blobs(),
        &blob_config(1),
        &*CE,
        dir.path(),
        &Device::Cpu,
        &RunOptions::default(),
        &|p| panic!("nothing should run, got {p:?}"),
    )
    .unwrap();
    assert_eq!(again.resumed_epochs, 4);
}

#[test]
fn same_seed_same_weights_whatever_the_workers() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    run(a.path(), &blob_config(5), &*CE).unwrap();
    let opts = RunOptions {
        workers: Some(3),
        queue_depth: Some(1),
        ..Default::default()
    };
    train(
        &blobs(),
        &blob_config(5),
        &*CE,
        b.path(),
        &Device::Cpu,
        &opts,
        &|_| {},
    )
    .unwrap();
    run(c.path(), &blob_config(6), &*CE).unwrap();
    assert_eq!(weights(a.path()), weights(b.path()));
    assert_ne!(weights(a.path()), weights(c.path()));
}

/// Runs the training of `blob_config(3)` in `dir` as a separate process (this test binary, the
/// ignored `child_training` test), with `HIERCOG_TRAIN_ABORT_AT=abort_at` when given; returns
/// whether it exited successfully.
fn child(dir: &Path, trex: bool, abort_at: Option<&str>) -> bool {
    let dir = dir.to_string_lossy();
    let env = [
        ("TRAIN_CHILD_TREX", if trex { "1" } else { "0" }),
        ("TRAIN_CHILD_DIR", &*dir),
    ];
    run_child("child_training", &env, abort_at)
}

#[test]
#[ignore = "the child process of resume_after_abort_gives_the_uninterrupted_weights"]
fn child_training() {
    let dir = std::env::var("TRAIN_CHILD_DIR")
        .expect("run by resume_after_abort_gives_the_uninterrupted_weights");
    let config = match std::env::var("TRAIN_CHILD_TREX").as_deref() {
        Ok("1") => trex_config(3),
        _ => blob_config(3),
    };
    let starts = AtomicUsize::new(usize::MAX);
    train(
        &blobs(),
        &config,
        &*CE,
        Path::new(&dir),
        &Device::Cpu,
        &RunOptions::default(),
        &|p| {
            if let Progress::Started { first_epoch, .. } = p {
                starts.store(*first_epoch, Ordering::SeqCst);
            }
        },
    )
    .unwrap();
    println!("started at epoch {}", starts.load(Ordering::SeqCst));
}

/// Trains in a child process killed mid-epoch 2, then after writing (not committing) epoch 3's
/// weights, then to the end: the weights must equal an uninterrupted run's.
fn check_resume_after_abort(trex: bool) {
    let config = if trex { trex_config(3) } else { blob_config(3) };
    let whole = tempfile::tempdir().unwrap();
    run(whole.path(), &config, &*CE).unwrap();
    let epoch_of = |dir: &Path| {
        let state: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("checkpoint.json")).unwrap()).unwrap();
        state["epoch"].clone()
    };
    let cut = tempfile::tempdir().unwrap();
    // 6 steps per epoch: step 9 is in the middle of epoch 2; abort there.
    assert!(!child(cut.path(), trex, Some("step-9")));
    assert_eq!(epoch_of(cut.path()), 1);
    assert!(!child(cut.path(), trex, Some("weights-3")));
    assert_eq!(
        epoch_of(cut.path()),
        2,
        "the uncommitted epoch-3 checkpoint must not count"
    );
    assert!(child(cut.path(), trex, None));
    assert_eq!(weights(whole.path()), weights(cut.path()));
    // Only the last checkpoint file is kept.
    let ckpts = std::fs::read_dir(cut.path())
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().starts_with("checkpoint-")
        })
        .count();
    assert_eq!(ckpts, 1);
}

#[test]
fn resume_after_abort_gives_the_uninterrupted_weights() {
    check_resume_after_abort(false);
}

#[test]
fn trex_resumes_with_its_memory_and_ema_to_the_same_weights() {
    check_resume_after_abort(true);
}

#[test]
fn trex_learns_the_toy_set_and_keeps_only_the_trunk() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &trex_config(1), &*CE).unwrap();
    assert_learned(&out, 0.7, 90.0);
    // The saved model is the trunk alone: no projector, EMA or memory.
    let saved =
        candle_core::safetensors::load(dir.path().join(MODEL_DIR).join(WEIGHTS_FILE), &Device::Cpu)
            .unwrap();
    assert!(
        saved
            .keys()
            .all(|k| !k.contains("projector") && !k.contains("ema")),
        "{:?}",
        saved.keys()
    );
    assert_eq!(out.model.feature_dim(), 16);
}

/// Cross-entropy that returns NaN from its `at`-th call on.
struct NanFrom {
    at: usize,
    calls: AtomicUsize,
}

impl Objective for NanFrom {
    fn loss(&self, logits: &Tensor, targets: &Tensor) -> candle_core::Result<Tensor> {
        let l = CE.loss(logits, targets)?;
        if self.calls.fetch_add(1, Ordering::SeqCst) + 1 >= self.at {
            return l.affine(0.0, f64::NAN);
        }
        Ok(l)
    }
    fn spec(&self) -> String {
        "ce".into()
    }
}

#[test]
fn a_nan_loss_stops_with_epoch_and_step_and_keeps_the_last_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let nan = NanFrom {
        at: 6 + 6 + 4, // epoch 3, step 4
        calls: AtomicUsize::new(0),
    };
    let err = run(dir.path(), &blob_config(2), &nan).err().unwrap();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            Error::Diverged {
                epoch: 3,
                step: 4,
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.contains("NaN at epoch 3, step 4") && msg.contains("checkpoint of epoch 2"),
        "{msg}"
    );
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("checkpoint.json")).unwrap())
            .unwrap();
    assert_eq!(state["epoch"], 2);
    assert!(dir.path().join(state["file"].as_str().unwrap()).exists());
    assert!(!dir.path().join(MODEL_DIR).exists());
    // The run resumes from the kept checkpoint once the loss behaves.
    let out = run(dir.path(), &blob_config(2), &*CE).unwrap();
    assert_eq!(out.resumed_epochs, 2);
}

#[test]
fn a_run_directory_of_another_architecture_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let mut short = blob_config(4);
    short.epochs = 2;
    run(dir.path(), &short, &*CE).unwrap();
    let before: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let mut wider = short.clone();
    wider.architecture = Architecture::Mlp(MlpConfig {
        input_dim: 8,
        hidden: vec![32],
    });
    let msg = run(dir.path(), &wider, &*CE).err().unwrap().to_string();
    assert!(
        msg.contains("mlp-8-16") && msg.contains("mlp-8-32") && msg.contains("cannot resume"),
        "{msg}"
    );
    let after: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(before, after);
}

#[test]
fn a_small_resnet_trains_from_images() {
    let data = tempfile::tempdir().unwrap();
    let (items, set) = image_set(data.path());
    let config = TrainConfig {
        architecture: Architecture::ResNet(ResNetConfig::resnet18(4)),
        epochs: 3,
        warmup_epochs: 1,
        batch_size: 8,
        augmentation: Augmentation::single(32),
        ..TrainConfig::small_resnet()
    };
    let dir = tempfile::tempdir().unwrap();
    let out = train_on(&set, &config, dir.path());
    assert_eq!(out.epochs.len(), 3);
    assert!(out.epochs.iter().all(|m| m.loss.is_finite()));
    let card = out.model.card();
    assert_eq!(card.preprocess.as_ref().unwrap().crop, 32);
    let x = Tensor::zeros((2, 3, 32, 32), candle_core::DType::F32, &Device::Cpu).unwrap();
    assert_eq!(out.model.features(&x).unwrap().dims(), [2, 32]);
    // t-ReX multi-crop from images: a 32 px global and two 16 px local crops per image.
    let trex = TrainConfig {
        head: Head::Trex(TrexConfig {
            memory_size: 16,
            ..TrexConfig::cpu()
        }),
        augmentation: Augmentation::multi_crop(1, 32, 2, 16),
        ..config
    };
    let dir = tempfile::tempdir().unwrap();
    let out = train_on(&set, &trex, dir.path());
    assert!(out.epochs.iter().all(|m| m.loss.is_finite()));
    assert_eq!(out.model.card().preprocess.as_ref().unwrap().crop, 32);
    // The evaluation features of images, in order, with their labels.
    let feats =
        hiercog_train::image_features(&out.model, &items, None, &Device::Cpu, 5, 2).unwrap();
    assert_eq!((feats.rows(), feats.dim()), (16, 32));
    assert_eq!(
        feats.labels,
        items.iter().map(|(_, l)| *l).collect::<Vec<_>>()
    );
}

#[test]
fn an_unreadable_image_is_named_before_training() {
    let data = tempfile::tempdir().unwrap();
    let mut items = image_folder(data.path(), 2);
    let bad = data.path().join("c1").join("broken.png");
    std::fs::write(&bad, b"this is not a PNG").unwrap();
    items.push((bad.clone(), 1));
    let msg = TrainSet::images(
        &items,
        vec!["c0".into(), "c1".into()],
        Preprocess::imagenet(32, 32),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        msg.contains("broken.png") && msg.contains("remove or replace"),
        "{msg}"
    );
}

/// The reduced-width EfficientNet-Lite of hiercog-nn's fixtures (width 0.25, 64 px input).
fn tiny_backbone() -> hiercog_nn::Backbone {
    let mut spec = hiercog_nn::model_spec("efficientnet-lite0").unwrap();
    spec.arch = hiercog_nn::Arch::EfficientNetLite(
        hiercog_nn::models::efficientnet::EfficientNetLiteConfig {
            width: 0.25,
            depth: 1.0,
            image_size: 64,
        },
    );
    spec.preprocess = Preprocess::tf_lite(64, 64);
    let weights = Path::new(env!("CARGO_MANIFEST_DIR")).join("../nn/tests/fixtures/tiny_lite.pth");
    hiercog_nn::Backbone::load(spec, &weights, None, &Device::Cpu).unwrap()
}

#[test]
fn feature_views_are_extracted_once_and_train_an_mlp() {
    use hiercog_train::{extract_views, ViewOptions, ViewSpec};
    let data = tempfile::tempdir().unwrap();
    let items = image_folder(data.path(), 5);
    let paths: Vec<_> = items.iter().map(|(p, _)| p.clone()).collect();
    let backbone = tiny_backbone();
    let spec = ViewSpec::single(3, 64, 9);
    let cache = tempfile::tempdir().unwrap();
    let worked = AtomicUsize::new(0);
    let count = |p: hiercog_train::ViewProgress| {
        if p.done < p.total {
            worked.fetch_add(1, Ordering::SeqCst);
        }
    };
    let opts = ViewOptions {
        batch_size: 4,
        workers: 2,
    };
    let v = extract_views(&backbone, &paths, &spec, cache.path(), &opts, &count).unwrap();
    assert_eq!(
        (v.rows, v.dim, v.groups[0].views),
        (10, backbone.feature_dim(), 3)
    );
    assert!(worked.load(Ordering::SeqCst) > 0);
    // The views differ from each other, and a second call reads them back without extracting.
    let d = v.rows * v.dim;
    assert_ne!(v.groups[0].data[..d], v.groups[0].data[d..2 * d]);
    worked.store(0, Ordering::SeqCst);
    let one_worker = ViewOptions {
        batch_size: 3,
        workers: 1,
    };
    let again = extract_views(&backbone, &paths, &spec, cache.path(), &one_worker, &count).unwrap();
    assert_eq!(worked.load(Ordering::SeqCst), 0);
    assert_eq!(again.groups[0].data, v.groups[0].data);
    // Freshly extracted with other threads and batch sizes: the same numbers.
    let other = tempfile::tempdir().unwrap();
    let fresh =
        extract_views(&backbone, &paths, &spec, other.path(), &one_worker, &|_| {}).unwrap();
    let max_diff = fresh.groups[0]
        .data
        .iter()
        .zip(&v.groups[0].data)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(max_diff < 1e-4, "{max_diff}");

    let labels = items.iter().map(|(_, l)| *l).collect();
    let set = TrainSet::views(v, labels, vec!["c0".into(), "c1".into()]).unwrap();
    let config = TrainConfig {
        epochs: 3,
        warmup_epochs: 1,
        batch_size: 4,
        ..TrainConfig::frozen_features(backbone.feature_dim())
    };
    let dir = tempfile::tempdir().unwrap();
    let out = train_on(&set, &config, dir.path());
    assert_eq!(
        out.model.card().input_features.as_deref(),
        Some("efficientnet-lite0")
    );
    assert_eq!(out.model.feature_dim(), 512);
    // Plain features of the frozen backbone through the trained trunk: what the probe reads.
    let dim = backbone.feature_dim();
    let plain =
        hiercog_features::FeatureSet::from_vec(vec![0.5; 3 * dim], dim, vec![0, 1, 1], None)
            .unwrap();
    let mapped = hiercog_train::transform_features(&out.model, &plain, &Device::Cpu, 2).unwrap();
    assert_eq!(
        (mapped.rows(), mapped.dim(), mapped.labels.clone()),
        (3, 512, vec![0, 1, 1])
    );
}
