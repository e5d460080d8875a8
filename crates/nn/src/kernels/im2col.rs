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
