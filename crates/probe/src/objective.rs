//! The multinomial cross-entropy and its pieces: GEMMs through faer and row-parallel,
//! allocation-free softmax passes, all on rayon. Logits are f32 (the GEMM's precision); every
//! reduction (loss, derivatives, dot products) accumulates in f64.
//!
//! Two rules make every result independent of the thread count, bit for bit:
//! * work is cut into pieces whose boundaries depend on the data's shape only (fixed row blocks,
//!   fixed slabs of the `Xᵀ·P` reduction), never on the number of threads;
//! * partial results are combined in piece order (collected, then summed sequentially), never in
//!   the order rayon happens to finish them.
//!
//! Each GEMM piece runs faer sequentially inside our own rayon task, so faer's own thread pool never
//! competes with ours. And every task starts by clearing the upper halves of the vector registers
//! ([`clear_upper_simd_state`]): faer's AVX-512 micro-kernels leave them dirty on the worker that ran
//! them, which made the scalar softmax/`exp` loops that later ran on that worker ≈10× slower
//! (SSE/AVX transition penalties: 2 threads were 7–20× slower than 1 on the probe benchmark).

use faer::{MatMut, MatRef};
pub(crate) use hiercog_linalg::clear_upper_simd_state;
use hiercog_linalg::gemm_sequential as gemm_seq;
use rayon::prelude::*;

use crate::data::Samples;

/// Rows per rayon task in the softmax passes and the row-blocked GEMMs: large enough to amortise
/// scheduling and the packing of the right-hand matrix, small enough to balance the threads.
const ROW_BLOCK: usize = 256;

/// Most columns of one logits GEMM: faer's sequential f32 GEMM runs at about half speed on fewer
/// than ≈1,000 rows when the output has ≈700–1,000 columns (84 against 147 GFLOP/s for 256 rows
/// × 1,000 classes cut into two tiles of 500; `cargo bench -p hiercog-linalg --bench gemm`).
const LOGIT_COLUMNS: usize = 512;

/// Feature dimensions per task of the `Xᵀ·P` reduction.
const DIM_TILE: usize = 256;

/// Rows per slab of the `Xᵀ·P` reduction (at most [`MAX_SLABS`] slabs, each a partial product).
const SLAB_ROWS: usize = 2048;

/// Cap on the slabs of `Xᵀ·P`, bounding its partial products to `MAX_SLABS · D · C` floats.
const MAX_SLABS: usize = 32;

/// `out = alpha·a·b (+ out when accumulate)` in fixed blocks of [`ROW_BLOCK`] rows (the result does
/// not depend on the thread count).
pub(crate) fn matmul_rows(
    out: &mut [f32],
    a: MatRef<'_, f32>,
    b: MatRef<'_, f32>,
    alpha: f32,
    accumulate: bool,
) {
    hiercog_linalg::matmul_rows(out, a, b, alpha, accumulate, ROW_BLOCK);
}

/// `z = x · w + 1·bᵀ` for one block of rows (`x` row-major `n × dim`, `z` row-major `n × c`), in
/// column tiles of at most [`LOGIT_COLUMNS`] (split evenly; fixed by `c` alone).
fn block_logits(x: &[f32], wm: MatRef<'_, f32>, b: &[f32], z: &mut [f32]) {
    let (dim, c) = (wm.nrows(), b.len());
    let n = x.len() / dim;
    let xm = MatRef::from_row_major_slice(x, n, dim);
    let mut zm = MatMut::from_row_major_slice_mut(z, n, c);
    let tiles = c.div_ceil(LOGIT_COLUMNS);
    for t in 0..tiles {
        let (c0, c1) = (t * c / tiles, (t + 1) * c / tiles);
        let zt = zm.as_mut().subcols_mut(c0, c1 - c0);
        gemm_seq(zt, xm, wm.subcols(c0, c1 - c0), 1.0, false);
    }
    for row in z.chunks_exact_mut(c) {
        for (v, bias) in row.iter_mut().zip(b) {
            *v += bias;
        }
    }
}

