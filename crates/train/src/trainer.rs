//! The training loop: one call, [`train`], from a [`TrainSet`] and a [`TrainConfig`] to a saved
//! representation, resumable after any interruption.
//!
//! A run directory holds:
//! * `checkpoint-NNNN.safetensors` — after every epoch: all variables (`model.*`), the optimizer
//!   state (`optim.*`) and the recipe's own state (`trex.*`, `moco.*`); written atomically, then
//! * `checkpoint.json` — the commit point: the run's key, the epoch finished, the file above and
//!   the metrics so far. The random state is (seed, epoch): every random choice is keyed by them
//!   (and the sample index), so resuming after epoch `e` replays exactly what an uninterrupted
//!   run does. Older checkpoint files are removed only after the new `checkpoint.json` is in place.
//! * `metrics.csv` — one row per finished epoch (also recorded in the results store when given).
//! * `model/` — the final representation ([`TrainedBackbone`]), written after the last epoch.
//!
//! Test hook: with `HIERCOG_TRAIN_ABORT_AT` set to `step-N` (after global step N), `weights-E`
//! (after the epoch-E weights file, before its `checkpoint.json`) or `epoch-E` (after the whole
//! checkpoint of epoch E), the process aborts there, as `kill -9` would.

use crate::augment::Augmentation;
use crate::data::{pipelined, Source, TrainSet};
use crate::error::{Error, Result};
use crate::moco::{MocoConfig, MocoHead};
use crate::objective::Objective;
use crate::optim::{params, CosineSchedule, Optimizer, OptimizerConfig};
use crate::trex::{TrexConfig, TrexHead, PROJECTOR};
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::VarMap;
use hiercog_io::write_atomic as atomic_write;
use hiercog_nn::trainable::{
    fill_vars, linear, seeded_var_builder, Architecture, MlpConfig, ModelCard, ResNetConfig,
    TrainableBackbone, TrainedBackbone,
};
use hiercog_nn::Preprocess;
use hiercog_store::{ResultsStore, RunKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What sits on the trunk during training (the trunk alone is kept).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Head {
    /// A linear classifier with bias.
    Linear,
    /// t-ReX's projector + cosine classifier over memory prototypes.
    Trex(TrexConfig),
    /// MoCo-v2's head, key encoder and queue (MoCHi, MoCHi-LCA): self-supervised, trained with
    /// [`crate::InfoNce`] on two views per image.
    Moco(MocoConfig),
}

/// Everything that determines a training run's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The trunk that is trained and kept (MLP on features, or a ResNet on images).
    pub architecture: Architecture,
    /// What sits on the trunk during training only.
    pub head: Head,
    /// SGD or AdamW with their hyper-parameters.
    pub optimizer: OptimizerConfig,
    /// Peak learning rate (after warm-up).
    pub lr: f64,
    /// Learning rate at the end of the cosine decay.
    pub final_lr: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
    /// Whether weight decay also applies to biases and normalisation parameters.
    pub decay_norm_and_bias: bool,
    /// Passes over the training set.
    pub epochs: usize,
    /// Epochs of linear learning-rate warm-up at the start.
    pub warmup_epochs: usize,
    /// Images (or feature rows) per step.
    pub batch_size: usize,
    /// The views of each image per step (for feature views: how many stored views per group).
    pub augmentation: Augmentation,
    /// Seed of the initial weights, the epochs' order and every crop: same seed, same weights.
    pub seed: u64,
}

impl TrainConfig {
    /// Depth (a), the CPU default: an MLP trunk (one hidden layer of 512) on frozen features of
    /// width `input_dim`, SGD (momentum 0.9) at lr 0.05 with batch 128, weight decay 5e-4 (not
    /// on biases/BatchNorm), 30 epochs with 2 of warm-up, one stored view per step.
    pub fn frozen_features(input_dim: usize) -> Self {
        TrainConfig {
            architecture: Architecture::Mlp(MlpConfig {
                input_dim,
                hidden: vec![512],
            }),
            head: Head::Linear,
            optimizer: OptimizerConfig::Sgd {
                momentum: 0.9,
                nesterov: false,
            },
            lr: 0.05,
            final_lr: 0.0,
            weight_decay: 5e-4,
            decay_norm_and_bias: false,
            epochs: 30,
            warmup_epochs: 2,
            batch_size: 128,
            augmentation: Augmentation::single(1),
            seed: 0,
        }
    }

