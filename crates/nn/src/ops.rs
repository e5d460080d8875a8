//! Channels-last (NHWC) layers with inference-time fusions, the fast path of every backbone.
//!
//! Why not candle's `conv2d`: on CPU it runs grouped convolutions group by group (a depthwise
//! layer becomes C tiny convolutions, ≈16× slower than PyTorch) and needs an NCHW im2col copy
//! even for 1×1 kernels. Here activations stay NHWC so that
//! * a 1×1 convolution is one GEMM over `(B·H·W, C_in) × (C_in, C_out)` with no copy,
//! * a k×k convolution is an NHWC im2col (contiguous `C`-long memcpys) + one GEMM per chunk,
//! * a depthwise convolution is a direct kernel vectorized over channels (AVX-512/AVX2+FMA
//!   picked at run time),
//! * BatchNorm is folded into the convolution's weight and bias at load time and the bias,
//!   residual and activation are applied in the same pass over the GEMM output.
//!
//! On other devices (CUDA) the same layers fall back to candle's own kernels, so a model
//! built here runs wherever candle does.

use crate::checkpoint::Weights;
use crate::error::Result;
use candle_core::{CpuStorage, DType, Device, Layout, Shape, Tensor};
use rayon::prelude::*;

/// Element-wise activation applied after bias (and residual).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Identity,
    Relu,
    Relu6,
    /// Exact (erf) GELU, as `torch.nn.GELU()`.
    Gelu,
}

impl Activation {
    #[inline(always)]
    fn apply(self, v: f32) -> f32 {
        match self {
            Activation::Identity => v,
            Activation::Relu => v.max(0.0),
            Activation::Relu6 => v.clamp(0.0, 6.0),
            Activation::Gelu => {
                (candle_core::cpu::erf::erf_f32(v * std::f32::consts::FRAC_1_SQRT_2) + 1.0)
                    * 0.5
                    * v
            }
        }
    }

    /// The same activation with candle ops (non-CPU devices).
    fn apply_tensor(self, x: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Activation::Identity => x.clone(),
            Activation::Relu => x.relu()?,
            Activation::Relu6 => x.clamp(0f32, 6f32)?,
            Activation::Gelu => x.gelu_erf()?,
        })
    }
}

/// BatchNorm statistics to fold into a preceding convolution.
pub struct BatchNorm {
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
    pub mean: Vec<f32>,
    pub var: Vec<f32>,
    pub eps: f64,
}

/// Zero padding of a 2-D convolution, per side (TF "SAME" padding is asymmetric).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Padding {
    pub top: usize,
    pub bottom: usize,
    pub left: usize,
    pub right: usize,
}

impl Padding {
    /// PyTorch's symmetric `padding=p`.
    pub fn symmetric(p: usize) -> Self {
        Padding {
            top: p,
            bottom: p,
            left: p,
            right: p,
        }
    }

    /// TensorFlow "SAME" padding for a static input size (EfficientNet-PyTorch's
    /// `Conv2dStaticSamePadding`): output `ceil(in / stride)`, the odd pixel at bottom/right.
    pub fn tf_same(in_h: usize, in_w: usize, k: usize, stride: usize) -> Self {
        let total = |i: usize| {
            let o = i.div_ceil(stride);
            ((o - 1) * stride + k).saturating_sub(i)
        };
        let (ph, pw) = (total(in_h), total(in_w));
        Padding {
            top: ph / 2,
            bottom: ph - ph / 2,
            left: pw / 2,
            right: pw - pw / 2,
        }
    }

    fn is_zero(&self) -> bool {
        *self == Padding::default()
    }
}

enum Kernel {
    /// `(kh·kw·C_in, C_out)` matrix for im2col/1×1 GEMMs.
    Dense(Tensor),
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

/// Largest im2col buffer built at once (floats); bigger batches are processed in chunks.
const IM2COL_CHUNK: usize = 16 << 20;

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
                .reshape((kh * kw * i, o))?
                .contiguous()?
                .to_device(device)?;
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