/// `z = x · w + 1·bᵀ` with `x` row-major `rows × dim`, `w` row-major `dim × c`, `z` row-major `rows × c`.
pub(crate) fn logits(x: &[f32], dim: usize, w: &[f32], b: &[f32], z: &mut [f32]) {
    let c = b.len();
    debug_assert_eq!(z.len(), x.len() / dim * c);
    if x.is_empty() || c == 0 {
        return;
    }
    let wm = MatRef::from_row_major_slice(w, dim, c);
    z.par_chunks_mut(c * ROW_BLOCK)
        .zip(x.par_chunks(dim * ROW_BLOCK))
        .for_each(|(zb, xb)| {
            clear_upper_simd_state();
            block_logits(xb, wm, b, zb);
        });
}

/// [`logits`] of the rows of `data`, which may be a row view (gathered block by block).
pub(crate) fn data_logits(data: Samples<'_>, w: &[f32], b: &[f32], z: &mut [f32]) {
    let (dim, c) = (data.dim(), b.len());
    if let Some(x) = data.contiguous() {
        return logits(x, dim, w, b, z);
    }
    let wm = MatRef::from_row_major_slice(w, dim, c);
    z.par_chunks_mut(c * ROW_BLOCK)
        .enumerate()
        .for_each_init(Vec::new, |buf, (i, zb)| {
            clear_upper_simd_state();
            let start = i * ROW_BLOCK;
            let xb = data.block(start, start + zb.len() / c, buf);
            block_logits(xb, wm, b, zb);
        });
}

/// The fixed slabs `[start, end)` of the `Xᵀ·P` reduction over `rows` rows, at most `max` of them:
/// their number depends on `rows` alone, never on the thread count.
fn slabs(rows: usize, max: usize) -> Vec<(usize, usize)> {
    let n = (rows / SLAB_ROWS).clamp(1, max);
    (0..n).map(|s| (s * rows / n, (s + 1) * rows / n)).collect()
}

/// Sums `parts` (each `out.len()` long) element-wise in part order into `out` (added to it when
/// `accumulate`).
fn sum_partials(parts: &[f32], out: &mut [f32], accumulate: bool) {
    let len = out.len();
    out.par_chunks_mut(ROW_BLOCK * 64)
        .enumerate()
        .for_each(|(i, o)| {
            clear_upper_simd_state();
            let off = i * ROW_BLOCK * 64;
            for (j, v) in o.iter_mut().enumerate() {
                let mut s = 0.0f32;
                for part in parts.chunks_exact(len) {
                    s += part[off + j];
                }
                *v = if accumulate { *v + s } else { s };
            }
        });
}

/// `g` (row-major `dim × c`) `=` (or `+=` when `accumulate`) the sum, in part order, of `parts`,
/// each a row-major `c × dim` product `Pᵀ·X`: the slabs' partial gradients, transposed back.
fn sum_transposed_partials(parts: &[f32], dim: usize, c: usize, g: &mut [f32], accumulate: bool) {
    g.par_chunks_mut(DIM_TILE * c)
        .enumerate()
        .for_each_init(Vec::new, |sum, (tile, out)| {
            clear_upper_simd_state();
            let (d0, n) = (tile * DIM_TILE, out.len() / c);
            // The tile's c × n block summed over the parts (contiguous runs of n), then transposed.
            sum.clear();
            sum.resize(c * n, 0.0f32);
            for part in parts.chunks_exact(dim * c) {
                for (k, run) in sum.chunks_exact_mut(n).enumerate() {
                    for (s, &v) in run.iter_mut().zip(&part[k * dim + d0..k * dim + d0 + n]) {
                        *s += v;
                    }
                }
            }
            for (j, row) in out.chunks_exact_mut(c).enumerate() {
                for (k, v) in row.iter_mut().enumerate() {
                    let s = sum[k * n + j];
                    *v = if accumulate { *v + s } else { s };
                }
            }
        });
}