    /// Depth (b) on a CPU: ResNet-18 at width 16 from 64 px crops, SGD (momentum 0.9) at lr 0.1
    /// with batch 64, weight decay 5e-4 (not on biases/BatchNorm), 30 epochs with 2 of warm-up.
    pub fn small_resnet() -> Self {
        TrainConfig {
            architecture: Architecture::ResNet(ResNetConfig::resnet18(16)),
            lr: 0.1,
            batch_size: 64,
            augmentation: Augmentation::single(64),
            ..TrainConfig::frozen_features(0)
        }
    }

    /// Depth (b) on GPUs, torchvision's ResNet-50 recipe: 224 px, SGD (momentum 0.9) at lr 0.1
    /// for batch 256, weight decay 1e-4 on every parameter, 90 epochs with 5 of warm-up.
    pub fn resnet50_gpu() -> Self {
        TrainConfig {
            architecture: Architecture::ResNet(ResNetConfig::resnet50(64)),
            lr: 0.1,
            weight_decay: 1e-4,
            decay_norm_and_bias: true,
            epochs: 90,
            warmup_epochs: 5,
            batch_size: 256,
            augmentation: Augmentation::single(224),
            ..TrainConfig::frozen_features(0)
        }
    }

    /// t-ReX on frozen features, the CPU default: [`TrainConfig::frozen_features`] with
    /// [`TrexConfig::cpu`] and, per step, 1 global + 4 local stored views per image (the paper
    /// classifies 1 + 8; extract them with `ViewSpec::multi_crop`).
    pub fn trex_frozen_features(input_dim: usize) -> Self {
        TrainConfig {
            head: Head::Trex(TrexConfig::cpu()),
            augmentation: Augmentation::multi_crop(1, 224, 4, 96),
            ..TrainConfig::frozen_features(input_dim)
        }
    }

    /// t-ReX from images on a CPU: [`TrainConfig::small_resnet`] with [`TrexConfig::cpu`],
    /// 1 global 64 px + 4 local 32 px crops (the paper's 224/96 ratio, half its local crops).
    pub fn trex_small_resnet() -> Self {
        TrainConfig {
            head: Head::Trex(TrexConfig::cpu()),
            augmentation: Augmentation::multi_crop(1, 64, 4, 32),
            ..TrainConfig::small_resnet()
        }
    }

    /// t-ReX as published (the GPU recipe): ResNet-50, [`TrexConfig::paper`], 1 global 224 +
    /// 8 local 96 crops, SGD (momentum 0.9) lr 0.1 for batch 256, weight decay 1e-4 (not on
    /// biases/BatchNorm), 100 epochs with 10 of warm-up, cosine to 1e-6.
    pub fn trex_gpu() -> Self {
        TrainConfig {
            head: Head::Trex(TrexConfig::paper()),
            augmentation: Augmentation::multi_crop(1, 224, 8, 96),
            final_lr: 1e-6,
            decay_norm_and_bias: false,
            epochs: 100,
            warmup_epochs: 10,
            ..TrainConfig::resnet50_gpu()
        }
    }

    /// MoCo-v2 from images on a CPU: ResNet-18 at width 16 from 64 px views (MoCo-v2's crops and
    /// photometric ops, blur σ scaled to the size), [`MocoConfig::cpu`], SGD (momentum 0.9) at
    /// lr 0.06 with batch 64 (MoCo's 0.03 per 256 would barely move in a few hundred steps; 0.06
    /// is the CIFAR-scale MoCo setting), weight decay 5e-4 on every parameter (the reference
    /// decays all), cosine to 0 without warm-up (MoCo-v2's `--cos`), 30 epochs.
    pub fn moco_small_resnet() -> Self {
        TrainConfig {
            head: Head::Moco(MocoConfig::cpu()),
            lr: 0.06,
            decay_norm_and_bias: true,
            warmup_epochs: 0,
            augmentation: Augmentation::moco_v2(64),
            ..TrainConfig::small_resnet()
        }
    }

