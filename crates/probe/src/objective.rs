//! The multinomial cross-entropy and its pieces: GEMMs through faer (multithreaded with rayon) and
//! row-parallel, allocation-free softmax passes. Logits are f32 (the GEMM's precision); every
//! reduction (loss, derivatives, dot products) accumulates in f64.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

/// Rows per rayon task in the softmax passes: large enough to amortise scheduling.
const ROW_BLOCK: usize = 256;

pub(crate) fn par() -> Par {
    Par::rayon(0)
}

/// `z = x · w + 1·bᵀ` with `x` row-major `rows × dim`, `w` row-major `dim × c`, `z` row-major `rows × c`.
pub(crate) fn logits(x: &[f32], dim: usize, w: &[f32], b: &[f32], z: &mut [f32]) {
    let c = b.len();
    let rows = x.len() / dim;
    debug_assert_eq!(z.len(), rows * c);
    if rows == 0 {
        return;
    }
    let xm = MatRef::from_row_major_slice(x, rows, dim);
    let wm = MatRef::from_row_major_slice(w, dim, c);
    let zm = MatMut::from_row_major_slice_mut(z, rows, c);
    matmul(zm, Accum::Replace, xm, wm, 1.0f32, par());
    z.par_chunks_mut(c * ROW_BLOCK).for_each(|blk| {
        for row in blk.chunks_exact_mut(c) {
            for (v, bias) in row.iter_mut().zip(b) {
                *v += bias;
            }
        }
    });
}

/// `g = alpha · xᵀ · p` (`g` row-major `dim × c`), accumulating into `g` when `accumulate`.
///
/// The reduction runs over the long `rows` axis while the output is small (D × C), which a GEMM
/// parallelised over output blocks splits poorly; so the rows are cut into one slab per thread,
/// each slab's product is computed sequentially, and the partial products are summed.
pub(crate) fn xt_times(
    x: &[f32],
    dim: usize,
    p: &[f32],
    c: usize,
    alpha: f32,
    g: &mut [f32],
    accumulate: bool,
) {
    let rows = x.len() / dim;
    let threads = rayon::current_num_threads();
    let slab = rows.div_ceil(threads).max(1);
    if threads == 1 || rows < 2 * 256 {
        xt_times_seq(x, dim, p, c, alpha, g, accumulate, par());
        return;
    }
    let partials: Vec<Vec<f32>> = x
        .par_chunks(slab * dim)
        .zip(p.par_chunks(slab * c))
        .map(|(xs, ps)| {
            let mut part = vec![0.0f32; dim * c];
            xt_times_seq(xs, dim, ps, c, alpha, &mut part, false, Par::Seq);
            part
        })
        .collect();
    g.par_chunks_mut(c * ROW_BLOCK.min(dim))
        .enumerate()
        .for_each(|(i, out)| {
            let off = i * c * ROW_BLOCK.min(dim);
            for (j, v) in out.iter_mut().enumerate() {
                let s: f32 = partials.iter().map(|part| part[off + j]).sum();
                *v = if accumulate { *v + s } else { s };
            }
        });
}

#[allow(clippy::too_many_arguments)]
fn xt_times_seq(
    x: &[f32],
    dim: usize,
    p: &[f32],
    c: usize,
    alpha: f32,
    g: &mut [f32],
    accumulate: bool,
    par: Par,
) {
    let rows = x.len() / dim;
    let xt = MatRef::from_row_major_slice(x, rows, dim).transpose();
    let pm = MatRef::from_row_major_slice(p, rows, c);
    let gm = MatMut::from_row_major_slice_mut(g, dim, c);
    let acc = if accumulate {
        Accum::Add
    } else {
        Accum::Replace
    };
    matmul(gm, acc, xt, pm, alpha, par);
}

/// Replaces each logit row by `softmax(row) − onehot(label)` (the gradient of the cross-entropy with
/// respect to the logits) and returns the summed cross-entropy.
pub(crate) fn softmax_residual(z: &mut [f32], labels: &[u32], c: usize) -> f64 {
    z.par_chunks_mut(c * ROW_BLOCK)
        .zip(labels.par_chunks(ROW_BLOCK))
        .map(|(blk, lab)| {
            let mut loss = 0.0f64;
            for (row, &y) in blk.chunks_exact_mut(c).zip(lab) {
                let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let zy = (row[y as usize] - m) as f64;
                let mut s = 0.0f64;
                for v in row.iter_mut() {
                    let e = (*v - m).exp();
                    *v = e;
                    s += e as f64;
                }
                loss += s.ln() - zy;
                let inv = (1.0 / s) as f32;
                for v in row.iter_mut() {
                    *v *= inv;
                }
                row[y as usize] -= 1.0;
            }
            loss
        })
        .sum()
}

/// Summed cross-entropy of logits `z` (left untouched).
pub(crate) fn cross_entropy(z: &[f32], labels: &[u32], c: usize) -> f64 {
    z.par_chunks(c * ROW_BLOCK)
        .zip(labels.par_chunks(ROW_BLOCK))
        .map(|(blk, lab)| {
            blk.chunks_exact(c)
                .zip(lab)
                .map(|(row, &y)| log_sum_exp(row) - row[y as usize] as f64)
                .sum::<f64>()
        })
        .sum()
}

/// `log Σ exp(row)`, shifted by the maximum so it never overflows.
pub(crate) fn log_sum_exp(row: &[f32]) -> f64 {
    let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let s: f64 = row.iter().map(|&v| ((v - m).exp()) as f64).sum();
    m as f64 + s.ln()
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
    z.par_chunks(c * ROW_BLOCK)
        .zip(d.par_chunks(c * ROW_BLOCK))
        .zip(labels.par_chunks(ROW_BLOCK))
        .map(|((zb, db), lab)| {
            let mut loss = 0.0f64;
            let mut deriv = 0.0f64;
            for ((zr, dr), &y) in zb.chunks_exact(c).zip(db.chunks_exact(c)).zip(lab) {
                let m = zr
                    .iter()
                    .zip(dr)
                    .map(|(&a, &b)| a + alpha * b)
                    .fold(f32::NEG_INFINITY, f32::max);
                let mut s = 0.0f64;
                let mut sd = 0.0f64;
                for (&a, &b) in zr.iter().zip(dr) {
                    let e = (a + alpha * b - m).exp() as f64;
                    s += e;
                    sd += e * b as f64;
                }
                let y = y as usize;
                loss += m as f64 + s.ln() - (zr[y] + alpha * dr[y]) as f64;
                deriv += sd / s - dr[y] as f64;
            }
            (loss, deriv)
        })
        .reduce(|| (0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1))
}

/// Column sums of a row-major `rows × c` matrix, in f64.
pub(crate) fn column_sums(p: &[f32], c: usize) -> Vec<f64> {
    p.par_chunks(c * ROW_BLOCK)
        .map(|blk| {
            let mut s = vec![0.0f64; c];
            for row in blk.chunks_exact(c) {
                for (acc, &v) in s.iter_mut().zip(row) {
                    *acc += v as f64;
                }
            }
            s
        })
        .reduce(
            || vec![0.0f64; c],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(&b) {
                    *x += y;
                }
                a
            },
        )
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
    fn softmax_is_stable_for_huge_logits() {
        let mut z = vec![1e30f32, 0.0, -1e30];
        let loss = softmax_residual(&mut z, &[0], 3);
        assert!(loss.abs() < 1e-12 && z.iter().all(|v| v.is_finite()));
    }
}
