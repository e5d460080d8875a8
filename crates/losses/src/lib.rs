//! hiercog-losses: class hierarchies over a label set, and the training losses and targets
//! derived from them ("Making Better Mistakes", Bertinetto et al., CVPR 2020).
//!
//! - [`LabelTree`]: the tree whose leaves are a classifier's labels, built from any
//!   `hiercog_taxonomy::Taxonomy` (WordNet, a WordNet subtree, a user is-a file) by a named rule
//!   for the DAG's extra parents ([`TreeFromDag`]), reporting the edges it dropped; depths,
//!   heights, LCA-height distances in both conventions.
//! - [`LossSpec`]: the loss recipes (`ce`, `ce:0.1`, `hxe:0.1`, `hxe-paper:0.1`, `soft:10`) with
//!   their text form and serde, so that the CLI and configs read them here.
//! - [`HierarchicalLoss`]: cross-entropy (label smoothing), hierarchical cross-entropy in the
//!   reference code's and the paper's forms ([`HxeWeighting`]), soft labels (KL or
//!   cross-entropy, [`SoftLoss`]) on candle tensors, gradients flowing to the logits; values and
//!   gradients match the fiveai/making-better-mistakes formulas run in PyTorch
//!   (`tests/parity.rs`).
//! - The same hierarchy as plain arrays ([`Array`]: soft targets, HXE weights, the leaf-to-ancestor
//!   matrix) for other frameworks.
#![warn(missing_docs)]

mod error;
mod loss;
mod spec;
mod targets;
mod tree;

pub use error::{closest, Error, Result};
pub use loss::HierarchicalLoss;
pub use spec::{HxeWeighting, LossSpec, SoftLoss};
pub use targets::Array;
pub use tree::{DroppedEdge, LabelTree, TreeFromDag};

/// The README's example, compiled and run as a doc test.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