/// `g = alpha · Xᵀ · p` (`X` the rows of `data`, `p` row-major `rows × c`, `g` row-major `dim × c`),
/// accumulating into `g` when `accumulate`.
///
/// The reduction runs over the long `rows` axis while the output is small (D × C), which a GEMM
/// parallelised over output blocks splits poorly; so the rows are cut into slabs (their number set
/// by `rows` alone) and the output into tiles of [`DIM_TILE`] feature dimensions. Each (slab, tile)
/// product is a sequential GEMM computed as `Pᵀ·X` (a `c × tile` block; a row view gathers the
/// tile's columns of the slab's rows): faer runs that orientation about twice as fast as `Xᵀ·P`
/// into a row-major `tile × c` block (145 against 70 GFLOP/s on a 2,048 × 1,000 gradient). The
/// slabs' partial products are summed in slab order and transposed into `g`.
pub(crate) fn xt_times(
    data: Samples<'_>,
    p: &[f32],
    c: usize,
    alpha: f32,
    g: &mut [f32],
    accumulate: bool,
) {
    let (rows, dim) = (data.rows(), data.dim());
    debug_assert_eq!(g.len(), dim * c);
    debug_assert_eq!(p.len(), rows * c);
    if c == 0 || rows == 0 {
        if !accumulate {
            g.fill(0.0);
        }
        return;
    }
    let slabs = slabs(rows, MAX_SLABS);
    let pm = MatRef::from_row_major_slice(p, rows, c);
    let mut partials = vec![0.0f32; slabs.len() * dim * c];
    partials
        .par_chunks_mut(dim * c)
        .enumerate()
        .flat_map(|(s, part)| {
            MatMut::from_row_major_slice_mut(part, c, dim)
                .par_col_chunks_mut(DIM_TILE)
                .enumerate()
                .map(move |(tile, out)| (s, tile, out))
        })
        .for_each_init(Vec::new, |buf, (s, tile, out)| {
            clear_upper_simd_state();
            let (r0, r1) = slabs[s];
            let (d0, n) = (tile * DIM_TILE, out.ncols());
            let x = match data.contiguous() {
                Some(x) => MatRef::from_row_major_slice(x, rows, dim).submatrix(r0, d0, r1 - r0, n),
                None => {
                    buf.clear();
                    for r in r0..r1 {
                        buf.extend_from_slice(&data.row(r)[d0..d0 + n]);
                    }
                    MatRef::from_row_major_slice(buf, r1 - r0, n)
                }
            };
            gemm_seq(out, pm.subrows(r0, r1 - r0).transpose(), x, alpha, false);
        });
    sum_transposed_partials(&partials, dim, c, g, accumulate);
}

/// `XᵀX` of the rows of `data` (row-major `dim × dim`), over at most 8 slabs of whole rows.
pub(crate) fn second_moment(data: Samples<'_>) -> Vec<f32> {
    let (rows, dim) = (data.rows(), data.dim());
    let slabs = slabs(rows, 8);
    let mut partials = vec![0.0f32; slabs.len() * dim * dim];
    partials
        .par_chunks_mut(dim * dim)
        .zip(&slabs)
        .for_each_init(Vec::new, |buf, (part, &(r0, r1))| {
            clear_upper_simd_state();
            let xb = MatRef::from_row_major_slice(data.block(r0, r1, buf), r1 - r0, dim);
            let om = MatMut::from_row_major_slice_mut(part, dim, dim);
            gemm_seq(om, xb.transpose(), xb, 1.0, false);
        });
    let mut out = vec![0.0f32; dim * dim];
    sum_partials(&partials, &mut out, false);
    out
}

/// Column sums of the rows of `data`, in f64 (fixed blocks, summed in block order).
pub(crate) fn data_column_sums(data: Samples<'_>) -> Vec<f64> {
    let dim = data.dim();
    let parts: Vec<Vec<f64>> = (0..data.rows().div_ceil(ROW_BLOCK))
        .into_par_iter()
        .map_init(Vec::new, |buf, i| {
            clear_upper_simd_state();
            let end = ((i + 1) * ROW_BLOCK).min(data.rows());
            let mut s = vec![0.0f64; dim];
            for row in data.block(i * ROW_BLOCK, end, buf).chunks_exact(dim) {
                for (acc, &v) in s.iter_mut().zip(row) {
                    *acc += v as f64;
                }
            }
            s
        })
        .collect();
    add_in_order(parts, dim)
}

/// Element-wise sum of equally long vectors, in their order.
fn add_in_order(parts: Vec<Vec<f64>>, len: usize) -> Vec<f64> {
    let mut sums = vec![0.0f64; len];
    for part in &parts {
        for (x, y) in sums.iter_mut().zip(part) {
            *x += y;
        }
    }
    sums
}

