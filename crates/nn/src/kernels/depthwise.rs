//! The depthwise convolution of MobileNet-style blocks, direct on NHWC.

use super::{cpu_slice, Activation, Geometry, Padding};
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
        let geo = Geometry::new(h, w, c, self.k, self.stride, self.pad);
        let (oh, ow) = (geo.oh(), geo.ow);
        let len = b * oh * ow * c;
        // Not zeroed: the kernel writes every output value once (a memset of each activation
        // cost ≈10% of EfficientNet-Lite0's forward pass).
        let mut out = Vec::with_capacity(len);
        let filter = Filter {
            taps: self.taps,
            bias: self.bias,
            act: self.act,
        };
        out.spare_capacity_mut()[..len]
            .par_chunks_mut(ow * c)
            .enumerate()
            .for_each(|(row, dst)| {
                let (bi, oy) = (row / oh, row % oh);
                let img = &x[bi * h * w * c..][..h * w * c];
                geo.row(oy, |iy| &img[iy * w * c..][..w * c], &filter, dst);
            });
        // SAFETY: `Geometry::row` wrote all `ow * c` values of every output row.
        unsafe { out.set_len(len) };
        Ok((CpuStorage::F32(out), Shape::from((b, oh, ow, c))))
    }
}

/// Taps `(k·k, C)`, bias and activation of a depthwise convolution.
pub(super) struct Filter<'a> {
    pub taps: &'a [f32],
    pub bias: &'a [f32],
    pub act: Activation,
}

/// Largest kernel side the row kernel takes (window rows are held in a fixed array).
pub(super) const MAX_K: usize = 8;

impl Geometry {
    /// Output row `oy` into `dst` (`ow · c` values, all written), reading input row `iy` as
    /// `row(iy)` (`w · c` values): the image itself, or a buffer holding just the rows needed.
    pub(super) fn row<'a>(
        &self,
        oy: usize,
        row: impl Fn(usize) -> &'a [f32],
        filter: &Filter<'_>,
        dst: &mut [MaybeUninit<f32>],
    ) {
        assert!(self.k <= MAX_K, "depthwise kernels up to {MAX_K}×{MAX_K}");
        let (_, ky0, ky1) = self.inside(oy, self.p.top, self.h);
        let mut rows: [&[f32]; MAX_K] = [&[]; MAX_K];
        for (slot, iy) in rows.iter_mut().zip(self.input_rows(oy)) {
            *slot = row(iy);
        }
        depthwise_row(&rows[..ky1 - ky0], ky0, filter, self, dst)
    }
}

