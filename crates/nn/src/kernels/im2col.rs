//! A k×k convolution on NHWC as a GEMM over its windows (im2col), gathered one cache-sized
//! block of output pixels at a time: the whole im2col matrix (k² times the input) is never
//! built, so it never goes to memory and back.

use super::gemm::Rows;
use super::{cpu_slice, GemmOp, Geometry, Padding};
use candle_core::{CpuStorage, Layout, Shape};

/// `act(conv(x) + bias [+ residual])` of a dense k×k convolution on `(B, H, W, C)`, giving
/// `(B, OH, OW, N)`: the GEMM of `gemm` (weight `(k·k·C, N)` in `(kh, kw, c)` row order, as
/// [`crate::layers::Conv`] keeps it) over the windows. As a `CustomOp2` the second tensor,
/// `(B, OH, OW, N)`, is the residual.
pub(crate) struct ConvGemmOp<'a> {
    pub gemm: GemmOp<'a>,
    pub k: usize,
    pub stride: usize,
    pub pad: Padding,
}

/// Output rows `first..` (output pixels in `(image, oy, ox)` order) of the im2col matrix of
/// `x` into `dst` (`k·k·C` values per row, `(ky, kx, c)` order, zero where a window falls on
/// padding).
pub(super) fn gather_windows(x: &[f32], g: &Geometry, first: usize, dst: &mut [f32]) {
    let (k, c, oh, ow) = (g.k, g.c, g.oh(), g.ow);
    let kk = k * k * c;
    for (i, row) in dst.chunks_mut(kk).enumerate() {
        let pixel = first + i;
        let (image, rest) = (pixel / (oh * ow), pixel % (oh * ow));
        let (oy, ox) = (rest / ow, rest % ow);
        let img = &x[image * g.h * g.w * c..][..g.h * g.w * c];
        let (iy0, ky0, ky1) = g.inside(oy, g.p.top, g.h);
        let (ix0, kx0, kx1) = g.inside(ox, g.p.left, g.w);
        if ky1 - ky0 < k || kx1 - kx0 < k {
            row.fill(0.0); // a window on the padding (the buffer holds earlier blocks' values)
        }
        // The taps of one kernel row that fall inside the image are adjacent pixels: one copy
        // (a stem's 3-channel pixels would be one `memcpy` call each otherwise).
        let len = (kx1 - kx0) * c;
        for ky in ky0..ky1 {
            let iy = (iy0 + ky as isize) as usize;
            let src = (iy * g.w + (ix0 + kx0 as isize) as usize) * c;
            row[(ky * k + kx0) * c..][..len].copy_from_slice(&img[src..][..len]);
        }
    }
}

impl ConvGemmOp<'_> {
    fn run(
        &self,
        x: &[f32],
        layout: &Layout,
        residual: Option<&[f32]>,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (b, h, w, c) = layout.shape().dims4()?;
        let g = Geometry::new(h, w, c, self.k, self.stride, self.pad);
        let (oh, ow) = (g.oh(), g.ow);
        let input = Rows::Windows { x, g: &g };
        let out = self
            .gemm
            .run(input, b * oh * ow, self.k * self.k * c, residual)?;
        Ok((out, Shape::from((b, oh, ow, self.gemm.bias.len()))))
    }
}

impl candle_core::CustomOp1 for ConvGemmOp<'_> {
    fn name(&self) -> &'static str {
        "conv-im2col-gemm"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        self.run(cpu_slice(storage, layout, self.name())?, layout, None)
    }
}

impl candle_core::CustomOp2 for ConvGemmOp<'_> {
    fn name(&self) -> &'static str {
        "conv-im2col-gemm-residual"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
        res_storage: &CpuStorage,
        res_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = cpu_slice(storage, layout, self.name())?;
        let res = cpu_slice(res_storage, res_layout, self.name())?;
        self.run(x, layout, Some(res))
    }
}
