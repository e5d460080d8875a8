//! [`HierarchicalLoss`]: a [`LossSpec`] made concrete for one [`LabelTree`], as candle ops so that
//! gradients flow back to the logits.

use candle_core::{DType, Device, Tensor, D};
use hiercog_taxonomy::DistanceConvention;

use crate::error::Result;
use crate::spec::{LossSpec, SoftLoss};
use crate::targets::Array;
use crate::tree::LabelTree;

/// Node probabilities are floored here before their log, so that a subtree whose probability
/// underflows gives a large finite loss rather than −log 0 (the smallest normal `f32`).
const PROBABILITY_FLOOR: f64 = f32::MIN_POSITIVE as f64;

/// A training loss over a label tree: logits `[B, C]` and class indices `[B]` in, the batch mean
/// out, differentiable with candle's autograd.
///
/// Classes are the tree's classes, in the order of the labels the tree was built from. The
/// constant tensors (soft targets, HXE coefficients) are built once, in `f32`, on the device
/// given; the loss is computed in `f64` for `f64` logits and in `f32` otherwise.
///
/// ```
/// use candle_core::{Device, Tensor, Var};
/// use hiercog_losses::{HierarchicalLoss, LabelTree, LossSpec, TreeFromDag};
/// use hiercog_taxonomy::Taxonomy;
///
/// let wordnet = Taxonomy::wordnet()?;
/// let labels: Vec<String> = ["n02084071", "n02121808", "n02129604", "n04285008"]
///     .map(String::from).to_vec();
/// let tree = LabelTree::from_taxonomy(&wordnet, &labels, TreeFromDag::Longest)?;
/// let device = Device::Cpu;
/// let loss = HierarchicalLoss::new(&"hxe:0.1".parse::<LossSpec>()?, &tree, &device)?;
///
/// let logits = Var::from_tensor(&Tensor::new(&[[2.0f32, 0.5, 0.1, -1.0]], &device)?)?;
/// let targets = Tensor::new(&[1u32], &device)?;
/// let value = loss.forward(&logits, &targets)?;
/// let grads = value.backward()?;
/// assert!(value.to_scalar::<f32>()? > 0.0);
/// assert_eq!(grads.get(&logits).unwrap().dims(), &[1, 4]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct HierarchicalLoss {
    spec: LossSpec,
    num_classes: usize,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// Cross-entropy with label smoothing ε.
    CrossEntropy { smoothing: f64 },
    /// HXE = Σ_n K[t, n]·log P(n), P = softmax · M.
    Hxe {
        /// Leaf-to-ancestor matrix M, `[C, N]`.
        leaf_ancestor: Tensor,
        /// Path coefficients K, `[C, N]`.
        coefficients: Tensor,
    },
    /// −Σ y_t·log p, minus the entropy of y_t for KL.
    Soft {
        /// Soft targets, `[C, C]`, row t for true class t.
        targets: Tensor,
        /// Entropy of each row of `targets`, `[C]`; `None` for cross-entropy.
        entropy: Option<Tensor>,
    },
}

impl HierarchicalLoss {
    /// Builds the loss `spec` over `tree`'s classes, its constant tensors on `device`; fails on an
    /// out-of-range parameter, naming it.
    pub fn new(spec: &LossSpec, tree: &LabelTree, device: &Device) -> Result<HierarchicalLoss> {
        spec.validate()?;
        let c = tree.num_classes();
        let kind = match *spec {
            LossSpec::CrossEntropy { smoothing } => Kind::CrossEntropy { smoothing },
            LossSpec::Hxe { alpha, weighting } => Kind::Hxe {
                leaf_ancestor: tree.leaf_ancestor_matrix().to_tensor(device)?,
                coefficients: tree
                    .hxe_path_coefficients(alpha, weighting)?
                    .to_tensor(device)?,
            },
            LossSpec::SoftLabels {
                beta,
                loss,
                convention,
            } => soft_kind(tree, beta, loss, convention, device)?,
        };
        Ok(HierarchicalLoss {
            spec: *spec,
            num_classes: c,
            kind,
        })
    }

    /// The recipe this loss computes.
    pub fn spec(&self) -> &LossSpec {
        &self.spec
    }

    /// The mean loss over the batch, a scalar tensor. `logits` is `[B, C]` (`f32`, `f64`; halves
    /// are computed in `f32`), `targets` is `[B]` class indices (`u32`, `u8` or `i64`).
    pub fn forward(&self, logits: &Tensor, targets: &Tensor) -> candle_core::Result<Tensor> {
        let batch = match logits.dims() {
            &[b, c] if c == self.num_classes => b,
            dims => candle_core::bail!(
                "logits of shape {dims:?} given to a {} loss over {} classes: expected [batch, {}]",
                self.spec,
                self.num_classes,
                self.num_classes
            ),
        };
        if targets.dims() != [batch] {
            candle_core::bail!(
                "targets of shape {:?} for logits of shape {:?}: expected [{batch}] class indices",
                targets.dims(),
                logits.dims()
            );
        }
        let dtype = match logits.dtype() {
            DType::F64 => DType::F64,
            _ => DType::F32,
        };
        let log_p = candle_nn::ops::log_softmax(&logits.to_dtype(dtype)?, D::Minus1)?;
        let per_sample = match &self.kind {
            Kind::CrossEntropy { smoothing } => {
                let nll = log_p.gather(&targets.unsqueeze(1)?, 1)?.squeeze(1)?.neg()?;
                if *smoothing == 0.0 {
                    nll
                } else {
                    // q = (1-ε)·onehot + ε/C: −Σ q log p = (1-ε)·nll + ε·mean(−log p).
                    let uniform = log_p.mean(1)?.neg()?;
                    ((nll * (1.0 - smoothing))? + (uniform * *smoothing)?)?
                }
            }
            Kind::Hxe {
                leaf_ancestor,
                coefficients,
            } => {
                let node_p = log_p.exp()?.matmul(&leaf_ancestor.to_dtype(dtype)?)?;
                let log_node_p = node_p.maximum(PROBABILITY_FLOOR)?.log()?;
                let k = coefficients.index_select(targets, 0)?.to_dtype(dtype)?;
                (k * log_node_p)?.sum(1)?
            }
            Kind::Soft {
                targets: y,
                entropy,
            } => {
                let y_t = y.index_select(targets, 0)?.to_dtype(dtype)?;
                let ce = (y_t * &log_p)?.sum(1)?.neg()?;
                match entropy {
                    Some(h) => (ce - h.index_select(targets, 0)?.to_dtype(dtype)?)?,
                    None => ce,
                }
            }
        };
        per_sample.mean_all()
    }
}

/// The soft-label loss's constants: the target matrix and, for KL, the targets' entropies
/// (computed in `f64` from the unrounded targets).
fn soft_kind(
    tree: &LabelTree,
    beta: f64,
    loss: SoftLoss,
    convention: DistanceConvention,
    device: &Device,
) -> Result<Kind> {
    let c = tree.num_classes();
    let y = tree.soft_labels_f64(beta, convention)?;
    let entropy = match loss {
        SoftLoss::CrossEntropy => None,
        SoftLoss::Kl => {
            let h: Vec<f32> = y
                .chunks(c)
                .map(|row| {
                    -row.iter()
                        .filter(|&&v| v > 0.0)
                        .map(|&v| v * v.ln())
                        .sum::<f64>() as f32
                })
                .collect();
            Some(Tensor::from_vec(h, c, device)?)
        }
    };
    Ok(Kind::Soft {
        targets: Array::from_f64(vec![c, c], &y).to_tensor(device)?,
        entropy,
    })
}