/// One output row of a depthwise convolution from the window's input rows (`rows[j]` holds
/// kernel row `ky0 + j`), dispatched to the widest SIMD the CPU has.
fn depthwise_row(
    rows: &[&[f32]],
    ky0: usize,
    f: &Filter<'_>,
    g: &Geometry,
    dst: &mut [MaybeUninit<f32>],
) {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports the features enabled on the callee.
            return unsafe { depthwise_row_avx512(rows, ky0, f, g, dst) };
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: as above.
            return unsafe { depthwise_row_avx2(rows, ky0, f, g, dst) };
        }
    }
    depthwise_row_impl::<Portable>(rows, ky0, f, g, dst)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn depthwise_row_avx512(
    rows: &[&[f32]],
    ky0: usize,
    f: &Filter<'_>,
    g: &Geometry,
    dst: &mut [MaybeUninit<f32>],
) {
    depthwise_row_impl::<Avx512>(rows, ky0, f, g, dst)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn depthwise_row_avx2(
    rows: &[&[f32]],
    ky0: usize,
    f: &Filter<'_>,
    g: &Geometry,
    dst: &mut [MaybeUninit<f32>],
) {
    depthwise_row_impl::<Avx2>(rows, ky0, f, g, dst)
}

/// Channels per register-held accumulator: one AVX-512 register, two AVX2 ones.
const LANES: usize = 16;
/// Channel blocks accumulated side by side: independent FMA chains, so the FMA latency
/// (≈4 cycles) overlaps instead of serializing the `k·k` taps of one block.
const BLOCKS_PER_PASS: usize = 4;

/// The kernel body: accumulate the `k·k` taps in registers (bias first, taps in row-major
/// order, the same for every path), then activate and store once. Keeping the sums out of
/// memory halves the loads per FMA. One block of 16 channels alone is one dependent FMA chain,
/// latency-bound (it was 30 % of EfficientNet-Lite0's forward pass), so sums are computed side
/// by side: the neighbouring pixels of an [`Isa::TILES`] tile inside the image (each tap
/// loaded once for all of them), or [`BLOCKS_PER_PASS`] channel blocks of one pixel at the
/// edges and where no tile fits.
#[inline(always)]
fn depthwise_row_impl<I: Isa>(
    rows: &[&[f32]],
    ky0: usize,
    f: &Filter<'_>,
    g: &Geometry,
    dst: &mut [MaybeUninit<f32>],
) {
    let (c, bias, act) = (g.c, f.bias, f.act);
    let wide = c / (LANES * BLOCKS_PER_PASS) * (LANES * BLOCKS_PER_PASS);
    let blocks = c / LANES * LANES;
    // Outputs whose window lies inside the image horizontally: ox_lo..ox_hi.
    let ox_lo = g.p.left.div_ceil(g.s).min(g.ow);
    let ox_hi = ((g.w + g.p.left).saturating_sub(g.k) / g.s + 1).clamp(ox_lo, g.ow);
    let mut ox = 0;
    while ox < g.ow {
        let (ix0, kx0, kx1) = g.inside(ox, g.p.left, g.w);
        let window = Window {
            rows,
            taps: f.taps,
            c,
            k: g.k,
            ky0,
            col0: ix0,
            kx: kx0..kx1,
            step: g.s * c,
        };
        // The widest tile that fits inside the image from here, if any.
        let tile = match ox >= ox_lo && blocks > 0 {
            true => I::TILES.iter().find(|&&(p, _)| ox + p <= ox_hi),
            false => None,
        };
        let pixels = tile.map_or(1, |&(p, _)| p);
        let out = &mut dst[ox * c..][..pixels * c];
        if let Some(&(_, interior)) = tile {
            for cb in (0..blocks).step_by(LANES) {
                // SAFETY: `I` is the instruction set the caller checked the CPU for.
                unsafe { interior(&window, cb, bias, act, &mut out[cb..]) };
            }
        } else {
            for cb in (0..wide).step_by(LANES * BLOCKS_PER_PASS) {
                window.blocks::<BLOCKS_PER_PASS, I>(cb, bias, act, &mut out[cb..]);
            }
            for cb in (wide..blocks).step_by(LANES) {
                window.blocks::<1, I>(cb, bias, act, &mut out[cb..]);
            }
        }
        for p in 0..pixels {
            let window = Window {
                col0: ix0 + (p * g.s) as isize,
                ..window.clone()
            };
            for ch in blocks..c {
                let mut acc = [bias[ch]];
                window.accumulate::<1, I>(ch, &mut acc);
                act.apply_slice(&mut acc);
                out[p * c + ch].write(acc[0]);
            }
        }
        ox += pixels;
    }
}

/// The `k × k` input window of one output pixel, clipped to the image.
#[derive(Clone)]
struct Window<'a> {
    /// The input rows of kernel rows `ky0..`, inside the image.
    rows: &'a [&'a [f32]],
    taps: &'a [f32],
    c: usize,
    k: usize,
    ky0: usize,
    /// Image column of the window's left tap (negative on padding).
    col0: isize,
    /// Kernel columns inside the image.
    kx: std::ops::Range<usize>,
    /// Floats between the windows of neighbouring output pixels (stride · C).
    step: usize,
}