    /// Number of output channels.
    pub fn out_channels(&self) -> usize {
        self.bias_host.len()
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
            Kernel::Depthwise(taps) => {
                let op = DepthwiseOp {
                    taps,
                    bias: &self.bias_host,
                    k: self.k,
                    stride: self.stride,
                    pad: self.pad,
                    act: self.act,
                };
                let y = x.apply_op1_no_bwd(&op)?;
                match residual {
                    Some(r) => Ok(y.add(r)?),
                    None => Ok(y),
                }
            }
            Kernel::Dense(m) => {
                let y = if self.k == 1 && self.stride == 1 && self.pad.is_zero() {
                    x.reshape((b * h * w, c))?.matmul(m)?
                } else {
                    let per_image = oh * ow * self.k * self.k * c;
                    let chunk = (IM2COL_CHUNK / per_image.max(1)).clamp(1, b);
                    let mut parts = Vec::with_capacity(b.div_ceil(chunk));
                    for start in (0..b).step_by(chunk) {
                        let n = chunk.min(b - start);
                        let cols = x.narrow(0, start, n)?.apply_op1_no_bwd(&Im2colOp {
                            k: self.k,
                            stride: self.stride,
                            pad: self.pad,
                        })?;
                        parts.push(cols.matmul(m)?);
                    }
                    if parts.len() == 1 {
                        parts.pop().expect("one part")
                    } else {
                        Tensor::cat(&parts, 0)?
                    }
                };
                let y = match residual {
                    Some(r) => y.add(&r.reshape(y.shape())?)?,
                    None => y,
                };
                y.inplace_op1(&BiasAct {
                    bias: &self.bias_host,
                    act: self.act,
                })?;
                Ok(y.reshape((b, oh, ow, self.out_channels()))?)
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

/// A fully connected layer `act(x Wᵀ + b)` over the last dimension.
pub struct Linear {
    /// `(in, out)`, contiguous.
    weight_t: Tensor,
    bias: Tensor,
    bias_host: Vec<f32>,
    act: Activation,
}

impl Linear {
    /// From PyTorch's `(out, in)` weight and `(out)` bias (host tensors).
    pub fn new(weight: &Tensor, bias: Vec<f32>, act: Activation, device: &Device) -> Result<Self> {
        Ok(Linear {
            weight_t: weight.t()?.contiguous()?.to_device(device)?,
            bias: Tensor::from_vec(bias.clone(), bias.len(), device)?,
            bias_host: bias,
            act,
        })
    }

    /// The classifier head `{prefix}.weight` / `{prefix}.bias` over `inputs` features, if the
    /// checkpoint has one: headless checkpoints give features only.
    pub fn optional_head(
        w: &Weights,
        prefix: &str,
        inputs: usize,
        device: &Device,
    ) -> Result<Option<Self>> {
        let key = format!("{prefix}.weight");
        match w.shape(&key) {
            Some(s) if s.len() == 2 => {
                let weight = w.get(&key, &[s[0], inputs])?;
                let bias = w.vec(&format!("{prefix}.bias"), s[0])?;
                Ok(Some(Linear::new(
                    &weight,
                    bias,
                    Activation::Identity,
                    device,
                )?))
            }
            _ => Ok(None),
        }
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let (inp, out) = self.weight_t.dims2()?;
        let rows = x.elem_count() / inp;
        let y = x.reshape((rows, inp))?.matmul(&self.weight_t)?;
        let mut out_dims = dims;
        *out_dims.last_mut().expect("rank ≥ 1") = out;
        if y.device().is_cpu() {
            y.inplace_op1(&BiasAct {
                bias: &self.bias_host,
                act: self.act,
            })?;
            Ok(y.reshape(out_dims)?)
        } else {
            let y = self.act.apply_tensor(&y.broadcast_add(&self.bias)?)?;
            Ok(y.reshape(out_dims)?)
        }
    }
}

/// Global average pooling of NHWC to `(B, C)`.
pub fn global_avg_pool(x: &Tensor) -> Result<Tensor> {
    let (b, h, w, c) = x.dims4()?;
    Ok(x.reshape((b, h * w, c))?.mean(1)?)
}

/// NCHW input to NHWC, contiguous.
pub fn to_nhwc(x: &Tensor) -> Result<Tensor> {
    Ok(x.permute((0, 2, 3, 1))?.contiguous()?)
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

fn cpu_slice<'a>(
    storage: &'a CpuStorage,
    layout: &Layout,
    op: &str,
) -> candle_core::Result<&'a [f32]> {
    let data = match storage {
        CpuStorage::F32(v) => v.as_slice(),
        _ => candle_core::bail!("{op}: expected f32 data"),
    };
    match layout.contiguous_offsets() {
        Some((s, e)) => Ok(&data[s..e]),
        None => candle_core::bail!("{op}: input must be contiguous"),
    }
}

/// NHWC im2col: `(B, H, W, C)` → `(B·OH·OW, k·k·C)` with rows in output-pixel order and columns
/// in `(kh, kw, c)` order, matching [`Kernel::Dense`].
struct Im2colOp {
    k: usize,
    stride: usize,
    pad: Padding,
}

impl candle_core::CustomOp1 for Im2colOp {
    fn name(&self) -> &'static str {
        "im2col-nhwc"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = cpu_slice(storage, layout, self.name())?;
        let (b, h, w, c) = layout.shape().dims4()?;
        let (k, s, p) = (self.k, self.stride, self.pad);
        let oh = (h + p.top + p.bottom - k) / s + 1;
        let ow = (w + p.left + p.right - k) / s + 1;
        let kk = k * k * c;
        let mut out = vec![0f32; b * oh * ow * kk];
        out.par_chunks_mut(kk).enumerate().for_each(|(row, dst)| {
            let (bi, rest) = (row / (oh * ow), row % (oh * ow));
            let (oy, ox) = (rest / ow, rest % ow);
            for ky in 0..k {
                let iy = (oy * s + ky) as isize - p.top as isize;
                if iy < 0 || iy >= h as isize {
                    continue; // stays zero
                }
                for kx in 0..k {
                    let ix = (ox * s + kx) as isize - p.left as isize;
                    if ix < 0 || ix >= w as isize {
                        continue;
                    }
                    let src = ((bi * h + iy as usize) * w + ix as usize) * c;
                    dst[(ky * k + kx) * c..][..c].copy_from_slice(&x[src..src + c]);
                }
            }
        });
        Ok((CpuStorage::F32(out), Shape::from((b * oh * ow, kk))))
    }
}

/// Direct depthwise convolution on NHWC with bias and activation fused.
struct DepthwiseOp<'a> {
    taps: &'a [f32],
    bias: &'a [f32],
    k: usize,
    stride: usize,
    pad: Padding,
    act: Activation,
}