/// Summed cross-entropy of `data` at weights `w` (row-major `dim × c`) and bias `b`, with its
/// gradient sums `gw = Xᵀ·R` and `gb = Σ R` (`R = softmax − onehot`), computed slab by slab in
/// blocks of [`ROW_BLOCK`] rows: no `rows × c` buffer, for data sets whose logits do not fit in
/// memory. Slabs are fixed by `rows` and summed in order, as in [`xt_times`].
pub(crate) fn streaming_loss_gradient(
    data: Samples<'_>,
    w: &[f32],
    b: &[f32],
    gw: &mut [f32],
    gb: &mut [f64],
) -> f64 {
    let (rows, dim, c) = (data.rows(), data.dim(), b.len());
    let slabs = slabs(rows, MAX_SLABS);
    let wm = MatRef::from_row_major_slice(w, dim, c);
    let mut partials = vec![0.0f32; slabs.len() * dim * c];
    let sums: Vec<(f64, Vec<f64>)> = partials
        .par_chunks_mut(dim * c)
        .zip(&slabs)
        .map(|(part, &(r0, r1))| {
            clear_upper_simd_state();
            let (mut buf, mut z) = (Vec::new(), vec![0.0f32; ROW_BLOCK * c]);
            let (mut loss, mut col) = (0.0f64, vec![0.0f64; c]);
            for start in (r0..r1).step_by(ROW_BLOCK) {
                let end = (start + ROW_BLOCK).min(r1);
                let xb = data.block(start, end, &mut buf);
                let zb = &mut z[..(end - start) * c];
                block_logits(xb, wm, b, zb);
                loss += residual_rows(zb, &data.labels()[start..end], c);
                for row in zb.chunks_exact(c) {
                    for (acc, &v) in col.iter_mut().zip(row) {
                        *acc += v as f64;
                    }
                }
                let xm = MatRef::from_row_major_slice(xb, end - start, dim);
                let om = MatMut::from_row_major_slice_mut(part, c, dim);
                let rm = MatRef::from_row_major_slice(zb, end - start, c);
                gemm_seq(om, rm.transpose(), xm, 1.0, start > r0);
            }
            (loss, col)
        })
        .collect();
    sum_transposed_partials(&partials, dim, c, gw, false);
    let loss = sums.iter().map(|(l, _)| l).sum();
    gb.copy_from_slice(&add_in_order(
        sums.into_iter().map(|(_, col)| col).collect(),
        c,
    ));
    loss
}

/// f64 accumulator lanes of the row kernels: independent partial sums (a fixed order, so the
/// result is still deterministic) that the compiler can keep in vector registers.
const LANES: usize = 8;

/// `e^x` to ≈2 ulp for `x ≤ 0` (the softmax's shifted logits; below −87 it returns ≈1e-38, not 0).
/// Branch-free (Cephes' polynomial, `2ⁿ` built in the exponent bits), so loops over it vectorise;
/// libm's `expf` is a call per element and was the hottest symbol of the line search.
#[inline(always)]
fn exp_nonpositive(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5·2²³: adding it rounds to an integer in the low bits.
    let x = if x < -87.0 { -87.0 } else { x };
    let k = x * std::f32::consts::LOG2_E + MAGIC;
    let n = k - MAGIC;
    let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 0.166_666_65)
        * r
        + 0.5;
    let pow2 = f32::from_bits((k.to_bits().wrapping_sub(MAGIC.to_bits()) + 127) << 23);
    (1.0 + r + r * r * p) * pow2
}

/// Largest entry of a non-empty row.
#[inline(always)]
fn row_max(row: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let mut it = row.chunks_exact(LANES);
    for ch in &mut it {
        for (a, &v) in acc.iter_mut().zip(ch) {
            *a = if v > *a { v } else { *a };
        }
    }
    let tail = it.remainder().iter().copied();
    acc.into_iter()
        .chain(tail)
        .fold(f32::NEG_INFINITY, f32::max)
}

