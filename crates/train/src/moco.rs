//! Self-supervised pre-training: MoCo-v2 (He et al. 2020, Chen et al. 2020,
//! facebookresearch/moco), MoCHi hard-negative mixing (Kalantidis et al., NeurIPS 2020) and a
//! hierarchy-aware variant, MoCHi-LCA. A recipe option of the trainer ([`crate::Head::Moco`]),
//! like t-ReX: the trunk is what is kept.
//!
//! Each step sees two views of every image (the query view and the key view, [`Augmentation`]'s
//! one group of two, MoCo-v2's crops and photometric ops):
//!
//! * **query** `q = normalize(g(f(x_q)))`: the trunk `f`, a 2-layer MLP head `g` (Linear → ReLU →
//!   Linear, hidden = the trunk's width, 128-d out: `projector.0`, `projector.2`);
//! * **key** `k` by the key encoder (`key.backbone.*`, `key.projector.*`), an EMA of trunk and
//!   head (momentum `m`, updated before the keys are computed), no gradient;
//! * **logits** `[q·k, q·queue, MoCHi] / τ`, target 0, cross-entropy ([`InfoNce`]); then the keys
//!   (with their labels, for the diagnostics and the hierarchy) enter the FIFO queue of `K`.
//!
//! **Shuffle-BN on one device.** MoCo shuffles the keys across GPUs so that a query and its key
//! are never normalised with the same BatchNorm batch (else the network can find the positive
//! through the batch statistics and the proxy task is cheated). One device has no other GPUs, so
//! hiercog emulates `G` of them: both encoders run their batch as `G` sub-batches, each with its
//! own BatchNorm statistics (what `G` GPUs compute without SyncBN), and the key encoder's samples
//! are permuted (seeded by (seed, epoch, step)) before being cut into sub-batches and put back in
//! order after. With `G = 8` and batch 256 this is the reference's 8-GPU set-up exactly (running
//! statistics are updated once per sub-batch instead of taken from GPU 0). `G = 1` turns it off.
//!
//! **MoCHi(N, s, s′)** (spec §6): per query, the `N` queue negatives most similar to it;
//! `s` points `h = normalize(α·n_i + (1−α)·n_j)`, α ~ U(0, 1), two distinct positions i ≠ j among
//! the `N`; `s′` points `h′ = normalize(β·q + (1−β)·n_j)`, β ~ U(0, 0.5); their logits `q·h/τ`
//! are appended to the negatives; no gradient flows through `h`, `h′` (only through the `q` of
//! `q·h`). The draws ([`MixingPlan`]) are keyed by (seed, epoch, step). Synthetic points never
//! enter the queue.
//!
//! **MoCHi-LCA** (the hierarchy, when labels are known; [`HierarchyNegatives`]): (1) queue
//! negatives of the query's own class (LCA distance 0) are dropped — their logits are −∞, out of
//! the softmax and out of the `N` hardest: they are false negatives; (2) mixing partners are
//! drawn among the `N` hardest with probability ∝ the LCA distance between their class and the
//! query's (normalised by the largest; unlabelled initial queue entries count as the largest).
//! Why: among the negatives that look most like the query, those of nearby concepts are *meant*
//! to be near (the hierarchy says so, and CoG's unseen concepts are placed by it), while those of
//! distant concepts are the representation's real confusions; synthesising hard negatives from
//! the latter pushes apart what the hierarchy separates and leaves semantic neighbourhoods alone.
//!
//! **Diagnostics** per epoch ([`crate::EpochMetrics::diagnostics`]): `alignment`
//! `E‖q − k‖²` and `uniformity` `log E_{i≠j} exp(−2‖q_i − q_j‖²)` (Wang & Isola 2020, over each
//! batch's queries, averaged over the epoch's steps), and with labels (≥ 2 classes)
//! `false_negatives_pct`, the share of same-class entries among the `N` hardest labelled queue
//! negatives (before any drop; `N` = MoCHi's, else [`MocoConfig::diagnostic_hardest`]), and for
//! MoCHi-LCA `dropped_pct`, the share of labelled queue entries dropped.

use crate::augment::SampleRng;
use crate::data::TrainSet;
use crate::objective::Objective;
use crate::queue::{EmaCopy, FeatureQueue};
use crate::trainer::{train, Head, Progress, RunOptions, TrainConfig, TrainOutcome};
use candle_core::{DType, Device, Result, Tensor, D};
use candle_nn::{Linear, Module, VarBuilder, VarMap};
use hiercog_losses::LabelTree;
use hiercog_nn::trainable::{linear, TrainableBackbone};
use hiercog_taxonomy::DistanceConvention;
use rand::seq::SliceRandom;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

/// Label of queue entries that come from no image (the seeded random initial queue).
pub const NO_LABEL: u32 = u32::MAX;

/// MoCHi's (N, s, s′).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MochiConfig {
    /// N: the hardest queue negatives per query that are mixed.
    pub hardest: usize,
    /// s: mixes of two hard negatives per query.
    pub pair_mixes: usize,
    /// s′: mixes of the query with a hard negative per query.
    pub query_mixes: usize,
    /// The first epoch (0-based) that mixes; plain MoCo before it.
    pub start_epoch: usize,
}

impl MochiConfig {
    /// MoCHi(N, s, s′), mixing from the first epoch.
    pub fn new(hardest: usize, pair_mixes: usize, query_mixes: usize) -> Self {
        MochiConfig {
            hardest,
            pair_mixes,
            query_mixes,
            start_epoch: 0,
        }
    }
}

impl fmt::Display for MochiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{},{},{}",
            self.hardest, self.pair_mixes, self.query_mixes
        )
    }
}