impl candle_core::CustomOp1 for DepthwiseOp<'_> {
    fn name(&self) -> &'static str {
        "depthwise-nhwc"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = cpu_slice(storage, layout, self.name())?;
        let (b, h, w, c) = layout.shape().dims4()?;
        let (k, s, p) = (self.k, self.stride, self.pad);
        let oh = (h + p.top + p.bottom - k) / s + 1;
        let ow = (w + p.left + p.right - k) / s + 1;
        let mut out = vec![0f32; b * oh * ow * c];
        let geo = Geometry {
            h,
            w,
            c,
            k,
            s,
            p,
            ow,
        };
        out.par_chunks_mut(ow * c)
            .enumerate()
            .for_each(|(row, dst)| {
                let (bi, oy) = (row / oh, row % oh);
                let img = &x[bi * h * w * c..][..h * w * c];
                depthwise_row(img, self.taps, self.bias, self.act, &geo, oy, dst);
            });
        Ok((CpuStorage::F32(out), Shape::from((b, oh, ow, c))))
    }
}

struct Geometry {
    h: usize,
    w: usize,
    c: usize,
    k: usize,
    s: usize,
    p: Padding,
    ow: usize,
}

/// One output row of a depthwise convolution, dispatched to the widest SIMD the CPU has.
fn depthwise_row(
    img: &[f32],
    taps: &[f32],
    bias: &[f32],
    act: Activation,
    g: &Geometry,
    oy: usize,
    dst: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports the features enabled on the callee.
            return unsafe { depthwise_row_avx512(img, taps, bias, act, g, oy, dst) };
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: as above.
            return unsafe { depthwise_row_avx2(img, taps, bias, act, g, oy, dst) };
        }
    }
    depthwise_row_impl::<false>(img, taps, bias, act, g, oy, dst)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn depthwise_row_avx512(
    img: &[f32],
    taps: &[f32],
    bias: &[f32],
    act: Activation,
    g: &Geometry,
    oy: usize,
    dst: &mut [f32],
) {
    depthwise_row_impl::<true>(img, taps, bias, act, g, oy, dst)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn depthwise_row_avx2(
    img: &[f32],
    taps: &[f32],
    bias: &[f32],
    act: Activation,
    g: &Geometry,
    oy: usize,
    dst: &mut [f32],
) {
    depthwise_row_impl::<true>(img, taps, bias, act, g, oy, dst)
}

/// The kernel body: for each output pixel, accumulate `k·k` channel vectors (the inner loop
/// runs over contiguous channels, so it vectorizes), then add bias and activate.
#[inline(always)]
fn depthwise_row_impl<const FMA: bool>(
    img: &[f32],
    taps: &[f32],
    bias: &[f32],
    act: Activation,
    g: &Geometry,
    oy: usize,
    dst: &mut [f32],
) {
    let c = g.c;
    for ox in 0..g.ow {
        let acc = &mut dst[ox * c..][..c];
        acc.copy_from_slice(bias);
        for ky in 0..g.k {
            let iy = (oy * g.s + ky) as isize - g.p.top as isize;
            if iy < 0 || iy >= g.h as isize {
                continue;
            }
            for kx in 0..g.k {
                let ix = (ox * g.s + kx) as isize - g.p.left as isize;
                if ix < 0 || ix >= g.w as isize {
                    continue;
                }
                let src = &img[(iy as usize * g.w + ix as usize) * c..][..c];
                let wt = &taps[(ky * g.k + kx) * c..][..c];
                for ((a, &xv), &wv) in acc.iter_mut().zip(src).zip(wt) {
                    *a = if FMA {
                        xv.mul_add(wv, *a)
                    } else {
                        *a + xv * wv
                    };
                }
            }
        }
        if act != Activation::Identity {
            acc.iter_mut().for_each(|v| *v = act.apply(*v));
        }
    }
}

/// In place `act(y + bias)` over the rows of a `(rows, C)` GEMM output.
struct BiasAct<'a> {
    bias: &'a [f32],
    act: Activation,
}

