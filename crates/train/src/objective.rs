//! The loss a recipe minimises, behind a small trait so that the trainer does not depend on how
//! a loss is built: `hiercog-losses`' [`HierarchicalLoss`] (cross-entropy, HXE, soft labels)
//! implements it, so does MoCo's [`InfoNce`], and so can a test's wrapper.

use crate::moco::InfoNce;
use candle_core::{Result, Tensor};
use hiercog_losses::HierarchicalLoss;

/// A training loss over logits and integer targets.
pub trait Objective: Send + Sync {
    /// The mean loss of a batch: `logits` `(B, C)` f32, `targets` `(B,)` u32.
    fn loss(&self, logits: &Tensor, targets: &Tensor) -> Result<Tensor>;
    /// The loss as a recipe names it, e.g. `ce` or `hxe:0.1` (recorded with the model).
    fn spec(&self) -> String;
    /// The contrastive objective of MoCo's head (whose logits are similarities, target 0 the
    /// positive), if this is one; class-logit objectives return `None`.
    fn info_nce(&self) -> Option<&InfoNce> {
        None
    }
}

impl Objective for HierarchicalLoss {
    fn loss(&self, logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
        self.forward(logits, targets)
    }

    fn spec(&self) -> String {
        HierarchicalLoss::spec(self).to_string()
    }
}