impl FromStr for MochiConfig {
    type Err = String;
    /// `N,s,s′`, e.g. `256,512,256`.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let parts: Vec<&str> = s.split(',').map(str::trim).collect();
        let nums: Vec<usize> = parts
            .iter()
            .map(|p| p.parse::<usize>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| format!("MoCHi setting {s:?} is not N,s,s′ (three whole numbers)"))?;
        match nums[..] {
            [n, s1, s2] => Ok(MochiConfig::new(n, s1, s2)),
            _ => Err(format!(
                "MoCHi setting {s:?} has {} number(s); give N,s,s′, e.g. 256,512,256",
                nums.len()
            )),
        }
    }
}

/// How the label hierarchy shapes the negatives (MoCHi-LCA; see the module documentation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HierarchyNegatives {
    /// Drop queue negatives of the query's class (LCA distance 0).
    pub drop_same_class: bool,
    /// Draw MoCHi's mixing partners ∝ LCA distance to the query's class.
    pub partners_by_distance: bool,
}

impl HierarchyNegatives {
    /// Both: MoCHi-LCA.
    pub fn lca() -> Self {
        HierarchyNegatives {
            drop_same_class: true,
            partners_by_distance: true,
        }
    }
}

/// MoCo's head, key encoder and queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MocoConfig {
    /// Width of the L2-normalised output (128).
    pub dim: usize,
    /// Hidden width of the 2-layer head; `None`: the trunk's width (MoCo-v2's `dim_mlp`).
    pub hidden_dim: Option<usize>,
    /// K, the queue of negatives (a multiple of the batch size, as the reference asserts).
    pub queue_size: usize,
    /// m, the key encoder's EMA momentum.
    pub momentum: f64,
    /// τ, the InfoNCE temperature.
    pub tau: f64,
    /// G, BatchNorm sub-batches emulating Shuffle-BN's devices (1 = off); divides the batch.
    pub shuffle_groups: usize,
    /// Hard-negative mixing.
    pub mochi: Option<MochiConfig>,
    /// Hierarchy-aware negatives (needs an [`InfoNce`] built with the label tree).
    pub hierarchy: Option<HierarchyNegatives>,
    /// N of the false-negative diagnostic when MoCHi is off.
    pub diagnostic_hardest: usize,
}

impl MocoConfig {
    /// MoCo-v2 as published (ImageNet, 8 GPUs): 128-d, K = 65,536, m = 0.999, τ = 0.2, G = 8.
    pub fn paper() -> Self {
        MocoConfig {
            dim: 128,
            hidden_dim: None,
            queue_size: 65_536,
            momentum: 0.999,
            tau: 0.2,
            shuffle_groups: 8,
            mochi: None,
            hierarchy: None,
            diagnostic_hardest: 1024,
        }
    }

    /// Scaled for a CPU run of a few hundred steps on ≈1,000–2,000 images: K = 1,024 (about
    /// half an epoch of keys, as the paper's 65,536 are 5 % of ImageNet: a queue longer than the
    /// data would hold the query's own older keys as negatives), m = 0.99 (a horizon of ≈100
    /// steps ≈ 4 epochs here, where 0.999 would leave the key encoder at its initial weights for
    /// the whole run), G = 2 (sub-batches of 32 at batch 64, the reference's 32 per GPU).
    pub fn cpu() -> Self {
        MocoConfig {
            queue_size: 1024,
            momentum: 0.99,
            shuffle_groups: 2,
            diagnostic_hardest: 64,
            ..MocoConfig::paper()
        }
    }

    /// The MoCHi setting a bare `mochi` recipe gets at this queue size: the CoG paper's
    /// checkpoint (512, 1024, 512) at K = 65,536; for smaller queues N = K/16 (the paper's
    /// ImageNet-100 ratio, N = 1,024 of K = 16,384), s = 2N, s′ = N (the checkpoint's shape).
    pub fn default_mochi(&self) -> MochiConfig {
        if self.queue_size >= 65_536 {
            MochiConfig::new(512, 1024, 512)
        } else {
            let n = (self.queue_size / 16).max(2);
            MochiConfig::new(n, 2 * n, n)
        }
    }

    /// The recipe's name: `moco`, `mochi(N,s,s′)`, with `-lca` for the hierarchy.
    pub fn name(&self) -> String {
        let base = match &self.mochi {
            None => "moco".to_string(),
            Some(m) => format!("mochi({m})"),
        };
        match &self.hierarchy {
            Some(_) => format!("{base}-lca"),
            None => base,
        }
    }

    /// Checks the settings against the batch size; the error names the value.
    pub fn check(
        &self,
        batch_size: usize,
    ) -> std::result::Result<(), (&'static str, String, String)> {
        let bad = |name, value: String, reason: String| Err((name, value, reason));
        if self.dim == 0 || self.hidden_dim == Some(0) {
            return bad(
                "MoCo output width",
                self.dim.to_string(),
                "must be > 0".into(),
            );
        }
        if !(self.tau.is_finite() && self.tau > 0.0) {
            return bad(
                "MoCo temperature",
                self.tau.to_string(),
                "must be > 0".into(),
            );
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return bad(
                "MoCo momentum",
                self.momentum.to_string(),
                "must be in [0, 1)".into(),
            );
        }
        if self.shuffle_groups == 0 || !batch_size.is_multiple_of(self.shuffle_groups) {
            return bad(
                "MoCo shuffle groups",
                self.shuffle_groups.to_string(),
                format!("must divide the batch size {batch_size}"),
            );
        }
        if batch_size / self.shuffle_groups < 2 {
            return bad(
                "MoCo shuffle groups",
                self.shuffle_groups.to_string(),
                format!("BatchNorm needs ≥ 2 samples per group; the batch is {batch_size}"),
            );
        }
        if self.queue_size == 0 || !self.queue_size.is_multiple_of(batch_size) {
            return bad(
                "MoCo queue size",
                self.queue_size.to_string(),
                format!(
                    "must be a multiple of the batch size {batch_size} (a FIFO of whole batches)"
                ),
            );
        }
        if let Some(m) = &self.mochi {
            if m.hardest == 0 || m.hardest > self.queue_size {
                return bad(
                    "MoCHi N",
                    m.hardest.to_string(),
                    format!("must be between 1 and the queue size {}", self.queue_size),
                );
            }
            if m.pair_mixes > 0 && m.hardest < 2 {
                return bad(
                    "MoCHi N",
                    m.hardest.to_string(),
                    "mixing two hard negatives needs N ≥ 2".into(),
                );
            }
        }
        if self.diagnostic_hardest == 0 {
            return bad("MoCo diagnostic N", "0".into(), "must be ≥ 1".into());
        }
        Ok(())
    }
}