impl candle_core::InplaceOp1 for BiasAct<'_> {
    fn name(&self) -> &'static str {
        "bias-act"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> candle_core::Result<()> {
        let (s, e) = match layout.contiguous_offsets() {
            Some(o) => o,
            None => candle_core::bail!("bias-act: output must be contiguous"),
        };
        let data = match storage {
            CpuStorage::F32(v) => &mut v[s..e],
            _ => candle_core::bail!("bias-act: expected f32"),
        };
        let c = self.bias.len();
        let (bias, act) = (self.bias, self.act);
        data.par_chunks_mut((c * 64).max(1)).for_each(|block| {
            for row in block.chunks_mut(c) {
                for (v, &b) in row.iter_mut().zip(bias) {
                    *v = act.apply(*v + b);
                }
            }
        });
        Ok(())
    }
}

/// Guards the `f32` assumption of the CPU kernels.
pub fn ensure_f32(x: &Tensor) -> Result<Tensor> {
    Ok(if x.dtype() == DType::F32 {
        x.clone()
    } else {
        x.to_dtype(DType::F32)?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rand(shape: &[usize], seed: u64) -> Tensor {
        let n: usize = shape.iter().product();
        let mut s = seed;
        let v: Vec<f32> = (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    /// The fast NHWC kernels agree with candle's reference NCHW convolution.
    fn check(cin: usize, cout: usize, k: usize, stride: usize, pad: Padding, groups: usize) {
        let x = rand(&[2, 9, 11, cin], 1);
        let w = rand(&[cout, cin / groups, k, k], 2);
        let conv = Conv::new(
            &w,
            Some(vec![0.25; cout]),
            None,
            stride,
            pad,
            groups,
            Activation::Identity,
            &Device::Cpu,
        )
        .unwrap();
        let got = conv.forward(&x, None).unwrap();
        let want = conv.forward_fallback(&x, None).unwrap();
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

    #[test]
    fn tf_same_padding_is_asymmetric_for_stride_two() {
        assert_eq!(
            Padding::tf_same(224, 224, 3, 2),
            Padding {
                top: 0,
                bottom: 1,
                left: 0,
                right: 1
            }
        );
        assert_eq!(Padding::tf_same(112, 112, 5, 1), Padding::symmetric(2));
        assert_eq!(
            Padding::tf_same(28, 28, 5, 2),
            Padding {
                top: 1,
                bottom: 2,
                left: 1,
                right: 2
            }
        );
    }

    #[test]
    fn activations() {
        assert_eq!(Activation::Relu6.apply(7.0), 6.0);
        assert_eq!(Activation::Relu.apply(-1.0), 0.0);
        assert!((Activation::Gelu.apply(1.0) - 0.841_344_8).abs() < 1e-6);
    }
}
