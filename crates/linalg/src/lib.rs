//! hiercog-linalg: dense f32 GEMMs on faer, cut into pieces whose boundaries depend on the shapes
//! only, so that a result is the same bit for bit whatever the thread count.
//!
//! Each piece runs faer sequentially inside a rayon task of ours, so faer's own thread pool never
//! competes with the caller's. Every piece ends, and every caller's parallel task should start,
//! with [`clear_upper_simd_state`]: faer's AVX-512 micro-kernels leave the upper halves of the
//! vector registers dirty on the worker that ran them, and code built for baseline x86-64 that
//! later runs on that worker pays a transition penalty on every vector instruction (the probe's
//! softmax loops ran ≈10× slower).

#![warn(missing_docs)]

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

/// Marks the upper halves of the YMM/ZMM registers clean (`vzeroupper`) on the current thread.
///
/// Call it at the start of every parallel task that runs baseline-x86-64 vector code on a rayon
/// worker that may have run a faer GEMM before.
#[inline]
pub fn clear_upper_simd_state() {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: `vzeroupper` exists on every CPU with AVX (checked above); it only zeroes bits
        // 128 and up of the vector registers, which no compiled code keeps live across this call
        // (the Rust ABI passes nothing there and the workspace is built for baseline x86-64).
        unsafe { std::arch::asm!("vzeroupper", options(nomem, nostack, preserves_flags)) };
    }
}

/// One sequential faer GEMM `out = alpha·a·b (+ out when add)`, leaving the SIMD state clean.
pub fn gemm_sequential(
    out: MatMut<'_, f32>,
    a: MatRef<'_, f32>,
    b: MatRef<'_, f32>,
    alpha: f32,
    add: bool,
) {
    let acc = if add { Accum::Add } else { Accum::Replace };
    matmul(out, acc, a, b, alpha, Par::Seq);
    clear_upper_simd_state();
}

/// `out = alpha·a·b (+ out when accumulate)`, `out` row-major `a.nrows() × b.ncols()`: fixed
/// blocks of `block_rows` output rows in parallel, each a sequential GEMM over the whole reduction
/// dimension, so the result does not depend on the thread count. Larger blocks repack `b` less
/// often; smaller ones balance more threads.
pub fn matmul_rows(
    out: &mut [f32],
    a: MatRef<'_, f32>,
    b: MatRef<'_, f32>,
    alpha: f32,
    accumulate: bool,
    block_rows: usize,
) {
    let cols = b.ncols();
    assert_eq!(out.len(), a.nrows() * cols, "output shape");
    assert!(block_rows > 0, "empty row blocks");
    if cols == 0 {
        return;
    }
    out.par_chunks_mut(cols * block_rows)
        .enumerate()
        .for_each(|(i, blk)| {
            clear_upper_simd_state();
            let rows = blk.len() / cols;
            let om = MatMut::from_row_major_slice_mut(blk, rows, cols);
            gemm_sequential(om, a.subrows(i * block_rows, rows), b, alpha, accumulate);
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f64> {
        let mut c = vec![0.0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k)
                    .map(|l| a[i * k + l] as f64 * b[l * n + j] as f64)
                    .sum();
            }
        }
        c
    }

    #[test]
    fn blocked_product_equals_the_naive_one_and_accumulates() {
        let (m, k, n) = (37, 19, 23);
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) / 5.0)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|i| ((i * 5 % 11) as f32 - 5.0) / 3.0)
            .collect();
        let want = naive(&a, &b, m, k, n);
        let am = MatRef::from_row_major_slice(&a, m, k);
        let bm = MatRef::from_row_major_slice(&b, k, n);
        for block in [1, 8, 37, 100] {
            let mut out = vec![1.0f32; m * n];
            matmul_rows(&mut out, am, bm, 2.0, true, block);
            for (o, w) in out.iter().zip(&want) {
                assert!(
                    (*o as f64 - (1.0 + 2.0 * w)).abs() < 1e-4,
                    "block {block}: {o} vs {w}"
                );
            }
        }
    }

    #[test]
    fn same_bits_whatever_the_thread_count() {
        let (m, k, n) = (300, 257, 130);
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 31 % 97) as f32).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 17 % 89) as f32).cos()).collect();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut out = vec![0.0f32; m * n];
            pool.install(|| {
                matmul_rows(
                    &mut out,
                    MatRef::from_row_major_slice(&a, m, k),
                    MatRef::from_row_major_slice(&b, k, n),
                    1.0,
                    false,
                    64,
                )
            });
            out
        };
        let one = run(1);
        for t in [2, 3] {
            assert!(
                run(t)
                    .iter()
                    .zip(&one)
                    .all(|(x, y)| x.to_bits() == y.to_bits()),
                "{t} threads"
            );
        }
    }
}