/// The recipes of the CLI and the experiment: `moco`, `mochi[:N:s:s′]`, `moco-lca`,
/// `mochi-lca[:N:s:s′]` (MoCHi's numbers separated by `:` as the other recipes' parameters, or
/// by `,` as `--mochi` takes them; written with `:`).
#[derive(Debug, Clone, PartialEq)]
pub struct ContrastiveRecipe {
    /// `None`: MoCo-v2; `Some(None)`: MoCHi at [`MocoConfig::default_mochi`]; `Some(Some(m))`:
    /// MoCHi(m).
    pub mochi: Option<Option<MochiConfig>>,
    /// Hierarchy-aware negatives (MoCHi-LCA, or MoCo with same-class negatives dropped).
    pub hierarchy: bool,
}

/// The self-supervised recipe names.
pub const CONTRASTIVE_NAMES: [&str; 4] = ["moco", "mochi", "moco-lca", "mochi-lca"];

impl ContrastiveRecipe {
    /// Whether `name` (a recipe without its parameters) is one of [`CONTRASTIVE_NAMES`].
    pub fn is_name(name: &str) -> bool {
        CONTRASTIVE_NAMES.contains(&name)
    }

    /// The same recipe without the hierarchy (`mochi-lca:…` → `mochi:…`): its control.
    pub fn without_hierarchy(&self) -> Self {
        ContrastiveRecipe {
            hierarchy: false,
            ..self.clone()
        }
    }
}

impl fmt::Display for ContrastiveRecipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = CONTRASTIVE_NAMES[2 * self.hierarchy as usize + self.mochi.is_some() as usize];
        f.write_str(name)?;
        if let Some(Some(m)) = &self.mochi {
            write!(f, ":{}:{}:{}", m.hardest, m.pair_mixes, m.query_mixes)?;
        }
        Ok(())
    }
}

impl FromStr for ContrastiveRecipe {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (name, args) = match s.split_once(':') {
            Some((n, a)) => (n, Some(a)),
            None => (s, None),
        };
        let Some(index) = CONTRASTIVE_NAMES.iter().position(|n| *n == name) else {
            return Err(format!(
                "unknown self-supervised recipe {name:?}: use moco, mochi, moco-lca or \
                 mochi-lca (MoCHi's N, s, s′ after a colon, e.g. mochi:256:512:256)"
            ));
        };
        let (mochi, hierarchy) = (index % 2 == 1, index >= 2);
        let mochi = match (mochi, args) {
            (false, Some(_)) => {
                return Err(format!(
                    "{name} takes no N,s,s′ (only mochi and mochi-lca do)"
                ))
            }
            (false, None) => None,
            (true, None) => Some(None),
            (true, Some(a)) => Some(Some(a.replace(':', ",").parse()?)),
        };
        Ok(ContrastiveRecipe { mochi, hierarchy })
    }
}

impl ContrastiveRecipe {
    /// `base` with this recipe's MoCHi and hierarchy settings; a bare `mochi` takes
    /// [`MocoConfig::default_mochi`].
    pub fn apply(&self, base: &MocoConfig) -> MocoConfig {
        MocoConfig {
            mochi: self
                .mochi
                .as_ref()
                .map(|m| m.clone().unwrap_or_else(|| base.default_mochi())),
            hierarchy: self.hierarchy.then(HierarchyNegatives::lca),
            ..base.clone()
        }
    }

    /// `base` (a MoCo preset such as [`TrainConfig::moco_small_resnet`]; any other head gets
    /// [`MocoConfig::cpu`]) with this recipe.
    pub fn config(&self, base: &TrainConfig) -> TrainConfig {
        let moco = match &base.head {
            Head::Moco(m) => m.clone(),
            _ => MocoConfig::cpu(),
        };
        TrainConfig {
            head: Head::Moco(self.apply(&moco)),
            ..base.clone()
        }
    }
}

/// Self-supervised pre-training: trains `config` (a [`Head::Moco`] recipe) on `set` (images, or
/// feature views) in `run_dir` and returns the trunk as a [`TrainedBackbone`] — the call the CLI
/// (`hiercog pretrain moco`) and the hierarchy experiment make per recipe. The labels of `set`
/// are used only by the diagnostics and, for MoCHi-LCA, with `tree` (the label tree over
/// `set.classes`, required then). Resumes what an earlier call left in `run_dir`.
///
/// [`TrainedBackbone`]: hiercog_nn::trainable::TrainedBackbone
pub fn pretrain(
    set: &TrainSet,
    config: &TrainConfig,
    tree: Option<&LabelTree>,
    run_dir: &std::path::Path,
    device: &Device,
    options: &RunOptions,
    progress: &dyn Fn(&Progress),
) -> crate::Result<TrainOutcome> {
    let hierarchy = matches!(&config.head, Head::Moco(m) if m.hierarchy.is_some());
    let objective = match tree.filter(|_| hierarchy) {
        None => InfoNce::new(),
        Some(tree) => InfoNce::with_hierarchy(tree).map_err(|e| crate::Error::Setting {
            name: "label tree",
            value: format!("{} classes", tree.num_classes()),
            reason: e.to_string(),
        })?,
    };
    train(set, config, &objective, run_dir, device, options, progress)
}

