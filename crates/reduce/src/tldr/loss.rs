//! The Barlow Twins loss (Zbontar et al. 2021) as TLDR uses it: on batch-normalised projector
//! outputs z₁, z₂ (batch B), c = z₁ᵀz₂ / B and
//! L = scale · [Σᵢ (cᵢᵢ − 1)² + λ Σ_{i≠j} cᵢⱼ²].

use candle_core::{DType, Tensor};

use crate::error::Result;

/// The loss of batch-normalised outputs `z1`, `z2` (B × p).
pub fn barlow_twins_loss(z1: &Tensor, z2: &Tensor, scale: f64, lambda: f64) -> Result<Tensor> {
    let (b, p) = z1.dims2()?;
    let c = z1.t()?.matmul(z2)?.affine(1.0 / b as f64, 0.0)?;
    let eye = Tensor::eye(p, DType::F32, z1.device())?;
    let on_diag = ((&c * &eye)? - &eye)?.sqr()?.sum_all()?;
    let off_diag = (&c - (&c * &eye)?)?.sqr()?.sum_all()?;
    Ok(((on_diag + (off_diag * lambda)?)? * scale)?)
}
