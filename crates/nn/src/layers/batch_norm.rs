//! BatchNorm at inference: running statistics, folded into the preceding convolution.

use crate::checkpoint::Weights;
use crate::error::Result;

/// The statistics of a `BatchNorm2d`, to fold into a preceding [`super::Conv`].
pub struct BatchNorm {
    /// Scale (`weight`).
    pub gamma: Vec<f32>,
    /// Shift (`bias`).
    pub beta: Vec<f32>,
    /// `running_mean`.
    pub mean: Vec<f32>,
    /// `running_var`.
    pub var: Vec<f32>,
    /// Added to the variance before the square root.
    pub eps: f64,
}

impl BatchNorm {
    /// The four tensors of the `BatchNorm2d` called `prefix`; its `num_batches_tracked` counter
    /// is accounted for, not read.
    pub fn load(w: &Weights, prefix: &str, channels: usize, eps: f64) -> Result<Self> {
        w.skip(&format!("{prefix}.num_batches_tracked"));
        Ok(BatchNorm {
            gamma: w.vec(&format!("{prefix}.weight"), channels)?,
            beta: w.vec(&format!("{prefix}.bias"), channels)?,
            mean: w.vec(&format!("{prefix}.running_mean"), channels)?,
            var: w.vec(&format!("{prefix}.running_var"), channels)?,
            eps,
        })
    }
}