/// `Σ row` in f64 over [`LANES`] partial sums.
#[inline(always)]
fn row_sum(row: &[f32]) -> f64 {
    let mut acc = [0.0f64; LANES];
    let mut it = row.chunks_exact(LANES);
    for ch in &mut it {
        for (a, &v) in acc.iter_mut().zip(ch) {
            *a += v as f64;
        }
    }
    acc.iter().sum::<f64>() + it.remainder().iter().map(|&v| v as f64).sum::<f64>()
}

/// `Σ a·b` in f64 over [`LANES`] partial sums.
#[inline(always)]
fn row_dot(a: &[f32], b: &[f32]) -> f64 {
    let mut acc = [0.0f64; LANES];
    let (mut ia, mut ib) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    for (ca, cb) in (&mut ia).zip(&mut ib) {
        for ((s, &x), &y) in acc.iter_mut().zip(ca).zip(cb) {
            *s += x as f64 * y as f64;
        }
    }
    let tail: f64 = ia
        .remainder()
        .iter()
        .zip(ib.remainder())
        .map(|(&x, &y)| x as f64 * y as f64)
        .sum();
    acc.iter().sum::<f64>() + tail
}

/// Replaces `row` by `exp(row − max)` and returns `(max, Σ exp(row − max))`.
#[inline(always)]
fn exp_shifted(row: &mut [f32]) -> (f32, f64) {
    let m = row_max(row);
    for v in row.iter_mut() {
        *v = exp_nonpositive(*v - m);
    }
    (m, row_sum(row))
}

/// Sums per-block results in block order (never in the order rayon happens to finish them).
fn sum_blocks(parts: Vec<f64>) -> f64 {
    parts.into_iter().sum()
}

/// Replaces each row of `z` (row-major, `c` wide) by `softmax(row) − onehot(label)` and returns
/// the rows' summed cross-entropy.
fn residual_rows(z: &mut [f32], labels: &[u32], c: usize) -> f64 {
    let mut loss = 0.0f64;
    for (row, &y) in z.chunks_exact_mut(c).zip(labels) {
        let zy = row[y as usize];
        let (m, s) = exp_shifted(row);
        loss += s.ln() - (zy - m) as f64;
        let inv = (1.0 / s) as f32;
        for v in row.iter_mut() {
            *v *= inv;
        }
        row[y as usize] -= 1.0;
    }
    loss
}

/// Replaces each logit row by `softmax(row) − onehot(label)` (the gradient of the cross-entropy with
/// respect to the logits) and returns the summed cross-entropy.
pub(crate) fn softmax_residual(z: &mut [f32], labels: &[u32], c: usize) -> f64 {
    sum_blocks(
        z.par_chunks_mut(c * ROW_BLOCK)
            .zip(labels.par_chunks(ROW_BLOCK))
            .map(|(blk, lab)| {
                clear_upper_simd_state();
                residual_rows(blk, lab, c)
            })
            .collect(),
    )
}

/// Summed cross-entropy of logits `z` (left untouched).
pub(crate) fn cross_entropy(z: &[f32], labels: &[u32], c: usize) -> f64 {
    sum_blocks(
        z.par_chunks(c * ROW_BLOCK)
            .zip(labels.par_chunks(ROW_BLOCK))
            .map(|(blk, lab)| {
                clear_upper_simd_state();
                let mut tmp = vec![0.0f32; c];
                blk.chunks_exact(c)
                    .zip(lab)
                    .map(|(row, &y)| {
                        tmp.copy_from_slice(row);
                        let (m, s) = exp_shifted(&mut tmp);
                        s.ln() - (row[y as usize] - m) as f64
                    })
                    .sum::<f64>()
            })
            .collect(),
    )
}

