//! Channels-last (NHWC) layers with inference-time fusions, the building blocks of every
//! backbone in [`crate::models`]; each layer loads its own tensors from [`Weights`].
//!
//! Activations stay NHWC so that
//! * a 1×1 convolution is one GEMM over `(B·H·W, C_in) × (C_in, C_out)` with no copy,
//! * a k×k convolution is an NHWC im2col + one GEMM per chunk,
//! * a depthwise convolution is a direct kernel vectorized over channels,
//! * an inverted-residual block (expand → depthwise → project) runs fused, strip by strip,
//! * BatchNorm is folded into the convolution's weight and bias at load time, and the bias,
//!   residual and activation are applied in the same pass over the GEMM output
//!
//! (the CPU kernels are in the private `kernels` module). On other devices (CUDA) the same layers fall
//! back to candle's own kernels, so a model built here runs wherever candle does.
//!
//! [`Weights`]: crate::Weights

mod batch_norm;
mod conv;
mod inverted_residual;
mod layer_norm;
mod linear;
mod pool;

pub use crate::kernels::{Activation, Padding};
pub use batch_norm::BatchNorm;
pub use conv::{Conv, ConvShape};
pub use inverted_residual::InvertedResidual;
pub use layer_norm::LayerNorm;
pub use linear::Linear;
pub use pool::{global_avg_pool, max_pool_3x3_s2};

use crate::error::Result;
use candle_core::{DType, Tensor};

/// NCHW input to NHWC, contiguous.
pub fn to_nhwc(x: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == DType::F32 {
        return Ok(x
            .contiguous()?
            .apply_op1_no_bwd(&crate::kernels::ToNhwcOp)?);
    }
    Ok(x.permute((0, 2, 3, 1))?.contiguous()?)
}

/// Guards the `f32` assumption of the CPU kernels.
pub fn ensure_f32(x: &Tensor) -> Result<Tensor> {
    Ok(if x.dtype() == DType::F32 {
        x.clone()
    } else {
        x.to_dtype(DType::F32)?
    })
}

/// A tensor of [`crate::kernels::test_values`], for the layers' tests.
#[cfg(test)]
pub(crate) fn test_tensor(shape: &[usize], seed: u64) -> Tensor {
    let n = shape.iter().product();
    let v = crate::kernels::test_values(n, seed);
    Tensor::from_vec(v, shape, &candle_core::Device::Cpu).expect("shape matches")
}
