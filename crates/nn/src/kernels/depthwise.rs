//! The depthwise convolution of MobileNet-style blocks, direct on NHWC.

use super::{cpu_slice, Activation, Padding};
use candle_core::{CpuStorage, Layout, Shape};
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Direct depthwise convolution on NHWC with bias and activation fused.
pub(crate) struct DepthwiseOp<'a> {
    pub taps: &'a [f32],
    pub bias: &'a [f32],
    pub k: usize,
    pub stride: usize,
    pub pad: Padding,
    pub act: Activation,
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
        let len = b * oh * ow * c;
        // Not zeroed: the kernel writes every output value once (a memset of each activation
        // cost ≈10% of EfficientNet-Lite0's forward pass).
        let mut out = Vec::with_capacity(len);
        let geo = Geometry {
            h,
            w,
            c,
            k,
            s,
            p,
            ow,
        };
        out.spare_capacity_mut()[..len]
            .par_chunks_mut(ow * c)
            .enumerate()
            .for_each(|(row, dst)| {
                let (bi, oy) = (row / oh, row % oh);
                let img = &x[bi * h * w * c..][..h * w * c];
                depthwise_row(img, self.taps, self.bias, self.act, &geo, oy, dst);
            });
        // SAFETY: `depthwise_row_impl` wrote all `ow * c` values of every output row.
        unsafe { out.set_len(len) };
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
    dst: &mut [MaybeUninit<f32>],
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
    dst: &mut [MaybeUninit<f32>],
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
    dst: &mut [MaybeUninit<f32>],
) {
    depthwise_row_impl::<true>(img, taps, bias, act, g, oy, dst)
}

/// Channels per register-held accumulator: one AVX-512 register, two AVX2 ones.
const LANES: usize = 16;

/// The kernel body: for each output pixel and block of [`LANES`] channels, accumulate the
/// `k·k` taps in registers (bias first, taps in row-major order, as the scalar tail does), then
/// activate and store once. Keeping the sums out of memory halves the loads per FMA.
#[inline(always)]
fn depthwise_row_impl<const FMA: bool>(
    img: &[f32],
    taps: &[f32],
    bias: &[f32],
    act: Activation,
    g: &Geometry,
    oy: usize,
    dst: &mut [MaybeUninit<f32>],
) {
    let c = g.c;
    let madd = |x: f32, w: f32, a: f32| if FMA { x.mul_add(w, a) } else { a + x * w };
    // Taps inside the image: rows ky0..ky1, columns kx0..kx1 (the rest falls on padding).
    let inside = |o: usize, pad: usize, size: usize| {
        let first = (o * g.s) as isize - pad as isize;
        let lo = (-first).clamp(0, g.k as isize) as usize;
        let hi = (size as isize - first).clamp(0, g.k as isize) as usize;
        (first, lo, hi.max(lo))
    };
    let (iy0, ky0, ky1) = inside(oy, g.p.top, g.h);
    let blocks = c / LANES * LANES;
    for ox in 0..g.ow {
        let (ix0, kx0, kx1) = inside(ox, g.p.left, g.w);
        let out = &mut dst[ox * c..][..c];
        let src_at = |ky: usize, kx: usize| {
            ((iy0 + ky as isize) as usize * g.w + (ix0 + kx as isize) as usize) * c
        };
        for cb in (0..blocks).step_by(LANES) {
            let mut acc: [f32; LANES] = bias[cb..cb + LANES].try_into().expect("LANES long");
            for ky in ky0..ky1 {
                for kx in kx0..kx1 {
                    let x = &img[src_at(ky, kx) + cb..][..LANES];
                    let w = &taps[(ky * g.k + kx) * c + cb..][..LANES];
                    for l in 0..LANES {
                        acc[l] = madd(x[l], w[l], acc[l]);
                    }
                }
            }
            act.apply_slice(&mut acc);
            for (o, v) in out[cb..cb + LANES].iter_mut().zip(acc) {
                o.write(v);
            }
        }
        for ch in blocks..c {
            let mut acc = bias[ch];
            for ky in ky0..ky1 {
                for kx in kx0..kx1 {
                    acc = madd(
                        img[src_at(ky, kx) + ch],
                        taps[(ky * g.k + kx) * c + ch],
                        acc,
                    );
                }
            }
            let mut v = [acc];
            act.apply_slice(&mut v);
            out[ch].write(v[0]);
        }
    }
}