    /// MoCo-v2 on frozen features (depth (a)): [`TrainConfig::frozen_features`]'s MLP trunk,
    /// [`MocoConfig::cpu`], two distinct stored views per image and step as query and key
    /// (extract them with MoCo-v2's crops: `ViewSpec::moco_v2`), SGD 0.9 at lr 0.06, batch 128
    /// (G = 2: sub-batches of 64), weight decay 5e-4 on every parameter, no warm-up.
    pub fn moco_frozen_features(input_dim: usize) -> Self {
        TrainConfig {
            head: Head::Moco(MocoConfig::cpu()),
            lr: 0.06,
            decay_norm_and_bias: true,
            warmup_epochs: 0,
            augmentation: Augmentation {
                groups: vec![crate::augment::ViewGroup {
                    count: 2,
                    crop: crate::augment::CropSpec::moco_v2(224),
                }],
            },
            ..TrainConfig::frozen_features(input_dim)
        }
    }

    /// MoCo-v2 as published (ImageNet, GPUs): ResNet-50, 224 px, [`MocoConfig::paper`] (K =
    /// 65,536, m = 0.999, τ = 0.2, Shuffle-BN over 8 groups of 32), SGD (momentum 0.9) lr 0.03
    /// for batch 256, weight decay 1e-4 on every parameter, 200 epochs, cosine, no warm-up.
    pub fn moco_v2_gpu() -> Self {
        TrainConfig {
            head: Head::Moco(MocoConfig::paper()),
            lr: 0.03,
            weight_decay: 1e-4,
            decay_norm_and_bias: true,
            epochs: 200,
            warmup_epochs: 0,
            augmentation: Augmentation::moco_v2(224),
            ..TrainConfig::resnet50_gpu()
        }
    }

    /// A one-line description for messages, e.g. `resnet18-w16, seed 0, 30 epochs`.
    pub fn describe(&self) -> String {
        let head = match &self.head {
            Head::Linear => String::new(),
            Head::Trex(_) => " + t-ReX head".into(),
            Head::Moco(m) => format!(" + {} head", m.name()),
        };
        format!(
            "{}{head}, seed {}, {} epochs",
            self.architecture.name(),
            self.seed,
            self.epochs
        )
    }

    fn check(&self, set: &TrainSet, objective: &dyn Objective) -> Result<()> {
        let bad = |name: &'static str, value: String, reason: &str| {
            Err(Error::Setting {
                name,
                value,
                reason: reason.to_string(),
            })
        };
        match (&self.head, objective.info_nce()) {
            (Head::Moco(m), Some(info_nce)) => {
                if let Err((name, value, reason)) = m.check(self.batch_size) {
                    return bad(name, value, &reason);
                }
                match (&m.hierarchy, info_nce.distances()) {
                    (Some(_), None) => {
                        return bad(
                            "label tree",
                            "none".into(),
                            "hierarchy-aware negatives (the -lca recipes) need the label \
                             hierarchy over the training classes",
                        )
                    }
                    (Some(_), Some(d)) if d.classes() != set.classes.len() => {
                        return bad(
                            "label tree",
                            format!("{} classes", d.classes()),
                            &format!("the training set has {} classes", set.classes.len()),
                        )
                    }
                    _ => {}
                }
                if self.augmentation.groups.len() != 1 || self.augmentation.groups[0].count != 2 {
                    return bad(
                        "augmentation",
                        format!("{} view(s)", self.augmentation.views_per_image()),
                        "MoCo needs one group of two views per image (query and key)",
                    );
                }
                if let Some(crop) = self.augmentation.groups[0].crop.color.as_ref() {
                    if let Err(reason) = crop.check() {
                        return bad("colour augmentation", "MoCo-v2 views".into(), &reason);
                    }
                }
            }
            (Head::Moco(_), None) => {
                return bad(
                    "loss",
                    objective.spec(),
                    "a MoCo head trains with the InfoNCE objective (info-nce)",
                )
            }
            (_, Some(_)) => {
                return bad(
                    "loss",
                    objective.spec(),
                    "InfoNCE needs a MoCo head; class heads train with ce, hxe or soft labels",
                )
            }
            (_, None) => {}
        }
        if self.epochs == 0 {
            return bad("epochs", "0".into(), "train for at least one epoch");
        }
        if self.batch_size < 2 {
            return bad(
                "batch size",
                self.batch_size.to_string(),
                "BatchNorm needs at least 2 samples per batch",
            );
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(
                "learning rate",
                self.lr.to_string(),
                "must be a positive number",
            );
        }
        if !(self.final_lr.is_finite() && self.final_lr >= 0.0 && self.final_lr <= self.lr) {
            return bad(
                "final learning rate",
                self.final_lr.to_string(),
                "must be between 0 and the learning rate",
            );
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad("weight decay", self.weight_decay.to_string(), "must be ≥ 0");
        }
        if self.warmup_epochs >= self.epochs && self.epochs > 1 {
            return bad(
                "warm-up epochs",
                self.warmup_epochs.to_string(),
                "must be fewer than the epochs",
            );
        }
        if self.augmentation.groups.is_empty() || self.augmentation.views_per_image() == 0 {
            return bad(
                "augmentation",
                "no views".into(),
                "at least one view per image is needed",
            );
        }
        match (&self.architecture, &set.source) {
            (Architecture::ResNet(_), Source::Images { .. }) => Ok(()),
            (Architecture::Mlp(m), Source::Views(v)) if m.input_dim == v.dim => {
                if v.groups.len() < self.augmentation.groups.len() {
                    return bad(
                        "augmentation",
                        format!("{} view group(s)", self.augmentation.groups.len()),
                        &format!(
                            "the feature views were extracted in {} group(s)",
                            v.groups.len()
                        ),
                    );
                }
                Ok(())
            }
            (Architecture::Mlp(m), Source::Views(v)) => bad(
                "architecture",
                self.architecture.name(),
                &format!(
                    "its input width is {}, the features have {}",
                    m.input_dim, v.dim
                ),
            ),
            (Architecture::Mlp(_), Source::Images { .. }) => bad(
                "architecture",
                self.architecture.name(),
                "an MLP trains on features; extract feature views of the images first",
            ),
            (Architecture::ResNet(_), Source::Views(_)) => bad(
                "architecture",
                self.architecture.name(),
                "a ResNet trains on images, not on features",
            ),
        }
    }
}

