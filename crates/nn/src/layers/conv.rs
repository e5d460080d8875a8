//! 2-D convolutions on NHWC with BatchNorm folded in and bias, residual and activation fused.

use super::{Activation, BatchNorm, Padding};
use crate::checkpoint::Weights;
use crate::error::Result;
use crate::kernels::{ConvGemmOp, DepthwiseOp, GemmOp};
use candle_core::{Device, Tensor};

enum Kernel {
    /// `(kh·kw·C_in, C_out)` row-major matrix for im2col/1×1 GEMMs, kept on the host for the
    /// CPU kernel.
    Dense(Vec<f32>),
    /// `(kh·kw, C)` taps of a depthwise convolution, kept on the host for the CPU kernel.
    Depthwise(Vec<f32>),
}

/// A 2-D convolution (dense or depthwise) with folded BatchNorm, bias and activation, on NHWC.
pub struct Conv {
    kernel: Kernel,
    /// Folded weight in PyTorch's `(O, I/groups, kh, kw)` layout for the non-CPU fallback.
    weight_oihw: Tensor,
    bias: Tensor,
    bias_host: Vec<f32>,
    k: usize,
    stride: usize,
    pad: Padding,
    groups: usize,
    act: Activation,
}

/// Channels, kernel size and placement of a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvShape {
    /// Input channels.
    pub cin: usize,
    /// Output channels.
    pub cout: usize,
    /// Side of the square kernel.
    pub k: usize,
    /// Stride in both directions.
    pub stride: usize,
    /// Zero padding.
    pub pad: Padding,
    /// 1 (dense) or `cin` (depthwise).
    pub groups: usize,
}

