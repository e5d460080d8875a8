//! The CPU kernels behind [`crate::layers`], as candle custom ops on contiguous NHWC `f32` data.
//!
//! Why not candle's `conv2d`: on CPU it runs grouped convolutions group by group (a depthwise
//! layer becomes C tiny convolutions, ≈16× slower than PyTorch) and needs an NCHW im2col copy
//! even for 1×1 kernels. These kernels keep activations channels-last:
//! * [`GemmOp`]: the GEMM of a 1×1 convolution straight on the NHWC rows (or of a k×k one on
//!   im2col rows), in cache-sized row blocks, bias, residual and activation applied to each
//!   block as soon as it is computed,
//! * [`ConvGemmOp`]: a k×k convolution as that GEMM over its windows, gathered (NHWC im2col)
//!   one cache-sized block at a time,
//! * [`DepthwiseOp`]: a direct depthwise convolution vectorized over channels (AVX-512 or
//!   AVX2+FMA picked at run time), bias and activation fused,
//! * [`InvertedResidualOp`]: expand GEMM → depthwise → project GEMM (+ input) of a
//!   MobileNet-V2/EfficientNet block run strip by strip, the expanded rows kept in cache,
//! * [`ToNhwcOp`], [`GlobalAvgPoolOp`]: NCHW → NHWC and the global average pool.

mod depthwise;
mod gemm;
mod im2col;
mod inverted_residual;
mod layout;

pub(crate) use depthwise::DepthwiseOp;
pub(crate) use gemm::GemmOp;
pub(crate) use im2col::ConvGemmOp;
pub(crate) use inverted_residual::{InvertedResidualOp, Tiling};
pub(crate) use layout::{GlobalAvgPoolOp, ToNhwcOp};

use crate::error::Result;
use candle_core::{CpuStorage, Layout, Tensor};

/// Element-wise activation applied after bias (and residual).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// No activation.
    Identity,
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, 0), 6)`, MobileNet's and EfficientNet-Lite's.
    Relu6,
    /// Exact (erf) GELU, as `torch.nn.GELU()`.
    Gelu,
}

impl Activation {
    /// The activation of one value (the CPU kernels).
    #[inline(always)]
    pub(crate) fn apply(self, v: f32) -> f32 {
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

    /// The activation over a slice in place, matched once outside the loop so that each arm
    /// vectorizes (a `match` per element does not).
    #[inline(always)]
    pub(crate) fn apply_slice(self, v: &mut [f32]) {
        match self {
            Activation::Identity => {}
            Activation::Relu => v.iter_mut().for_each(|x| *x = x.max(0.0)),
            Activation::Relu6 => v.iter_mut().for_each(|x| *x = x.clamp(0.0, 6.0)),
            Activation::Gelu => v.iter_mut().for_each(|x| *x = Activation::Gelu.apply(*x)),
        }
    }

    /// The same activation with candle ops (non-CPU devices).
    pub(crate) fn apply_tensor(self, x: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Activation::Identity => x.clone(),
            Activation::Relu => x.relu()?,
            Activation::Relu6 => x.clamp(0f32, 6f32)?,
            Activation::Gelu => x.gelu_erf()?,
        })
    }
}

/// Zero padding of a 2-D convolution, per side (TF "SAME" padding is asymmetric).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Padding {
    /// Rows above.
    pub top: usize,
    /// Rows below.
    pub bottom: usize,
    /// Columns on the left.
    pub left: usize,
    /// Columns on the right.
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

    /// Whether no side is padded.
    pub(crate) fn is_zero(&self) -> bool {
        *self == Padding::default()
    }
}

/// Sizes of a convolution's input (`h × w × c` per image, NHWC), its square kernel, stride and
/// padding, and the output width.
pub(super) struct Geometry {
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub k: usize,
    pub s: usize,
    pub p: Padding,
    pub ow: usize,
}

impl Geometry {
    pub fn new(h: usize, w: usize, c: usize, k: usize, s: usize, p: Padding) -> Self {
        let ow = (w + p.left + p.right - k) / s + 1;
        Geometry {
            h,
            w,
            c,
            k,
            s,
            p,
            ow,
        }
    }

    /// Output height.
    pub fn oh(&self) -> usize {
        (self.h + self.p.top + self.p.bottom - self.k) / self.s + 1
    }

    /// The first input row or column of output `o`'s window (negative on padding) and the taps
    /// `lo..hi` of it that fall inside the image.
    fn inside(&self, o: usize, pad: usize, size: usize) -> (isize, usize, usize) {
        let first = (o * self.s) as isize - pad as isize;
        let lo = (-first).clamp(0, self.k as isize) as usize;
        let hi = (size as isize - first).clamp(0, self.k as isize) as usize;
        (first, lo, hi.max(lo))
    }

    /// The input rows output row `oy` reads (clipped to the image).
    pub fn input_rows(&self, oy: usize) -> std::ops::Range<usize> {
        let (first, lo, hi) = self.inside(oy, self.p.top, self.h);
        (first + lo as isize) as usize..(first + hi as isize) as usize
    }
}

thread_local! {
    /// Each thread's scratch floats, kept between tasks and calls (a fresh allocation of a few
    /// MiB per task would be an `mmap` page-faulted in each time).
    static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` on this thread's scratch buffer, grown to at least `len` floats (contents left
/// from earlier calls). Not re-entrant: `f` must not call it again.
fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    SCRATCH.with_borrow_mut(|v| {
        if v.len() < len {
            v.resize(len, 0.0);
        }
        f(&mut v[..len])
    })
}

/// The contiguous `f32` data of a custom op's input.
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

/// `n` values in [-1, 1) from a seeded LCG, for the kernels' and layers' tests.
#[cfg(test)]
pub(crate) fn test_values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