impl Window<'_> {
    /// `acc[j] += Σ_taps x[ch + j] · w[ch + j]` over the window, taps in row-major order.
    #[inline(always)]
    fn accumulate<const N: usize, I: Isa>(&self, ch: usize, acc: &mut [f32; N]) {
        for (j, row) in self.rows.iter().enumerate() {
            let ky = self.ky0 + j;
            for kx in self.kx.clone() {
                let at = (self.col0 + kx as isize) as usize * self.c + ch;
                let x: &[f32; N] = row[at..][..N].try_into().expect("N long");
                let w: &[f32; N] = self.taps[(ky * self.k + kx) * self.c + ch..][..N]
                    .try_into()
                    .expect("N long");
                for l in 0..N {
                    acc[l] = if I::FMA {
                        x[l].mul_add(w[l], acc[l])
                    } else {
                        acc[l] + x[l] * w[l]
                    };
                }
            }
        }
    }

    /// `B` blocks of [`LANES`] channels from `ch` on: bias, taps, activation, one store each
    /// (`B` independent sums, so the FMAs overlap).
    #[inline(always)]
    fn blocks<const B: usize, I: Isa>(
        &self,
        ch: usize,
        bias: &[f32],
        act: Activation,
        out: &mut [MaybeUninit<f32>],
    ) {
        let mut acc = [[0f32; LANES]; B];
        for (b, a) in acc.iter_mut().enumerate() {
            a.copy_from_slice(&bias[ch + b * LANES..][..LANES]);
        }
        for (j, row) in self.rows.iter().enumerate() {
            let ky = self.ky0 + j;
            for kx in self.kx.clone() {
                let at = (self.col0 + kx as isize) as usize * self.c + ch;
                let x = &row[at..][..B * LANES];
                let w = &self.taps[(ky * self.k + kx) * self.c + ch..][..B * LANES];
                for (b, a) in acc.iter_mut().enumerate() {
                    for l in 0..LANES {
                        let (x, w) = (x[b * LANES + l], w[b * LANES + l]);
                        a[l] = if I::FMA {
                            x.mul_add(w, a[l])
                        } else {
                            a[l] + x * w
                        };
                    }
                }
            }
        }
        for (b, mut a) in acc.into_iter().enumerate() {
            act.apply_slice(&mut a);
            for (o, v) in out[b * LANES..][..LANES].iter_mut().zip(a) {
                o.write(v);
            }
        }
    }
}

/// One block of [`LANES`] channels from `ch` for a tile of pixels from `win`'s on, whose
/// windows lie inside the image horizontally: one independent sum in registers per pixel, each
/// tap loaded once for all of them. Unsafe: the CPU must have the instruction set's features.
type InteriorTile = unsafe fn(
    win: &Window<'_>,
    ch: usize,
    bias: &[f32],
    act: Activation,
    out: &mut [MaybeUninit<f32>],
);

/// The instruction set a row is computed with, picked at run time by [`depthwise_row`].
trait Isa {
    /// Fused multiply-adds in the portable tiles (the same rounding as the SIMD ones).
    const FMA: bool;
    /// Interior tiles, widest first: (pixels, kernel). Narrower ones cover what is left of a
    /// row's interior (at 7 or 14 pixels wide, most of it). None: every pixel by the portable
    /// blocks.
    const TILES: &'static [(usize, InteriorTile)];
}

/// Plain Rust, for CPUs without AVX2 + FMA (and other architectures).
struct Portable;

impl Isa for Portable {
    const FMA: bool = false;
    const TILES: &'static [(usize, InteriorTile)] = &[];
}

/// AVX-512: one register per 16 channels, tiles of 8, 4 and 2 pixels.
#[cfg(target_arch = "x86_64")]
struct Avx512;

#[cfg(target_arch = "x86_64")]
impl Isa for Avx512 {
    const FMA: bool = true;
    const TILES: &'static [(usize, InteriorTile)] = &[
        (8, interior_avx512::<8>),
        (4, interior_avx512::<4>),
        (2, interior_avx512::<2>),
    ];
}

/// AVX2: two registers per 16 channels, tiles of 4 and 2 pixels (at most 8 of the 16 registers).
#[cfg(target_arch = "x86_64")]
struct Avx2;

#[cfg(target_arch = "x86_64")]
impl Isa for Avx2 {
    const FMA: bool = true;
    const TILES: &'static [(usize, InteriorTile)] =
        &[(4, interior_avx2::<4>), (2, interior_avx2::<2>)];
}

/// The input of `P` interior pixels at kernel tap `(ky, kx)` (from `win`'s first pixel on,
/// `win.step` floats apart) and the tap's weights, for channels `ch..ch + LANES`.
#[inline(always)]
fn interior_operands<'a, const P: usize>(
    win: &Window<'a>,
    j: usize,
    kx: usize,
    ch: usize,
) -> (&'a [f32], &'a [f32; LANES]) {
    let at = (win.col0 + kx as isize) as usize * win.c + ch;
    let x = &win.rows[j][at..][..(P - 1) * win.step + LANES];
    let w = win.taps[((win.ky0 + j) * win.k + kx) * win.c + ch..][..LANES]
        .try_into()
        .expect("LANES long");
    (x, w)
}

/// Activates one pixel's `LANES` sums and writes them.
#[inline(always)]
fn store_lanes(mut v: [f32; LANES], act: Activation, out: &mut [MaybeUninit<f32>]) {
    act.apply_slice(&mut v);
    for (o, v) in out[..LANES].iter_mut().zip(v) {
        o.write(v);
    }
}