/// How a run is executed; none of it changes the result.
#[derive(Default)]
pub struct RunOptions<'a> {
    /// Threads decoding and augmenting batches ahead of the network (default 2).
    pub workers: Option<usize>,
    /// Batches made ahead per worker (default 2).
    pub queue_depth: Option<usize>,
    /// Where per-epoch metrics are also recorded (kind `train-epoch`).
    pub store: Option<&'a ResultsStore>,
}

/// Metrics of one finished epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 1-based.
    pub epoch: usize,
    /// Optimizer steps in the epoch.
    pub steps: usize,
    /// Mean training loss over the epoch's steps.
    pub loss: f64,
    /// Training top-1 accuracy (%) of the first view group (MoCo: the positive key ranked first).
    pub top1: f64,
    /// Learning rate of the epoch's last step.
    pub lr: f64,
    /// Wall time of the epoch.
    pub seconds: f64,
    /// Training samples per second over the epoch.
    pub images_per_sec: f64,
    /// The recipe's own per-epoch measurements (MoCo: alignment, uniformity, share of false
    /// negatives among the hardest), by name; empty for class heads.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub diagnostics: BTreeMap<String, f64>,
}

/// What [`train`] reports while it runs.
#[derive(Debug, Clone)]
pub enum Progress {
    /// Training (re)starts at `first_epoch` (0-based; > 0 when resumed) of `epochs`.
    Started {
        /// First epoch to run (0-based).
        first_epoch: usize,
        /// Epochs of the whole run.
        epochs: usize,
        /// Optimizer steps per epoch.
        steps_per_epoch: usize,
    },
    /// After every step: its loss, the epoch's running top-1 (%), the learning rate used.
    Step {
        /// The epoch (0-based).
        epoch: usize,
        /// The step within the epoch (0-based).
        step: usize,
        /// Optimizer steps per epoch.
        steps_per_epoch: usize,
        /// The step's loss.
        loss: f32,
        /// Running top-1 (%) of the epoch so far.
        top1: f64,
        /// Learning rate of the step.
        lr: f64,
    },
    /// After every epoch (its checkpoint written).
    Epoch(EpochMetrics),
}

/// A finished training.
pub struct TrainOutcome {
    /// The representation, loaded from `model_dir` in evaluation mode.
    pub model: TrainedBackbone,
    /// Where it is saved (`RUN_DIR/model`).
    pub model_dir: PathBuf,
    /// Metrics of every epoch (including those of earlier, interrupted sessions).
    pub epochs: Vec<EpochMetrics>,
    /// Epochs that were already done when this call started.
    pub resumed_epochs: usize,
}