/// LCA distances between the training classes, for MoCHi-LCA.
#[derive(Debug, Clone)]
pub struct ClassDistances {
    classes: usize,
    /// Row-major `classes × classes`.
    d: Vec<f32>,
    max: f32,
}

impl ClassDistances {
    /// Distance between classes `a` and `b`.
    pub fn get(&self, a: u32, b: u32) -> f32 {
        self.d[a as usize * self.classes + b as usize]
    }

    /// The mixing weight of a negative labelled `neg` for a query of class `query`: distance /
    /// largest distance; 1 for an unlabelled entry, 0 for the same class.
    pub fn weight(&self, query: u32, neg: u32) -> f32 {
        if neg == NO_LABEL || query == NO_LABEL {
            1.0
        } else if self.max > 0.0 {
            self.get(query, neg) / self.max
        } else {
            0.0
        }
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }
}

/// InfoNCE: cross-entropy over a contrastive head's logits whose target is the positive (MoCo's
/// `nn.CrossEntropyLoss()(logits, zeros)`). Built with a label tree, it also carries the LCA
/// distances between the training classes that MoCHi-LCA uses.
pub struct InfoNce {
    distances: Option<ClassDistances>,
    spec: String,
}

impl InfoNce {
    /// Plain InfoNCE (`info-nce`).
    pub fn new() -> Self {
        InfoNce {
            distances: None,
            spec: "info-nce".into(),
        }
    }

    /// InfoNCE that knows the hierarchy over the training classes (`info-nce+lca(RULE)`): LCA
    /// heights on `tree` (class `i` = the tree's label `i`, the training set's class order).
    pub fn with_hierarchy(tree: &LabelTree) -> hiercog_losses::Result<Self> {
        let m = tree.distances(DistanceConvention::LcaHeight)?;
        let classes = m.len();
        let d: Vec<f32> = (0..classes)
            .flat_map(|i| m.row(i).iter().map(|&v| v as f32).collect::<Vec<_>>())
            .collect();
        let max = d.iter().copied().fold(0f32, f32::max);
        Ok(InfoNce {
            distances: Some(ClassDistances { classes, d, max }),
            spec: format!("info-nce+lca({})", tree.rule()),
        })
    }

    /// The class distances, when built with the hierarchy.
    pub fn distances(&self) -> Option<&ClassDistances> {
        self.distances.as_ref()
    }
}

impl Default for InfoNce {
    fn default() -> Self {
        InfoNce::new()
    }
}

impl Objective for InfoNce {
    fn loss(&self, logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
        candle_nn::loss::cross_entropy(logits, targets)
    }

    fn spec(&self) -> String {
        self.spec.clone()
    }

    fn info_nce(&self) -> Option<&InfoNce> {
        Some(self)
    }
}

/// The random part of MoCHi for one batch: for each query, which of its `N` hardest negatives are
/// mixed and with which coefficients. Positions index the hardest list (0 = hardest).
#[derive(Debug, Clone, PartialEq)]
pub struct MixingPlan {
    /// Queries.
    pub batch: usize,
    /// s.
    pub pair_mixes: usize,
    /// s′.
    pub query_mixes: usize,
    /// `(B, s)` α of `α·n_i + (1−α)·n_j`.
    pub alpha: Vec<f32>,
    /// `(B, s)` positions i.
    pub first: Vec<u32>,
    /// `(B, s)` positions j ≠ i.
    pub second: Vec<u32>,
    /// `(B, s′)` β of `β·q + (1−β)·n_j`.
    pub beta: Vec<f32>,
    /// `(B, s′)` positions j.
    pub partner: Vec<u32>,
}

impl MixingPlan {
    /// Draws the plan for `batch` queries with `hardest` negatives each: positions uniform (i ≠ j
    /// for pairs), or, given `weights` (`batch × hardest`, ≥ 0), ∝ the weights (a row of zeros
    /// falls back to uniform); α ~ U(0, 1), β ~ U(0, 0.5).
    pub fn draw(
        batch: usize,
        hardest: usize,
        mochi: &MochiConfig,
        weights: Option<&[f32]>,
        rng: &mut impl Rng,
    ) -> Self {
        let (s, s2) = (mochi.pair_mixes, mochi.query_mixes);
        let mut plan = MixingPlan {
            batch,
            pair_mixes: s,
            query_mixes: s2,
            alpha: Vec::with_capacity(batch * s),
            first: Vec::with_capacity(batch * s),
            second: Vec::with_capacity(batch * s),
            beta: Vec::with_capacity(batch * s2),
            partner: Vec::with_capacity(batch * s2),
        };
        for b in 0..batch {
            let row = weights
                .map(|w| &w[b * hardest..(b + 1) * hardest])
                .filter(|r| r.iter().any(|&v| v > 0.0));
            let pick = |rng: &mut dyn rand::RngCore, except: Option<usize>| -> usize {
                match row {
                    None => {
                        let span = hardest - except.is_some() as usize;
                        let i = rng.random_range(0..span);
                        match except {
                            Some(e) if i >= e => i + 1,
                            _ => i,
                        }
                    }
                    Some(r) => {
                        let total: f64 = r
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| Some(*i) != except)
                            .map(|(_, &v)| v as f64)
                            .sum();
                        if total <= 0.0 {
                            // Only the excluded position has weight: any other.
                            let i = rng.random_range(0..hardest - 1);
                            return match except {
                                Some(e) if i >= e => i + 1,
                                _ => i,
                            };
                        }
                        let mut u = rng.random::<f64>() * total;
                        let mut last = 0;
                        for (i, &v) in r.iter().enumerate() {
                            if Some(i) == except || v <= 0.0 {
                                continue;
                            }
                            last = i;
                            u -= v as f64;
                            if u < 0.0 {
                                return i;
                            }
                        }
                        last
                    }
                }
            };
            for _ in 0..s {
                let i = pick(rng, None);
                let j = pick(rng, Some(i));
                plan.alpha.push(rng.random::<f32>());
                plan.first.push(i as u32);
                plan.second.push(j as u32);
            }
            for _ in 0..s2 {
                let j = pick(rng, None);
                plan.beta.push(rng.random::<f32>() * 0.5);
                plan.partner.push(j as u32);
            }
        }
        plan
    }
}

