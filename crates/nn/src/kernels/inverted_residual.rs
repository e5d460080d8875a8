//! The inverted-residual block of MobileNet-V2 and EfficientNet (1×1 expand → k×k depthwise →
//! 1×1 project, plus the input when shapes allow), fused: each image is run in strips of output
//! rows, so the expanded activations (6× the block's input) live in a per-thread buffer of
//! ≈1 MiB that stays in the core's cache instead of going to memory and back twice.
//!
//! Layer by layer, EfficientNet-Lite0's depthwise kernel spent most of its time waiting for
//! those activations (its loads, not its FMAs, were the hot instructions).

use super::depthwise::Filter;
use super::gemm::gemm_rows;
use super::{cpu_slice, with_scratch, DepthwiseOp, GemmOp, Geometry};
use candle_core::{CpuStorage, Layout, Shape};
use faer::MatRef;
use rayon::prelude::*;
use std::mem::MaybeUninit;
use std::ops::Range;

/// One inverted-residual block on NHWC `(B, H, W, C_in)` → `(B, OH, OW, C_out)`.
pub(crate) struct InvertedResidualOp<'a> {
    /// The 1×1 expansion (`C_in × mid`), absent when the expand ratio is 1.
    pub expand: Option<GemmOp<'a>>,
    /// The depthwise convolution over `mid` channels.
    pub depthwise: DepthwiseOp<'a>,
    /// The 1×1 projection (`mid × C_out`), activation included.
    pub project: GemmOp<'a>,
    /// Adds the block's input to the projection (stride 1, `C_in == C_out`).
    pub skip: bool,
    /// Output rows per task and per strip; `None`: [`Tiling::for_block`].
    pub tiling: Option<Tiling>,
}

/// How a block's output rows are cut: into bands (parallel tasks, each recomputing the few
/// expanded rows its window shares with the band above) and each band into strips (one
/// expand GEMM, one depthwise pass and one project GEMM each). Fixed by the block's shape
/// alone, never by the thread count, so the numbers are the same on any number of threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tiling {
    pub band_rows: usize,
    pub strip_rows: usize,
}

/// Floats of expanded rows plus depthwise output rows a strip holds: 1 MiB, half a core's L2
/// here, leaving room for the weights and the input and output rows streaming through.
const STRIP_FLOATS: usize = 1 << 18;
/// Output rows per band at most: images of 224 px give 1–4 bands per block, enough tasks for a
/// few cores on a sub-batch of images, while the rows recomputed at band edges stay ≤ 7 %.
const BAND_ROWS: usize = 32;

impl Tiling {
    fn for_block(g: &Geometry, expands: bool) -> Tiling {
        let oh = g.oh();
        let band_rows = oh.div_ceil(oh.div_ceil(BAND_ROWS));
        let mid = g.c;
        // A strip of r output rows holds (r - 1)·s + k expanded rows and r depthwise rows.
        let (per_row, fixed) = if expands {
            (
                g.s * g.w * mid + g.ow * mid,
                g.k.saturating_sub(g.s) * g.w * mid,
            )
        } else {
            (g.ow * mid, 0)
        };
        let strip_rows = (STRIP_FLOATS.saturating_sub(fixed) / per_row).clamp(1, band_rows);
        Tiling {
            band_rows,
            strip_rows,
        }
    }
}