/// The commit point of a checkpoint.
#[derive(Debug, Serialize, Deserialize)]
struct CheckpointState {
    key: String,
    description: String,
    epoch: usize,
    file: String,
    metrics: Vec<EpochMetrics>,
}

const STATE_FILE: &str = "checkpoint.json";
/// The per-epoch metrics file of a run directory.
pub const METRICS_FILE: &str = "metrics.csv";
/// The final model's folder inside a run directory.
pub const MODEL_DIR: &str = "model";

fn fail_point(name: &str) {
    if std::env::var("HIERCOG_TRAIN_ABORT_AT").is_ok_and(|at| at == name) {
        eprintln!("aborting at {name} (HIERCOG_TRAIN_ABORT_AT)");
        std::process::abort();
    }
}

/// The network being trained: trunk + head.
struct Network {
    backbone: TrainableBackbone,
    head: HeadNet,
}

enum HeadNet {
    Linear(candle_nn::Linear),
    Trex(Box<TrexHead>),
    Moco(Box<MocoHead>),
}

impl Network {
    fn new(
        config: &TrainConfig,
        classes: usize,
        objective: &dyn Objective,
        vars: &VarMap,
        device: &Device,
    ) -> Result<Self> {
        let vb = seeded_var_builder(vars, config.seed, device);
        let backbone = TrainableBackbone::new(&config.architecture, vb.pp("backbone"))?;
        let head = match &config.head {
            Head::Linear => HeadNet::Linear(linear(
                vb.pp("head"),
                backbone.feature_dim(),
                classes,
                true,
            )?),
            Head::Trex(t) => HeadNet::Trex(Box::new(TrexHead::new(
                t,
                &backbone,
                classes,
                vars,
                &vb,
                config.seed,
            )?)),
            Head::Moco(m) => {
                let info_nce = objective
                    .info_nce()
                    .expect("checked: a MoCo head trains with InfoNCE");
                HeadNet::Moco(Box::new(MocoHead::new(
                    m,
                    &backbone,
                    classes,
                    info_nce,
                    vars,
                    &vb,
                    config.seed,
                )?))
            }
        };
        Ok(Network { backbone, head })
    }

    /// The logits of every view group (training mode) and their targets, for step `step` of
    /// `epoch`. Class heads: one logit row per view, targets the labels repeated per view; t-ReX
    /// then updates its memory with the first `n` rows of the first group (the first global crop
    /// of each sample). MoCo: the contrastive logits of the query views (the first `n` rows)
    /// against their keys (the next `n`), targets 0; then the keys enter the queue.
    fn logits(
        &mut self,
        groups: &[Tensor],
        labels: &Tensor,
        n: usize,
        epoch: usize,
        step: usize,
    ) -> Result<(Vec<Tensor>, Tensor)> {
        let logits = match &mut self.head {
            HeadNet::Linear(fc) => groups
                .iter()
                .map(|x| Ok(fc.forward(&self.backbone.forward_t(x, true)?)?))
                .collect::<Result<Vec<_>>>()?,
            HeadNet::Trex(t) => {
                let prototypes = t.prototypes()?;
                let logits = groups
                    .iter()
                    .map(|x| Ok(t.logits(&self.backbone.forward_t(x, true)?, &prototypes)?))
                    .collect::<Result<Vec<_>>>()?;
                t.update_memory(&groups[0].narrow(0, 0, n)?, labels)?;
                logits
            }
            HeadNet::Moco(m) => {
                let (logits, targets) =
                    m.logits(&self.backbone, &groups[0], labels, epoch, step)?;
                return Ok((vec![logits], targets));
            }
        };
        let views: usize = logits
            .iter()
            .map(|l| l.dim(0).unwrap_or(0) / n.max(1))
            .sum();
        Ok((logits, labels.repeat(views)?))
    }

    /// The head's diagnostics of the epoch that just ended (resets them).
    fn take_diagnostics(&mut self) -> BTreeMap<String, f64> {
        match &mut self.head {
            HeadNet::Moco(m) => m.take_diagnostics(),
            _ => BTreeMap::new(),
        }
    }

    /// Checkpoint tensors besides the variables.
    fn state(&self) -> Result<HashMap<String, Tensor>> {
        Ok(match &self.head {
            HeadNet::Linear(_) => HashMap::new(),
            HeadNet::Trex(t) => t.state()?,
            HeadNet::Moco(m) => m.state()?,
        })
    }