/// Along the line `z + α·d`: the summed cross-entropy and its derivative in α. Used by the line
/// search, so that trying a step costs O(rows·c) instead of a GEMM (logits are linear in the weights).
pub(crate) fn line_cross_entropy(
    z: &[f32],
    d: &[f32],
    alpha: f32,
    labels: &[u32],
    c: usize,
) -> (f64, f64) {
    let parts: Vec<(f64, f64)> = z
        .par_chunks(c * ROW_BLOCK)
        .zip(d.par_chunks(c * ROW_BLOCK))
        .zip(labels.par_chunks(ROW_BLOCK))
        .map(|((zb, db), lab)| {
            clear_upper_simd_state();
            let mut tmp = vec![0.0f32; c];
            let (mut loss, mut deriv) = (0.0f64, 0.0f64);
            for ((zr, dr), &y) in zb.chunks_exact(c).zip(db.chunks_exact(c)).zip(lab) {
                for ((t, &a), &b) in tmp.iter_mut().zip(zr).zip(dr) {
                    *t = a + alpha * b;
                }
                let y = y as usize;
                let zy = tmp[y];
                let (m, s) = exp_shifted(&mut tmp);
                loss += m as f64 + s.ln() - zy as f64;
                deriv += row_dot(&tmp, dr) / s - dr[y] as f64;
            }
            (loss, deriv)
        })
        .collect();
    parts
        .iter()
        .fold((0.0, 0.0), |acc, p| (acc.0 + p.0, acc.1 + p.1))
}

/// Column sums of a row-major `rows × c` matrix, in f64 (fixed blocks, summed in block order).
pub(crate) fn column_sums(p: &[f32], c: usize) -> Vec<f64> {
    let parts: Vec<Vec<f64>> = p
        .par_chunks(c * ROW_BLOCK)
        .map(|blk| {
            clear_upper_simd_state();
            let mut s = vec![0.0f64; c];
            for row in blk.chunks_exact(c) {
                for (acc, &v) in s.iter_mut().zip(row) {
                    *acc += v as f64;
                }
            }
            s
        })
        .collect();
    add_in_order(parts, c)
}