impl InvertedResidualOp<'_> {
    fn check(&self, cin: usize) -> candle_core::Result<(usize, usize)> {
        let mid = self.depthwise.bias.len();
        let cout = self.project.bias.len();
        let expand_in = match &self.expand {
            Some(e) => e.weight.len() / e.bias.len().max(1),
            None => mid,
        };
        if expand_in != cin || self.project.weight.len() != mid * cout {
            candle_core::bail!(
                "inverted residual: {cin} input channels do not fit expand {expand_in} → {mid} → project → {cout}"
            );
        }
        if self.skip && (cin != cout || self.depthwise.stride != 1) {
            candle_core::bail!("inverted residual: a skip needs stride 1 and C_in == C_out");
        }
        Ok((mid, cout))
    }

    /// Expanded rows a strip of `strip_rows` output rows reads (none without expansion: the
    /// depthwise convolution reads the block's input).
    fn ring_rows(&self, g: &Geometry, strip_rows: usize) -> usize {
        match self.expand {
            Some(_) => ((strip_rows - 1) * g.s + g.k).min(g.h),
            None => 0,
        }
    }

    /// Floats of scratch a band needs: the ring of expanded rows and one strip of depthwise rows.
    fn scratch_len(&self, g: &Geometry, strip_rows: usize) -> usize {
        self.ring_rows(g, strip_rows) * g.w * g.c + strip_rows * g.ow * g.c
    }

    /// Output rows `oys` of one image into `dst`, strip by strip. `ring` holds expanded rows
    /// (row `iy` in slot `iy % cap`), `dw` the strip's depthwise output rows.
    #[allow(clippy::too_many_arguments)]
    fn band(
        &self,
        img: &[f32],
        cin: usize,
        g: &Geometry,
        strip_rows: usize,
        oys: Range<usize>,
        scratch: &mut [f32],
        dst: &mut [MaybeUninit<f32>],
    ) {
        let (mid, cout) = (g.c, self.project.bias.len());
        let row_len = g.w * mid;
        let cap = self.ring_rows(g, strip_rows);
        let (ring, dw) = scratch.split_at_mut(cap * row_len);
        let filter = Filter {
            taps: self.depthwise.taps,
            bias: self.depthwise.bias,
            act: self.depthwise.act,
        };
        let project = MatRef::from_row_major_slice(self.project.weight, mid, cout);
        let mut computed = 0; // expanded rows below this one are in `ring` (or no longer needed)
        for s0 in oys.clone().step_by(strip_rows) {
            let s1 = (s0 + strip_rows).min(oys.end);
            let rows = g.input_rows(s0).start..g.input_rows(s1 - 1).end;
            if let Some(e) = &self.expand {
                let w = MatRef::from_row_major_slice(e.weight, cin, mid);
                let mut iy = computed.max(rows.start);
                while iy < rows.end {
                    let slot = iy % cap;
                    let n = (rows.end - iy).min(cap - slot);
                    let out = as_uninit(&mut ring[slot * row_len..][..n * row_len]);
                    gemm_rows(
                        &img[iy * g.w * cin..][..n * g.w * cin],
                        w,
                        e.bias,
                        None,
                        e.act,
                        out,
                    );
                    iy += n;
                }
                computed = rows.end;
            }
            let ring = &*ring;
            let source = |iy: usize| match self.expand {
                Some(_) => &ring[(iy % cap) * row_len..][..row_len],
                None => &img[iy * row_len..][..row_len],
            };
            let strip_len = (s1 - s0) * g.ow * mid;
            for (oy, d) in (s0..s1).zip(dw[..strip_len].chunks_mut(g.ow * mid)) {
                g.row(oy, source, &filter, as_uninit(d));
            }
            let pixels = (s1 - s0) * g.ow;
            let residual = self.skip.then(|| &img[s0 * g.w * cin..][..pixels * cin]);
            let out = &mut dst[(s0 - oys.start) * g.ow * cout..][..pixels * cout];
            gemm_rows(
                &dw[..strip_len],
                project,
                self.project.bias,
                residual,
                self.project.act,
                out,
            );
        }
    }
}

/// An initialized buffer seen as one to overwrite (the kernels write through
/// `MaybeUninit` so they can fill fresh allocations without zeroing them first).
fn as_uninit(v: &mut [f32]) -> &mut [MaybeUninit<f32>] {
    // SAFETY: same layout; callers only ever write initialized values through it.
    unsafe { &mut *(v as *mut [f32] as *mut [MaybeUninit<f32>]) }
}

impl candle_core::CustomOp1 for InvertedResidualOp<'_> {
    fn name(&self) -> &'static str {
        "inverted-residual-nhwc"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = cpu_slice(storage, layout, self.name())?;
        let (b, h, w, cin) = layout.shape().dims4()?;
        let (mid, cout) = self.check(cin)?;
        let (k, s, p) = (self.depthwise.k, self.depthwise.stride, self.depthwise.pad);
        let g = Geometry::new(h, w, mid, k, s, p);
        let (oh, ow) = (g.oh(), g.ow);
        let tiling = self
            .tiling
            .unwrap_or_else(|| Tiling::for_block(&g, self.expand.is_some()));
        let len = b * oh * ow * cout;
        // Not zeroed: every band writes all of its output rows.
        let mut out = Vec::with_capacity(len);
        out.spare_capacity_mut()[..len]
            .par_chunks_mut(oh * ow * cout)
            .enumerate()
            .for_each(|(i, image_out)| {
                let img = &x[i * h * w * cin..][..h * w * cin];
                image_out
                    .par_chunks_mut(tiling.band_rows * ow * cout)
                    .enumerate()
                    .for_each(|(j, band_out)| {
                        let oy0 = j * tiling.band_rows;
                        let oys = oy0..oy0 + band_out.len() / (ow * cout);
                        let len = self.scratch_len(&g, tiling.strip_rows);
                        with_scratch(len, |scratch| {
                            self.band(img, cin, &g, tiling.strip_rows, oys, scratch, band_out)
                        });
                    });
            });
        // SAFETY: the bands cover every output row and each wrote all of its values.
        unsafe { out.set_len(len) };
        Ok((CpuStorage::F32(out), Shape::from((b, oh, ow, cout))))
    }
}