    fn load_state(&mut self, tensors: &HashMap<String, Tensor>) -> candle_core::Result<()> {
        match &mut self.head {
            HeadNet::Linear(_) => Ok(()),
            HeadNet::Trex(t) => t.load_state(tensors),
            HeadNet::Moco(m) => m.load_state(tensors),
        }
    }
}

/// Trains `config` on `set` with `objective` in `run_dir` on `device`, resuming what an earlier
/// call left there (a finished run is loaded, not redone). Progress goes to `progress`.
pub fn train(
    set: &TrainSet,
    config: &TrainConfig,
    objective: &dyn Objective,
    run_dir: &Path,
    device: &Device,
    options: &RunOptions,
    progress: &dyn Fn(&Progress),
) -> Result<TrainOutcome> {
    config.check(set, objective)?;
    let description = format!("{} (loss {})", config.describe(), objective.spec());
    let key = run_key(config, objective, set);

    let vars = VarMap::new();
    let mut net = Network::new(config, set.classes.len(), objective, &vars, device)?;
    let learned = ["backbone.", "head.", &format!("{PROJECTOR}.")];
    let mut optimizer = Optimizer::new(
        &config.optimizer,
        params(
            &vars,
            &learned,
            config.weight_decay,
            config.decay_norm_and_bias,
        ),
        config.lr,
    );

    let steps_per_epoch = set.epoch_batches(config.seed, 0, config.batch_size).len();
    let schedule = CosineSchedule {
        base_lr: config.lr,
        final_lr: config.final_lr,
        warmup_steps: config.warmup_epochs * steps_per_epoch,
        total_steps: config.epochs * steps_per_epoch,
    };

    let (first_epoch, mut metrics) = resume(
        run_dir,
        &key,
        &description,
        &vars,
        &mut optimizer,
        &mut net,
        device,
    )?;
    let model_dir = run_dir.join(MODEL_DIR);
    if first_epoch >= config.epochs && model_dir.join(hiercog_nn::trainable::CARD_FILE).exists() {
        return Ok(TrainOutcome {
            model: TrainedBackbone::load(&model_dir, device)?,
            model_dir,
            epochs: metrics,
            resumed_epochs: first_epoch,
        });
    }
    progress(&Progress::Started {
        first_epoch,
        epochs: config.epochs,
        steps_per_epoch,
    });
    let workers = options.workers.unwrap_or(2);
    let depth = options.queue_depth.unwrap_or(2);
    for epoch in first_epoch..config.epochs {
        let t0 = Instant::now();
        let batches = set.epoch_batches(config.seed, epoch, config.batch_size);
        let (mut loss_sum, mut correct, mut seen, mut images, mut lr) =
            (0f64, 0usize, 0usize, 0usize, 0f64);
        pipelined(
            batches.len(),
            workers,
            depth,
            |b| set.make_batch(&config.augmentation, config.seed, epoch, &batches[b]),
            |b, batch| {
                let step = epoch * steps_per_epoch + b;
                lr = schedule.lr(step);
                let inputs = batch
                    .groups
                    .into_iter()
                    .map(|(data, shape)| Tensor::from_vec(data, shape, device))
                    .collect::<candle_core::Result<Vec<_>>>()?;
                let n = batch.labels.len();
                let labels = Tensor::new(batch.labels.as_slice(), device)?;
                let (logits, targets) = net.logits(&inputs, &labels, n, epoch, b)?;
                let loss = objective.loss(&Tensor::cat(&logits, 0)?, &targets)?;
                let value = loss.to_dtype(DType::F32)?.to_scalar::<f32>()?;
                if !value.is_finite() {
                    return Err(diverged(run_dir, &metrics, epoch, b, value));
                }
                optimizer.step(&loss.backward()?, lr)?;
                let first = logits[0].narrow(0, 0, n)?.argmax(1)?;
                correct += first
                    .eq(&targets.narrow(0, 0, n)?)?
                    .to_dtype(DType::U32)?
                    .sum_all()?
                    .to_scalar::<u32>()? as usize;
                seen += n;
                images += n;
                loss_sum += value as f64;
                progress(&Progress::Step {
                    epoch,
                    step: b,
                    steps_per_epoch,
                    loss: value,
                    top1: 100.0 * correct as f64 / seen as f64,
                    lr,
                });
                fail_point(&format!("step-{}", step + 1));
                Ok(true)
            },
        )?;
        if let Some(name) = first_non_finite(&vars)? {
            return Err(Error::Diverged {
                epoch: epoch + 1,
                step: batches.len(),
                loss: f32::NAN,
                kept: format!(
                    "parameter {name} is not finite; {}",
                    kept(run_dir, &metrics)
                ),
            });
        }
        let seconds = t0.elapsed().as_secs_f64();
        let m = EpochMetrics {
            epoch: epoch + 1,
            steps: batches.len(),
            loss: loss_sum / batches.len().max(1) as f64,
            top1: 100.0 * correct as f64 / seen.max(1) as f64,
            lr,
            seconds,
            images_per_sec: images as f64 / seconds.max(1e-9),
            diagnostics: net.take_diagnostics(),
        };
        metrics.push(m.clone());
        save_checkpoint(
            run_dir,
            &key,
            &description,
            epoch + 1,
            &vars,
            &optimizer,
            &net,
            &metrics,
        )?;
        write_metrics_csv(run_dir, &metrics)?;
        if let Some(store) = options.store {
            let record = serde_json::json!({"run": key, "description": description, "metrics": m});
            store.put(
                &RunKey::from_parts(&[
                    b"train-epoch",
                    key.as_bytes(),
                    &(epoch as u64 + 1).to_le_bytes(),
                ]),
                "train-epoch",
                &record,
            )?;
        }
        progress(&Progress::Epoch(m));
        fail_point(&format!("epoch-{}", epoch + 1));
    }
    let card = ModelCard {
        architecture: config.architecture.clone(),
        classes: set.classes.clone(),
        preprocess: match &set.source {
            Source::Images { norm, .. } => {
                let size = config.augmentation.groups[0].crop.size;
                Some(Preprocess {
                    resize: (size as f64 * 8.0 / 7.0).round() as u32,
                    crop: size,
                    ..norm.clone()
                })
            }
            Source::Views(_) => None,
        },
        input_features: match &set.source {
            Source::Images { .. } => None,
            Source::Views(v) => Some(v.model.clone()),
        },
        recipe: serde_json::json!({"loss": objective.spec(), "config": config}),
    };
    TrainedBackbone::save(&model_dir, &card, &vars, "backbone")?;
    Ok(TrainOutcome {
        model: TrainedBackbone::load(&model_dir, device)?,
        model_dir,
        epochs: metrics,
        resumed_epochs: first_epoch,
    })
}

