//! NHWC im2col, the input of a k×k convolution as one GEMM.

use super::{cpu_slice, Padding};
use candle_core::{CpuStorage, Layout, Shape};
use rayon::prelude::*;

/// `(B, H, W, C)` → `(B·OH·OW, k·k·C)` with rows in output-pixel order and columns in
/// `(kh, kw, c)` order, matching the dense kernel matrix of [`crate::layers::Conv`].
pub(crate) struct Im2colOp {
    pub k: usize,
    pub stride: usize,
    pub pad: Padding,
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
                // The taps of one kernel row that fall inside the image are adjacent pixels: one
                // copy (a stem's 3-channel pixels would be one `memcpy` call each otherwise).
                let ix0 = (ox * s) as isize - p.left as isize;
                let kx0 = (-ix0).clamp(0, k as isize) as usize;
                let kx1 = (w as isize - ix0).clamp(kx0 as isize, k as isize) as usize;
                if kx0 < kx1 {
                    let src = ((bi * h + iy as usize) * w + (ix0 + kx0 as isize) as usize) * c;
                    let len = (kx1 - kx0) * c;
                    dst[(ky * k + kx0) * c..][..len].copy_from_slice(&x[src..][..len]);
                }
            }
        });
        Ok((CpuStorage::F32(out), Shape::from((b * oh * ow, kk))))
    }
}
