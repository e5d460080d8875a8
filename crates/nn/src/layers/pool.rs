//! Pooling on NHWC.

use super::to_nhwc;
use crate::error::Result;
use crate::kernels::GlobalAvgPoolOp;
use candle_core::{DType, Tensor};

/// Global average pooling of NHWC to `(B, C)`.
pub fn global_avg_pool(x: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == DType::F32 {
        return Ok(x.contiguous()?.apply_op1_no_bwd(&GlobalAvgPoolOp)?);
    }
    let (b, h, w, c) = x.dims4()?;
    Ok(x.reshape((b, h * w, c))?.mean(1)?)
}

/// 3×3 stride-2 max pooling with padding 1 on NHWC (ResNet's stem). The input is post-ReLU
/// (≥ 0), so zero padding gives the same maximum as PyTorch's −∞ padding.
pub fn max_pool_3x3_s2(x: &Tensor) -> Result<Tensor> {
    let x = x
        .pad_with_zeros(1, 1, 1)?
        .pad_with_zeros(2, 1, 1)?
        .permute((0, 3, 1, 2))?;
    let y = x.max_pool2d_with_stride(3, 2)?;
    to_nhwc(&y)
}