#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn interior_avx512<const P: usize>(
    win: &Window<'_>,
    ch: usize,
    bias: &[f32],
    act: Activation,
    out: &mut [MaybeUninit<f32>],
) {
    use std::arch::x86_64::*;
    let stride = win.step / win.c;
    if win.kx.len() == win.k {
        // SAFETY: same features.
        match (win.k, stride) {
            (3, 1) => return unsafe { interior_avx512_fixed::<P, 3, 1>(win, ch, bias, act, out) },
            (3, 2) => return unsafe { interior_avx512_fixed::<P, 3, 2>(win, ch, bias, act, out) },
            (5, 1) => return unsafe { interior_avx512_fixed::<P, 5, 1>(win, ch, bias, act, out) },
            (5, 2) => return unsafe { interior_avx512_fixed::<P, 5, 2>(win, ch, bias, act, out) },
            _ => {}
        }
    }
    let b: &[f32; LANES] = bias[ch..][..LANES].try_into().expect("LANES long");
    // SAFETY (all loads and stores below): each reads or writes LANES floats inside the
    // slice it is taken from (`x` is (P - 1)·step + LANES long, p < P).
    let mut acc = [unsafe { _mm512_loadu_ps(b.as_ptr()) }; P];
    for j in 0..win.rows.len() {
        for kx in win.kx.clone() {
            let (x, w) = interior_operands::<P>(win, j, kx, ch);
            let w = unsafe { _mm512_loadu_ps(w.as_ptr()) };
            // One pointer stepped from pixel to pixel (eight precomputed offsets spill).
            let mut at = x.as_ptr();
            for a in acc.iter_mut() {
                *a = _mm512_fmadd_ps(unsafe { _mm512_loadu_ps(at) }, w, *a);
                at = at.wrapping_add(win.step);
            }
        }
    }
    for (p, a) in acc.into_iter().enumerate() {
        let mut v = [0f32; LANES];
        unsafe { _mm512_storeu_ps(v.as_mut_ptr(), a) };
        store_lanes(v, act, &mut out[p * win.c..]);
    }
}

/// [`interior_avx512`] for a `K × K` kernel at stride `S` known at compile time: the loops
/// unroll, so an input column that several pixels of the tile read (pixel `p`'s tap `kx` is
/// pixel `p + 1`'s tap `kx − S`) is loaded once per kernel row instead of once per tap.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn interior_avx512_fixed<const P: usize, const K: usize, const S: usize>(
    win: &Window<'_>,
    ch: usize,
    bias: &[f32],
    act: Activation,
    out: &mut [MaybeUninit<f32>],
) {
    use std::arch::x86_64::*;
    let c = win.c;
    let b: &[f32; LANES] = bias[ch..][..LANES].try_into().expect("LANES long");
    // SAFETY (all loads and stores below): each reads or writes LANES floats inside the
    // slice it is taken from (`row` spans the tile's (P - 1)·S + K columns, `taps` the K taps).
    let mut acc = [unsafe { _mm512_loadu_ps(b.as_ptr()) }; P];
    for (j, row) in win.rows.iter().enumerate() {
        let ky = win.ky0 + j;
        let row = &row[win.col0 as usize * c + ch..][..((P - 1) * S + K - 1) * c + LANES];
        let taps = &win.taps[ky * K * c + ch..][..(K - 1) * c + LANES];
        for kx in 0..K {
            let w = unsafe { _mm512_loadu_ps(taps.as_ptr().add(kx * c)) };
            for (p, a) in acc.iter_mut().enumerate() {
                let v = unsafe { _mm512_loadu_ps(row.as_ptr().add((p * S + kx) * c)) };
                *a = _mm512_fmadd_ps(v, w, *a);
            }
        }
    }
    for (p, a) in acc.into_iter().enumerate() {
        let mut v = [0f32; LANES];
        unsafe { _mm512_storeu_ps(v.as_mut_ptr(), a) };
        store_lanes(v, act, &mut out[p * c..]);
    }
}