/// f64-accumulated dot product.
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logits_match_naive_product() {
        let (rows, dim, c) = (5, 3, 4);
        let x: Vec<f32> = (0..rows * dim).map(|i| (i as f32 * 0.37).sin()).collect();
        let w: Vec<f32> = (0..dim * c).map(|i| (i as f32 * 0.11).cos()).collect();
        let b = vec![0.5, -0.25, 0.0, 1.0];
        let mut z = vec![0.0; rows * c];
        logits(&x, dim, &w, &b, &mut z);
        for r in 0..rows {
            for k in 0..c {
                let want: f32 = (0..dim).map(|d| x[r * dim + d] * w[d * c + k]).sum::<f32>() + b[k];
                assert!((z[r * c + k] - want).abs() < 1e-5);
            }
        }
    }

    /// `Xᵀ·P` over several slabs and a partial feature tile, on contiguous rows and on a row view,
    /// and the streamed loss gradient, against f64 loops.
    #[test]
    fn gradient_products_match_naive_sums() {
        let (rows, dim, c) = (2 * SLAB_ROWS + 37, DIM_TILE + 45, 7);
        let x: Vec<f32> = (0..rows * dim).map(|i| (i as f32 * 0.37).sin()).collect();
        let p: Vec<f32> = (0..rows * c).map(|i| (i as f32 * 0.13).cos()).collect();
        let labels: Vec<u32> = (0..rows).map(|r| (r % c) as u32).collect();
        let naive = |row: &dyn Fn(usize) -> usize, p: &[f32]| -> Vec<f64> {
            let mut g = vec![0.0f64; dim * c];
            for r in 0..rows {
                for d in 0..dim {
                    for k in 0..c {
                        g[d * c + k] += x[row(r) * dim + d] as f64 * p[r * c + k] as f64;
                    }
                }
            }
            g
        };
        let close = |got: &[f32], want: &[f64], add: f32| {
            for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
                assert!(
                    (g as f64 - add as f64 - 0.5 * w).abs() < 2e-3,
                    "{i}: {g} vs {w}"
                );
            }
        };
        let data = Samples::new(&x, &labels, dim, c).unwrap();
        let mut g = vec![1.0f32; dim * c];
        xt_times(data, &p, c, 0.5, &mut g, true);
        close(&g, &naive(&|r| r, &p), 1.0);

        // A row view: every row but the first, in reverse order.
        let index: Vec<usize> = (1..rows).rev().collect();
        let view_labels: Vec<u32> = index.iter().map(|&r| labels[r]).collect();
        let long = Samples::new(&x, &labels, dim, c).unwrap();
        let view = long.select(&index, &view_labels);
        let pv = &p[..(rows - 1) * c];
        let mut gv = vec![0.0f32; dim * c];
        xt_times(view, pv, c, 0.5, &mut gv, false);
        let want: Vec<f64> = {
            let mut g = vec![0.0f64; dim * c];
            for (r, &src) in index.iter().enumerate() {
                for d in 0..dim {
                    for k in 0..c {
                        g[d * c + k] += x[src * dim + d] as f64 * pv[r * c + k] as f64;
                    }
                }
            }
            g
        };
        close(&gv, &want, 0.0);

        // The streamed gradient equals Xᵀ·(softmax − onehot) from the cached logits.
        let w: Vec<f32> = (0..dim * c)
            .map(|i| (i as f32 * 0.07).sin() * 0.1)
            .collect();
        let b: Vec<f32> = (0..c).map(|k| k as f32 * 0.01).collect();
        let mut z = vec![0.0f32; rows * c];
        logits(&x, dim, &w, &b, &mut z);
        let loss = softmax_residual(&mut z, &labels, c);
        let mut gw = vec![0.0f32; dim * c];
        let mut gb = vec![0.0f64; c];
        let streamed = streaming_loss_gradient(data, &w, &b, &mut gw, &mut gb);
        assert!((streamed - loss).abs() < 1e-6 * loss.abs());
        let want = naive(&|r| r, &z);
        close(&gw, &want.iter().map(|v| 2.0 * v).collect::<Vec<_>>(), 0.0);
        for (k, &v) in gb.iter().enumerate() {
            let s: f64 = z.chunks_exact(c).map(|row| row[k] as f64).sum();
            assert!((v - s).abs() < 1e-3, "bias {k}: {v} vs {s}");
        }
    }

    #[test]
    fn line_derivative_matches_finite_difference() {
        let c = 3;
        let z = vec![1.0f32, 2.0, -1.0, 0.5, 0.0, 3.0];
        let d = vec![0.3f32, -0.2, 0.1, -1.0, 0.4, 0.2];
        let labels = [2u32, 0];
        let (_, g) = line_cross_entropy(&z, &d, 0.5, &labels, c);
        let h = 1e-3;
        let (fp, _) = line_cross_entropy(&z, &d, 0.5 + h, &labels, c);
        let (fm, _) = line_cross_entropy(&z, &d, 0.5 - h, &labels, c);
        assert!((g - (fp - fm) / (2.0 * h as f64)).abs() < 1e-3);
        let (f0, _) = line_cross_entropy(&z, &d, 0.0, &labels, c);
        assert!((f0 - cross_entropy(&z, &labels, c)).abs() < 1e-9);
    }

    #[test]
    fn polynomial_exp_is_accurate_on_the_softmax_range() {
        let mut worst = 0.0f64;
        for i in 0..=200_000 {
            let x = -87.0 * i as f32 / 200_000.0;
            let want = (x as f64).exp();
            worst = worst.max((exp_nonpositive(x) as f64 - want).abs() / want);
        }
        assert!(worst < 3e-7, "max relative error {worst}");
        assert!(exp_nonpositive(-1e30) >= 0.0 && exp_nonpositive(-1e30) < 1e-37);
        assert_eq!(exp_nonpositive(0.0), 1.0);
    }

    #[test]
    fn row_kernels_match_plain_loops_on_odd_lengths() {
        let a: Vec<f32> = (0..13).map(|i| (i as f32 * 0.7).sin()).collect();
        let b: Vec<f32> = (0..13).map(|i| (i as f32 * 0.3).cos()).collect();
        assert_eq!(row_max(&a), a.iter().copied().fold(f32::MIN, f32::max));
        let sum: f64 = a.iter().map(|&v| v as f64).sum();
        assert!((row_sum(&a) - sum).abs() < 1e-12);
        let dot: f64 = a.iter().zip(&b).map(|(&x, &y)| x as f64 * y as f64).sum();
        assert!((row_dot(&a, &b) - dot).abs() < 1e-12);
    }

    #[test]
    fn softmax_is_stable_for_huge_logits() {
        let mut z = vec![1e30f32, 0.0, -1e30];
        let loss = softmax_residual(&mut z, &[0], 3);
        assert!(loss.abs() < 1e-12 && z.iter().all(|v| v.is_finite()));
    }
}