/// Rows divided by their L2 norm (at least 1e-12, as `F.normalize`).
pub fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    let norm = x.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?.maximum(1e-12)?;
    x.broadcast_div(&norm)
}

/// The positions of each query's `n` hardest negatives: `(B, n)` u32 indices into the queue, most
/// similar first, from the similarities `l_neg` `(B, K)` (dropped entries at −∞ come last).
pub fn hardest_negatives(l_neg: &Tensor, n: usize) -> Result<Tensor> {
    l_neg
        .detach()
        .contiguous()?
        .arg_sort_last_dim(false)?
        .narrow(1, 0, n)?
        .contiguous()
}

/// The additive mask that drops queue entries of the query's class: `(B, K)`, −∞ where the
/// entry's label equals the query's, else 0.
pub fn same_class_mask(
    query_labels: &[u32],
    queue_labels: &[u32],
    device: &Device,
) -> Result<Tensor> {
    let k = queue_labels.len();
    let mut m = vec![0f32; query_labels.len() * k];
    for (b, &ql) in query_labels.iter().enumerate() {
        if ql == NO_LABEL {
            continue;
        }
        for (j, &l) in queue_labels.iter().enumerate() {
            if l == ql {
                m[b * k + j] = f32::NEG_INFINITY;
            }
        }
    }
    Tensor::from_vec(m, (query_labels.len(), k), device)
}

/// The queue rows at `positions` `(B, m)` of each query's hardest list `hardest` `(B, N)`:
/// `(B, m, d)`.
fn hardest_rows(queue: &Tensor, hardest: &Tensor, positions: &[u32], m: usize) -> Result<Tensor> {
    let b = hardest.dim(0)?;
    let pos = Tensor::from_slice(positions, (b, m), hardest.device())?;
    let idx = hardest.gather(&pos, 1)?.flatten_all()?;
    queue.index_select(&idx, 0)?.reshape((b, m, queue.dim(1)?))
}

/// MoCo's logits `[q·k, q·queueᵀ, MoCHi] / τ` `(B, 1 + K + s + s′)` (target 0): `q` `(B, d)` the
/// normalised queries (the only input with a gradient), `k` `(B, d)` the keys, `queue` `(K, d)`;
/// `dropped` an additive `(B, K)` mask (−∞ drops an entry); `mixing` the hardest lists `(B, N)`
/// and the plan. The synthetic points are detached, as are `k` and the queue.
pub fn moco_logits(
    q: &Tensor,
    k: &Tensor,
    queue: &Tensor,
    tau: f64,
    dropped: Option<&Tensor>,
    mixing: Option<(&Tensor, &MixingPlan)>,
) -> Result<Tensor> {
    let (k, queue) = (k.detach(), queue.detach());
    let l_pos = (q * &k)?.sum_keepdim(1)?;
    let mut l_neg = q.matmul(&queue.t()?)?;
    if let Some(mask) = dropped {
        l_neg = (l_neg + mask)?;
    }
    let mut parts = vec![l_pos, l_neg];
    if let Some((hardest, plan)) = mixing {
        let b = q.dim(0)?;
        let qd = q.unsqueeze(1)?;
        if plan.pair_mixes > 0 {
            let s = plan.pair_mixes;
            let n_i = hardest_rows(&queue, hardest, &plan.first, s)?;
            let n_j = hardest_rows(&queue, hardest, &plan.second, s)?;
            let alpha = Tensor::from_slice(&plan.alpha, (b, s, 1), q.device())?;
            let mix = (n_i.broadcast_mul(&alpha)? + n_j.broadcast_mul(&(1.0 - &alpha)?)?)?;
            let h = l2_normalize(&mix)?.detach();
            parts.push(h.broadcast_mul(&qd)?.sum(2)?);
        }
        if plan.query_mixes > 0 {
            let s = plan.query_mixes;
            let n_j = hardest_rows(&queue, hardest, &plan.partner, s)?;
            let beta = Tensor::from_slice(&plan.beta, (b, s, 1), q.device())?;
            let mix = (qd.detach().broadcast_mul(&beta)? + n_j.broadcast_mul(&(1.0 - &beta)?)?)?;
            let h = l2_normalize(&mix)?.detach();
            parts.push(h.broadcast_mul(&qd)?.sum(2)?);
        }
    }
    Tensor::cat(&parts, 1)? / tau
}

/// MoCo-v2's 2-layer head: Linear → ReLU → Linear (`projector.0`, `projector.2`, as the
/// reference's `nn.Sequential`), PyTorch's default initialisation.
struct MlpHead {
    fc1: Linear,
    fc2: Linear,
}

