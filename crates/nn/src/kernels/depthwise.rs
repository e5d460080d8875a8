//! The depthwise convolution of MobileNet-style blocks, direct on NHWC.

use super::{cpu_slice, Activation, Padding};
use candle_core::{CpuStorage, Layout, Shape};
use rayon::prelude::*;

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
        act.apply_slice(acc);
    }
}