#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn interior_avx2<const P: usize>(
    win: &Window<'_>,
    ch: usize,
    bias: &[f32],
    act: Activation,
    out: &mut [MaybeUninit<f32>],
) {
    use std::arch::x86_64::*;
    let b: &[f32; LANES] = bias[ch..][..LANES].try_into().expect("LANES long");
    // SAFETY (all loads and stores below): as in `interior_avx512`, 8 floats at a time.
    let bias_halves = unsafe {
        [
            _mm256_loadu_ps(b.as_ptr()),
            _mm256_loadu_ps(b.as_ptr().add(8)),
        ]
    };
    let mut acc = [bias_halves; P];
    for j in 0..win.rows.len() {
        for kx in win.kx.clone() {
            let (x, w) = interior_operands::<P>(win, j, kx, ch);
            let w = unsafe {
                [
                    _mm256_loadu_ps(w.as_ptr()),
                    _mm256_loadu_ps(w.as_ptr().add(8)),
                ]
            };
            let mut at = x.as_ptr();
            for a in acc.iter_mut() {
                for (h, (a, w)) in a.iter_mut().zip(w).enumerate() {
                    let v = unsafe { _mm256_loadu_ps(at.add(8 * h)) };
                    *a = _mm256_fmadd_ps(v, w, *a);
                }
                at = at.wrapping_add(win.step);
            }
        }
    }
    for (p, a) in acc.into_iter().enumerate() {
        let mut v = [0f32; LANES];
        unsafe {
            _mm256_storeu_ps(v.as_mut_ptr(), a[0]);
            _mm256_storeu_ps(v.as_mut_ptr().add(8), a[1]);
        }
        store_lanes(v, act, &mut out[p * win.c..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::kernels::test_values as values;

    /// One output row with the instruction set `I`.
    fn row_with<I: Isa>(g: &Geometry, img: &[f32], f: &Filter<'_>, oy: usize) -> Vec<f32> {
        let mut rows: [&[f32]; MAX_K] = [&[]; MAX_K];
        let input = g.input_rows(oy);
        let n = input.len();
        for (slot, iy) in rows.iter_mut().zip(input) {
            *slot = &img[iy * g.w * g.c..][..g.w * g.c];
        }
        let (_, ky0, _) = g.inside(oy, g.p.top, g.h);
        let mut out = vec![MaybeUninit::new(f32::NAN); g.ow * g.c];
        depthwise_row_impl::<I>(&rows[..n], ky0, f, g, &mut out);
        // SAFETY: initialized above (and overwritten by the kernel).
        out.into_iter()
            .map(|v| unsafe { v.assume_init() })
            .collect()
    }

    /// Every SIMD path this CPU has gives the portable path's numbers (to FMA rounding): the
    /// interior tiles, the clipped pixels at the edges, stride 2, a channel count that is not
    /// a multiple of 16 and one under [`BLOCKS_PER_PASS`] blocks. The other tests (layers,
    /// models) run only the widest path the CPU has.
    #[test]
    fn instruction_sets_agree() {
        let shapes = [
            (9, 29, 96, 3, 1),
            (9, 29, 48, 3, 2),
            (9, 29, 35, 5, 2),
            (6, 13, 16, 5, 1),
            (8, 27, 32, 7, 1),
        ];
        for (h, w, c, k, s) in shapes {
            let g = Geometry::new(h, w, c, k, s, Padding::tf_same(h, w, k, s));
            let img = values(h * w * c, 1);
            let (taps, bias) = (values(k * k * c, 2), values(c, 3));
            let f = Filter {
                taps: &taps,
                bias: &bias,
                act: Activation::Relu6,
            };
            for oy in 0..g.oh() {
                let want = row_with::<Portable>(&g, &img, &f, oy);
                assert!(want.iter().all(|v| v.is_finite()), "every value written");
                #[cfg(target_arch = "x86_64")]
                {
                    let mut paths = Vec::new();
                    if is_x86_feature_detected!("avx512f") {
                        // SAFETY: the CPU has AVX-512F (checked above).
                        paths.push(unsafe { row_avx512(&g, &img, &f, oy) });
                    }
                    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                        // SAFETY: the CPU has AVX2 and FMA (checked above).
                        paths.push(unsafe { row_avx2(&g, &img, &f, oy) });
                    }
                    for got in paths {
                        for (a, b) in got.iter().zip(&want) {
                            assert!(
                                (a - b).abs() < 1e-5,
                                "{c} channels k{k} s{s} row {oy}: {a} vs {b}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn row_avx512(g: &Geometry, img: &[f32], f: &Filter<'_>, oy: usize) -> Vec<f32> {
        row_with::<Avx512>(g, img, f, oy)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn row_avx2(g: &Geometry, img: &[f32], f: &Filter<'_>, oy: usize) -> Vec<f32> {
        row_with::<Avx2>(g, img, f, oy)
    }
}