impl MlpHead {
    fn new(vb: VarBuilder, input: usize, hidden: usize, out: usize) -> Result<Self> {
        Ok(MlpHead {
            fc1: linear(vb.pp("0"), input, hidden, true)?,
            fc2: linear(vb.pp("2"), hidden, out, true)?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.fc2.forward(&self.fc1.forward(x)?.relu()?)
    }
}

/// Runs `backbone` over `x` in `groups` sub-batches, each with its own BatchNorm statistics.
fn grouped_forward(backbone: &TrainableBackbone, x: &Tensor, groups: usize) -> Result<Tensor> {
    if groups <= 1 {
        return backbone.forward_t(x, true);
    }
    let per = x.dim(0)? / groups;
    let outs = (0..groups)
        .map(|g| backbone.forward_t(&x.narrow(0, g * per, per)?, true))
        .collect::<Result<Vec<_>>>()?;
    Tensor::cat(&outs, 0)
}

/// Sums of the per-step diagnostics of an epoch.
#[derive(Default)]
struct Diagnostics {
    steps: usize,
    alignment: f64,
    uniformity: f64,
    hardest_same: u64,
    hardest_labelled: u64,
    dropped: u64,
    queue_labelled: u64,
}

/// MoCo's head, key encoder, queue and diagnostics.
pub struct MocoHead {
    cfg: MocoConfig,
    projector: MlpHead,
    key_backbone: TrainableBackbone,
    key_projector: MlpHead,
    ema: EmaCopy,
    queue: FeatureQueue,
    distances: Option<ClassDistances>,
    /// Whether the labels mean something (≥ 2 classes): the false-negative diagnostic.
    labelled: bool,
    seed: u64,
    diagnostics: Diagnostics,
}

/// Variable-name prefix of the key encoder.
const KEY: &str = "key";
/// Checkpoint-name prefix of the queue.
const QUEUE: &str = "moco.queue";

impl MocoHead {
    /// Builds the head for `backbone` in `vars` (query head under `projector`, key encoder under
    /// `key`, a copy of trunk and head) and the queue: seeded random unit rows, unlabelled.
    /// `objective` must be an [`InfoNce`]; with `cfg.hierarchy`, built with the label tree over
    /// `classes` classes.
    pub fn new(
        cfg: &MocoConfig,
        backbone: &TrainableBackbone,
        classes: usize,
        objective: &InfoNce,
        vars: &VarMap,
        vb: &VarBuilder,
        seed: u64,
    ) -> Result<Self> {
        let width = backbone.feature_dim();
        let hidden = cfg.hidden_dim.unwrap_or(width);
        let projector = MlpHead::new(vb.pp(crate::trex::PROJECTOR), width, hidden, cfg.dim)?;
        let key_backbone =
            TrainableBackbone::new(backbone.architecture(), vb.pp(KEY).pp("backbone"))?;
        let key_projector = MlpHead::new(
            vb.pp(KEY).pp(crate::trex::PROJECTOR),
            width,
            hidden,
            cfg.dim,
        )?;
        let ema = EmaCopy::new(vars, &["backbone.", "projector."], KEY)?;
        // The trainer checked that the hierarchy comes with distances over `classes` classes.
        let distances = cfg.hierarchy.as_ref().and(objective.distances()).cloned();
        let mut rng = SampleRng::new("moco-queue", seed, 0, 0);
        let k = cfg.queue_size;
        let f: Vec<f32> = (0..k * cfg.dim)
            .map(|_| StandardNormal.sample(rng.rng()))
            .collect();
        let features = l2_normalize(&Tensor::from_vec(f, (k, cfg.dim), vb.device())?)?;
        Ok(MocoHead {
            cfg: cfg.clone(),
            projector,
            key_backbone,
            key_projector,
            ema,
            queue: FeatureQueue {
                features,
                labels: Tensor::from_vec(vec![NO_LABEL; k], k, vb.device())?,
                ptr: 0,
            },
            distances,
            labelled: classes >= 2,
            seed,
            diagnostics: Diagnostics::default(),
        })
    }

    /// One step: the logits `(B, 1 + K + s + s′)` and targets (zeros) of the views `x`
    /// (`2B`: the query views, then the key views) of samples labelled `labels`, at step `step`
    /// of `epoch`; then the keys enter the queue.
    pub fn logits(
        &mut self,
        backbone: &TrainableBackbone,
        x: &Tensor,
        labels: &Tensor,
        epoch: usize,
        step: usize,
    ) -> Result<(Tensor, Tensor)> {
        let b = labels.dim(0)?;
        let device = x.device().clone();
        let g = self.cfg.shuffle_groups;
        let q = l2_normalize(&self.projector.forward(&grouped_forward(
            backbone,
            &x.narrow(0, 0, b)?,
            g,
        )?)?)?;

        // The key encoder: EMA update, then the keys of shuffled sub-batches, put back in order.
        self.ema.update(self.cfg.momentum)?;
        let mut perm: Vec<u32> = (0..b as u32).collect();
        perm.shuffle(SampleRng::new("moco-shuffle", self.seed, epoch, step).rng());
        let mut inverse = vec![0u32; b];
        for (i, &p) in perm.iter().enumerate() {
            inverse[p as usize] = i as u32;
        }
        let perm_t = Tensor::from_vec(perm, b, &device)?;
        let inverse_t = Tensor::from_vec(inverse, b, &device)?;
        let x_k = x.narrow(0, b, b)?.index_select(&perm_t, 0)?;
        let k = self
            .key_projector
            .forward(&grouped_forward(&self.key_backbone, &x_k, g)?)?;
        let k = l2_normalize(&k)?.index_select(&inverse_t, 0)?.detach();

        let query_labels = labels.to_vec1::<u32>()?;
        let queue_labels = self.queue.labels.to_vec1::<u32>()?;
        let dropped = match &self.distances {
            Some(_)
                if self
                    .cfg
                    .hierarchy
                    .as_ref()
                    .is_some_and(|h| h.drop_same_class) =>
            {
                Some(same_class_mask(&query_labels, &queue_labels, &device)?)
            }
            _ => None,
        };
        let raw_sim = q.detach().matmul(&self.queue.features.t()?)?;
        let mixing_on = self
            .cfg
            .mochi
            .as_ref()
            .filter(|m| epoch >= m.start_epoch && (m.pair_mixes + m.query_mixes) > 0);
        let n_diag = self
            .cfg
            .mochi
            .as_ref()
            .map_or(self.cfg.diagnostic_hardest, |m| m.hardest)
            .min(self.cfg.queue_size);
        let raw_hardest = hardest_negatives(&raw_sim, n_diag)?;
        let hardest = match (&mixing_on, &dropped) {
            (Some(m), Some(mask)) => Some(hardest_negatives(&(&raw_sim + mask)?, m.hardest)?),
            (Some(_), None) => Some(raw_hardest.clone()),
            _ => None,
        };
        let plan = match (&mixing_on, &hardest) {
            (Some(m), Some(h)) => {
                let weights = match (&self.distances, &self.cfg.hierarchy) {
                    (Some(d), Some(hn)) if hn.partners_by_distance => {
                        let idx = h.to_vec2::<u32>()?;
                        Some(
                            idx.iter()
                                .zip(&query_labels)
                                .flat_map(|(row, &ql)| {
                                    row.iter()
                                        .map(|&j| d.weight(ql, queue_labels[j as usize]))
                                        .collect::<Vec<_>>()
                                })
                                .collect::<Vec<f32>>(),
                        )
                    }
                    _ => None,
                };
                let mut rng = SampleRng::new("mochi", self.seed, epoch, step);
                Some(MixingPlan::draw(
                    b,
                    m.hardest,
                    m,
                    weights.as_deref(),
                    rng.rng(),
                ))
            }
            _ => None,
        };
        let logits = moco_logits(
            &q,
            &k,
            &self.queue.features,
            self.cfg.tau,
            dropped.as_ref(),
            hardest.as_ref().zip(plan.as_ref()),
        )?;
        self.record(
            &q,
            &k,
            &raw_hardest,
            &query_labels,
            &queue_labels,
            dropped.is_some(),
        )?;
        self.queue.enqueue(&k, labels)?;
        let targets = Tensor::zeros(b, DType::U32, &device)?;
        Ok((logits, targets))
    }

    /// Adds the step's diagnostics to the epoch's sums.
    fn record(
        &mut self,
        q: &Tensor,
        k: &Tensor,
        raw_hardest: &Tensor,
        query_labels: &[u32],
        queue_labels: &[u32],
        dropping: bool,
    ) -> Result<()> {
        let q = q.detach();
        let d = &mut self.diagnostics;
        d.steps += 1;
        d.alignment += (&q - k)?
            .sqr()?
            .sum(1)?
            .mean_all()?
            .to_dtype(DType::F64)?
            .to_scalar::<f64>()?;
        let gram = q.matmul(&q.t()?)?.to_dtype(DType::F64)?.to_vec2::<f64>()?;
        let n = gram.len();
        if n >= 2 {
            let mut sum = 0f64;
            for (i, row) in gram.iter().enumerate() {
                for (j, &g) in row.iter().enumerate() {
                    if i != j {
                        sum += (-2.0 * (2.0 - 2.0 * g)).exp();
                    }
                }
            }
            d.uniformity += (sum / (n * (n - 1)) as f64).ln();
        }
        if self.labelled {
            for (row, &ql) in raw_hardest.to_vec2::<u32>()?.iter().zip(query_labels) {
                for &j in row {
                    let l = queue_labels[j as usize];
                    if l != NO_LABEL {
                        d.hardest_labelled += 1;
                        d.hardest_same += (l == ql) as u64;
                    }
                }
            }
            if dropping {
                for &ql in query_labels {
                    for &l in queue_labels {
                        if l != NO_LABEL {
                            d.queue_labelled += 1;
                            d.dropped += (l == ql) as u64;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The epoch's diagnostics (means over its steps), and a fresh start for the next epoch.
    pub fn take_diagnostics(&mut self) -> BTreeMap<String, f64> {
        let d = std::mem::take(&mut self.diagnostics);
        let mut out = BTreeMap::new();
        if d.steps == 0 {
            return out;
        }
        out.insert("alignment".into(), d.alignment / d.steps as f64);
        out.insert("uniformity".into(), d.uniformity / d.steps as f64);
        if d.hardest_labelled > 0 {
            out.insert(
                "false_negatives_pct".into(),
                100.0 * d.hardest_same as f64 / d.hardest_labelled as f64,
            );
        }
        if d.queue_labelled > 0 {
            out.insert(
                "dropped_pct".into(),
                100.0 * d.dropped as f64 / d.queue_labelled as f64,
            );
        }
        out
    }

    /// The queue as checkpoint tensors (`moco.queue.*`; the key encoder is among the variables).
    pub fn state(&self) -> Result<HashMap<String, Tensor>> {
        self.queue.state(QUEUE)
    }

    /// Restores [`MocoHead::state`].
    pub fn load_state(&mut self, tensors: &HashMap<String, Tensor>) -> Result<()> {
        self.queue.load_state(QUEUE, tensors)
    }

    /// The queue's features and labels.
    pub fn queue(&self) -> (&Tensor, &Tensor) {
        (&self.queue.features, &self.queue.labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipes_parse_and_refuse_typos() {
        let r: ContrastiveRecipe = "mochi:256,512,256".parse().unwrap();
        assert_eq!(r.mochi, Some(Some(MochiConfig::new(256, 512, 256))));
        assert!(!r.hierarchy);
        let r: ContrastiveRecipe = "mochi-lca".parse().unwrap();
        assert_eq!((&r.mochi, r.hierarchy), (&Some(None), true));
        let cfg = r.apply(&MocoConfig::cpu());
        assert_eq!(cfg.name(), "mochi(64,128,64)-lca");
        assert_eq!(
            MocoConfig::paper().default_mochi(),
            MochiConfig::new(512, 1024, 512)
        );
        let plain: ContrastiveRecipe = "moco".parse().unwrap();
        assert_eq!(plain.apply(&MocoConfig::cpu()).name(), "moco");
        assert!("mocho"
            .parse::<ContrastiveRecipe>()
            .unwrap_err()
            .contains("mocho"));
        assert!("moco:1,2,3"
            .parse::<ContrastiveRecipe>()
            .unwrap_err()
            .contains("no N"));
        assert!("mochi:1,2"
            .parse::<ContrastiveRecipe>()
            .unwrap_err()
            .contains("2 number"));
        assert!("mochi:a,2,3"
            .parse::<ContrastiveRecipe>()
            .unwrap_err()
            .contains("whole"));
        // Written with colons, read with colons or commas.
        for text in [
            "moco",
            "mochi",
            "moco-lca",
            "mochi-lca",
            "mochi:256:512:0",
            "mochi-lca:8:6:4",
        ] {
            let r: ContrastiveRecipe = text.parse().unwrap();
            assert_eq!(r.to_string(), text);
        }
        let commas: ContrastiveRecipe = "mochi-lca:8,6,4".parse().unwrap();
        assert_eq!(commas.to_string(), "mochi-lca:8:6:4");
        assert_eq!(commas.without_hierarchy().to_string(), "mochi:8:6:4");
    }

    #[test]
    fn settings_are_checked_against_the_batch() {
        let ok = MocoConfig::cpu();
        assert!(ok.check(64).is_ok());
        let (name, value, reason) = ok.check(48).unwrap_err();
        assert_eq!((name, value.as_str()), ("MoCo queue size", "1024"));
        assert!(reason.contains("48"));
        let odd = MocoConfig {
            shuffle_groups: 3,
            ..MocoConfig::cpu()
        };
        assert_eq!(odd.check(64).unwrap_err().0, "MoCo shuffle groups");
        let big_n = MocoConfig {
            mochi: Some(MochiConfig::new(2048, 4, 4)),
            ..MocoConfig::cpu()
        };
        assert_eq!(big_n.check(64).unwrap_err().0, "MoCHi N");
    }

    #[test]
    fn plans_draw_distinct_pairs_and_follow_the_weights() {
        let m = MochiConfig::new(4, 50, 50);
        let plan = MixingPlan::draw(3, 4, &m, None, SampleRng::new("t", 0, 0, 0).rng());
        assert_eq!((plan.alpha.len(), plan.beta.len()), (150, 150));
        assert!(plan
            .first
            .iter()
            .zip(&plan.second)
            .all(|(i, j)| i != j && *i < 4 && *j < 4));
        assert!(plan.alpha.iter().all(|a| (0.0..1.0).contains(a)));
        assert!(plan.beta.iter().all(|b| (0.0..0.5).contains(b)));
        // Weights: position 0 never (weight 0), position 3 three times as often as position 1.
        let w = [0.0, 1.0, 0.0, 3.0].repeat(3);
        let plan = MixingPlan::draw(3, 4, &m, Some(&w), SampleRng::new("t", 0, 0, 1).rng());
        assert!(plan.partner.iter().all(|&p| p == 1 || p == 3));
        let threes = plan.partner.iter().filter(|&&p| p == 3).count();
        assert!((90..140).contains(&threes), "{threes}");
        // Pairs from two positive weights are always (1, 3) or (3, 1).
        assert!(plan
            .first
            .iter()
            .zip(&plan.second)
            .all(|(i, j)| (*i, *j) == (1, 3) || (*i, *j) == (3, 1)));
        // Same key, same plan.
        let again = MixingPlan::draw(3, 4, &m, Some(&w), SampleRng::new("t", 0, 0, 1).rng());
        assert_eq!(plan, again);
    }

    #[test]
    fn dropped_negatives_leave_the_softmax_without_nan() {
        let dev = Device::Cpu;
        let q = candle_core::Var::from_tensor(
            &l2_normalize(&Tensor::new(&[[1f32, 0.2], [0.1, 1.0]], &dev).unwrap()).unwrap(),
        )
        .unwrap();
        let k = l2_normalize(&Tensor::new(&[[1f32, 0.0], [0.0, 1.0]], &dev).unwrap()).unwrap();
        let queue =
            l2_normalize(&Tensor::new(&[[1f32, 0.1], [0.3, 1.0], [-1.0, 0.0]], &dev).unwrap())
                .unwrap();
        let mask = same_class_mask(&[0, 1], &[0, NO_LABEL, 1], &dev).unwrap();
        let logits = moco_logits(q.as_tensor(), &k, &queue, 0.2, Some(&mask), None).unwrap();
        let rows = logits.to_vec2::<f32>().unwrap();
        assert_eq!(rows[0][1], f32::NEG_INFINITY);
        assert_eq!(rows[1][3], f32::NEG_INFINITY);
        let loss = InfoNce::new()
            .loss(&logits, &Tensor::zeros(2, DType::U32, &dev).unwrap())
            .unwrap();
        let g = loss.backward().unwrap();
        let grad = g
            .get(q.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert!(grad.iter().all(|v| v.is_finite()), "{grad:?}");
        let hardest = hardest_negatives(
            &(q.as_tensor().matmul(&queue.t().unwrap()).unwrap() + &mask).unwrap(),
            3,
        )
        .unwrap();
        // The dropped entry sorts last.
        assert_eq!(hardest.to_vec2::<u32>().unwrap()[0][2], 0);
    }
}