/// The identity of a run: its configuration, loss and data.
fn run_key(config: &TrainConfig, objective: &dyn Objective, set: &TrainSet) -> String {
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(config).expect("plain data"));
    h.update(objective.spec().as_bytes());
    h.update(set.fingerprint().as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn kept(run_dir: &Path, metrics: &[EpochMetrics]) -> String {
    match metrics.last() {
        Some(m) => format!(
            "the checkpoint of epoch {} in {} is kept",
            m.epoch,
            run_dir.display()
        ),
        None => "no epoch had finished, so there is no checkpoint".into(),
    }
}

fn diverged(
    run_dir: &Path,
    metrics: &[EpochMetrics],
    epoch: usize,
    step: usize,
    loss: f32,
) -> Error {
    Error::Diverged {
        epoch: epoch + 1,
        step: step + 1,
        loss,
        kept: kept(run_dir, metrics),
    }
}

/// The name of the first variable holding a NaN or infinity, if any.
fn first_non_finite(vars: &VarMap) -> Result<Option<String>> {
    let map = vars.data().lock().expect("var map lock poisoned");
    let mut names: Vec<&String> = map.keys().collect();
    names.sort();
    for name in names {
        let s = map[name]
            .as_tensor()
            .abs()?
            .max_all()?
            .to_dtype(DType::F32)?
            .to_scalar::<f32>()?;
        if !s.is_finite() {
            return Ok(Some(name.clone()));
        }
    }
    Ok(None)
}

fn checkpoint_file(epoch: usize) -> String {
    format!("checkpoint-{epoch:04}.safetensors")
}

/// Writes the epoch's checkpoint: tensors first, then the state file that makes it current,
/// then removes the previous tensors file.
#[allow(clippy::too_many_arguments)]
fn save_checkpoint(
    run_dir: &Path,
    key: &str,
    description: &str,
    epoch: usize,
    vars: &VarMap,
    optimizer: &Optimizer,
    net: &Network,
    metrics: &[EpochMetrics],
) -> Result<()> {
    let mut tensors: HashMap<String, Tensor> = optimizer.state()?;
    tensors.extend(net.state()?);
    for (name, var) in vars.data().lock().expect("var map lock poisoned").iter() {
        tensors.insert(format!("model.{name}"), var.as_tensor().clone());
    }
    let file = checkpoint_file(epoch);
    let path = run_dir.join(&file);
    let bytes = safetensors::serialize(&tensors, None).map_err(|e| Error::Checkpoint {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let previous = read_state(run_dir)?;
    atomic_write(&path, &bytes)?;
    fail_point(&format!("weights-{epoch}"));
    let state = CheckpointState {
        key: key.to_string(),
        description: description.to_string(),
        epoch,
        file,
        metrics: metrics.to_vec(),
    };
    atomic_write(
        &run_dir.join(STATE_FILE),
        &serde_json::to_vec_pretty(&state).expect("plain data"),
    )?;
    if let Some(prev) = previous.filter(|p| p.file != state.file) {
        let _ = std::fs::remove_file(run_dir.join(prev.file));
    }
    Ok(())
}

fn read_state(run_dir: &Path) -> Result<Option<CheckpointState>> {
    let path = run_dir.join(STATE_FILE);
    let Ok(text) = std::fs::read(&path) else {
        return Ok(None);
    };
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|e| Error::Resume {
            dir: run_dir.to_path_buf(),
            reason: format!("{STATE_FILE} is not a hiercog training state ({e}); delete the directory to start over"),
        })
}

/// Restores the last checkpoint of `run_dir` into `vars` and `optimizer`: the epochs done and
/// their metrics ((0, []) when there is none).
fn resume(
    run_dir: &Path,
    key: &str,
    description: &str,
    vars: &VarMap,
    optimizer: &mut Optimizer,
    net: &mut Network,
    device: &Device,
) -> Result<(usize, Vec<EpochMetrics>)> {
    let Some(state) = read_state(run_dir)? else {
        return Ok((0, Vec::new()));
    };
    if state.key != key {
        return Err(Error::Resume {
            dir: run_dir.to_path_buf(),
            reason: format!(
                "it holds a training of {}, this run is {description} (or its data differ); \
                 use another directory, or delete this one to start over",
                state.description
            ),
        });
    }
    let path = run_dir.join(&state.file);
    let mut tensors =
        candle_core::safetensors::load(&path, device).map_err(|e| Error::Checkpoint {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    let model: HashMap<String, Tensor> = tensors
        .keys()
        .filter(|k| k.starts_with("model."))
        .cloned()
        .collect::<Vec<_>>()
        .into_iter()
        .map(|k| {
            let t = tensors.remove(&k).expect("listed");
            (k["model.".len()..].to_string(), t)
        })
        .collect();
    fill_vars(vars, model, &path, description)?;
    optimizer
        .load_state(&tensors)
        .and_then(|()| net.load_state(&tensors))
        .map_err(|e| Error::Checkpoint {
            path: path.clone(),
            reason: format!("optimizer or head state: {e}"),
        })?;
    Ok((state.epoch, state.metrics))
}

/// One row per epoch; the recipe's diagnostics (those of the last epoch, by name) as extra
/// columns, empty where an epoch lacks one.
fn write_metrics_csv(run_dir: &Path, metrics: &[EpochMetrics]) -> Result<()> {
    let extra: Vec<&String> = metrics
        .last()
        .map(|m| m.diagnostics.keys().collect())
        .unwrap_or_default();
    let mut s = String::from("epoch,steps,loss,top1,lr,seconds,images_per_sec");
    for name in &extra {
        s.push(',');
        s.push_str(name);
    }
    s.push('\n');
    for m in metrics {
        s.push_str(&format!(
            "{},{},{:.6},{:.4},{:.6e},{:.3},{:.2}",
            m.epoch, m.steps, m.loss, m.top1, m.lr, m.seconds, m.images_per_sec
        ));
        for name in &extra {
            s.push(',');
            if let Some(v) = m.diagnostics.get(*name) {
                s.push_str(&format!("{v:.6}"));
            }
        }
        s.push('\n');
    }
    Ok(atomic_write(&run_dir.join(METRICS_FILE), s.as_bytes())?)
}
