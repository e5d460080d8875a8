//! LayerNorm over the last dimension (transformers).

use crate::checkpoint::Weights;
use crate::error::Result;
use candle_core::{Device, Tensor};

/// `LayerNorm(dim, eps)` with its affine weight and bias.
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f32,
}

impl LayerNorm {
    /// `{prefix}.weight` and `{prefix}.bias` of width `dim`.
    pub fn load(w: &Weights, prefix: &str, dim: usize, eps: f32, device: &Device) -> Result<Self> {
        Ok(LayerNorm {
            weight: w
                .get(&format!("{prefix}.weight"), &[dim])?
                .to_device(device)?,
            bias: w
                .get(&format!("{prefix}.bias"), &[dim])?
                .to_device(device)?,
            eps,
        })
    }

    /// Normalizes `x` over its last dimension.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(candle_nn::ops::layer_norm(
            x,
            &self.weight,
            &self.bias,
            self.eps,
        )?)
    }
}