impl Conv {
    /// Builds a convolution from a PyTorch `(O, I/groups, k, k)` weight (host, f32), an optional
    /// bias and an optional BatchNorm to fold. `groups` must be 1 or equal to the channel count.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        weight: &Tensor,
        bias: Option<Vec<f32>>,
        bn: Option<BatchNorm>,
        stride: usize,
        pad: Padding,
        groups: usize,
        act: Activation,
        device: &Device,
    ) -> Result<Self> {
        let (o, i, kh, kw) = weight.dims4()?;
        let k = kh;
        debug_assert_eq!(kh, kw, "square kernels only");
        let mut w = weight.flatten_all()?.to_vec1::<f32>()?;
        let mut b = bias.unwrap_or_else(|| vec![0.0; o]);
        if let Some(bn) = bn {
            let per_out = i * kh * kw;
            for oc in 0..o {
                let scale = bn.gamma[oc] / ((bn.var[oc] as f64 + bn.eps).sqrt() as f32);
                w[oc * per_out..(oc + 1) * per_out]
                    .iter_mut()
                    .for_each(|v| *v *= scale);
                b[oc] = (b[oc] - bn.mean[oc]) * scale + bn.beta[oc];
            }
        }
        let weight_oihw = Tensor::from_vec(w.clone(), (o, i, kh, kw), device)?;
        let kernel = if groups == 1 {
            // (O, I, kh, kw) -> (kh, kw, I, O) -> (kh·kw·I, O)
            let m = Tensor::from_vec(w, (o, i, kh, kw), &Device::Cpu)?
                .permute((2, 3, 1, 0))?
                .flatten_all()?
                .to_vec1::<f32>()?;
            Kernel::Dense(m)
        } else {
            debug_assert!(
                groups == o && i == 1,
                "only dense or depthwise convolutions"
            );
            // (C, 1, kh, kw) -> (kh·kw, C)
            let mut t = vec![0f32; w.len()];
            for c in 0..o {
                for tap in 0..kh * kw {
                    t[tap * o + c] = w[c * kh * kw + tap];
                }
            }
            Kernel::Depthwise(t)
        };
        Ok(Conv {
            kernel,
            weight_oihw,
            bias: Tensor::from_vec(b.clone(), o, device)?,
            bias_host: b,
            k,
            stride,
            pad,
            groups,
            act,
        })
    }

    /// The bias-free convolution `{name}.weight` followed by the BatchNorm called `bn` (folded
    /// in) and `act`: the convolution–BatchNorm–activation unit of CNNs.
    #[allow(clippy::too_many_arguments)]
    pub fn load_bn(
        w: &Weights,
        name: &str,
        bn: &str,
        eps: f64,
        shape: ConvShape,
        act: Activation,
        device: &Device,
    ) -> Result<Self> {
        let ConvShape {
            cin,
            cout,
            k,
            stride,
            pad,
            groups,
        } = shape;
        let weight = w.get(&format!("{name}.weight"), &[cout, cin / groups, k, k])?;
        let bn = BatchNorm::load(w, bn, cout, eps)?;
        Conv::new(&weight, None, Some(bn), stride, pad, groups, act, device)
    }

    /// Number of output channels.
    pub fn out_channels(&self) -> usize {
        self.bias_host.len()
    }

    /// The CPU kernel of a depthwise convolution.
    pub(crate) fn depthwise_op(&self) -> Option<DepthwiseOp<'_>> {
        match &self.kernel {
            Kernel::Depthwise(taps) => Some(DepthwiseOp {
                taps,
                bias: &self.bias_host,
                k: self.k,
                stride: self.stride,
                pad: self.pad,
                act: self.act,
            }),
            Kernel::Dense(_) => None,
        }
    }

    /// The CPU kernel of a 1×1 convolution (stride 1, no padding): one GEMM on the NHWC rows.
    pub(crate) fn pointwise_op(&self) -> Option<GemmOp<'_>> {
        match &self.kernel {
            Kernel::Dense(m) if self.k == 1 && self.stride == 1 && self.pad.is_zero() => {
                Some(self.gemm_op(m))
            }
            _ => None,
        }
    }

    /// The GEMM of the dense kernel matrix `m` (`k·k·C_in × C_out`), bias and activation.
    fn gemm_op<'a>(&'a self, m: &'a [f32]) -> GemmOp<'a> {
        GemmOp {
            weight: m,
            bias: &self.bias_host,
            act: self.act,
        }
    }

    /// `act(conv(x) + bias + residual)` on an NHWC tensor.
    pub fn forward(&self, x: &Tensor, residual: Option<&Tensor>) -> Result<Tensor> {
        if !x.device().is_cpu() {
            return self.forward_fallback(x, residual);
        }
        let (b, h, w, c) = x.dims4()?;
        let oh = (h + self.pad.top + self.pad.bottom - self.k) / self.stride + 1;
        let ow = (w + self.pad.left + self.pad.right - self.k) / self.stride + 1;
        let x = x.contiguous()?;
        match &self.kernel {
            Kernel::Depthwise(_) => {
                let op = self.depthwise_op().expect("a depthwise kernel");
                match residual {
                    // No model here adds a residual after a depthwise convolution: unfused.
                    Some(r) => {
                        let op = DepthwiseOp {
                            act: Activation::Identity,
                            ..op
                        };
                        self.act.apply_tensor(&x.apply_op1_no_bwd(&op)?.add(r)?)
                    }
                    None => Ok(x.apply_op1_no_bwd(&op)?),
                }
            }
            Kernel::Dense(m) => {
                let gemm = self.gemm_op(m);
                let cout = self.out_channels();
                if self.k == 1 && self.stride == 1 && self.pad.is_zero() {
                    let rows = x.reshape((b * h * w, c))?;
                    let y = match residual {
                        Some(r) => {
                            let r = r.contiguous()?.reshape((b * h * w, cout))?;
                            rows.apply_op2_no_bwd(&r, &gemm)?
                        }
                        None => rows.apply_op1_no_bwd(&gemm)?,
                    };
                    Ok(y.reshape((b, oh, ow, cout))?)
                } else {
                    let op = ConvGemmOp {
                        gemm,
                        k: self.k,
                        stride: self.stride,
                        pad: self.pad,
                    };
                    Ok(match residual {
                        Some(r) => x.apply_op2_no_bwd(&r.contiguous()?, &op)?,
                        None => x.apply_op1_no_bwd(&op)?,
                    })
                }
            }
        }
    }

    /// candle's NCHW convolution, for devices without the CPU kernels above.
    fn forward_fallback(&self, x: &Tensor, residual: Option<&Tensor>) -> Result<Tensor> {
        let p = self.pad;
        let x = x
            .pad_with_zeros(1, p.top, p.bottom)?
            .pad_with_zeros(2, p.left, p.right)?
            .permute((0, 3, 1, 2))?
            .contiguous()?;
        let y = x.conv2d(&self.weight_oihw, 0, self.stride, 1, self.groups)?;
        let y = y.permute((0, 2, 3, 1))?.broadcast_add(&self.bias)?;
        let y = match residual {
            Some(r) => y.add(r)?,
            None => y,
        };
        self.act.apply_tensor(&y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::layers::test_tensor as rand;

    /// The fast NHWC kernels agree with candle's reference NCHW convolution, alone and with a
    /// residual and ReLU6 fused.
    fn check(cin: usize, cout: usize, k: usize, stride: usize, pad: Padding, groups: usize) {
        let x = rand(&[2, 9, 11, cin], 1);
        let w = rand(&[cout, cin / groups, k, k], 2);
        for act in [Activation::Identity, Activation::Relu6] {
            let conv = Conv::new(
                &w,
                Some(vec![0.25; cout]),
                None,
                stride,
                pad,
                groups,
                act,
                &Device::Cpu,
            )
            .unwrap();
            let got = conv.forward(&x, None).unwrap();
            let want = conv.forward_fallback(&x, None).unwrap();
            assert_close(&got, &want);
            let residual = rand(got.dims(), 3);
            let got = conv.forward(&x, Some(&residual)).unwrap();
            let want = conv.forward_fallback(&x, Some(&residual)).unwrap();
            assert_close(&got, &want);
        }
    }

    fn assert_close(got: &Tensor, want: &Tensor) {
        assert_eq!(got.dims(), want.dims());
        let d = (got - want)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(d < 1e-4, "max diff {d}");
    }

    #[test]
    fn dense_convs_match_candle() {
        check(5, 7, 1, 1, Padding::default(), 1);
        check(5, 7, 1, 2, Padding::default(), 1);
        check(5, 7, 3, 1, Padding::symmetric(1), 1);
        check(3, 8, 3, 2, Padding::tf_same(9, 11, 3, 2), 1);
        check(4, 6, 7, 2, Padding::symmetric(3), 1);
    }

    #[test]
    fn depthwise_convs_match_candle() {
        check(16, 16, 3, 1, Padding::tf_same(9, 11, 3, 1), 16);
        check(16, 16, 5, 2, Padding::tf_same(9, 11, 5, 2), 16);
        check(19, 19, 3, 2, Padding::symmetric(1), 19);
    }
}
