//! GFLOP/s of the row-blocked GEMM against faer's own (sequential and parallel) on TLDR's shapes
//! (a batch of 1,024 rows through 2,048 × 2,048 layers) and the probe's peak shape: the machine's
//! limit, and how close the blocked product gets.
//!
//! `cargo bench -p hiercog-linalg --bench gemm [-- REPEATS]`

use std::time::Instant;

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use hiercog_linalg::matmul_rows;

fn best_gflops(flop: f64, repeats: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut best = f64::INFINITY;
    for _ in 0..repeats {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    flop / best / 1e9
}

fn main() {
    let repeats: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map_or(5, |a| a.parse().expect("REPEATS: a number"));
    let threads = rayon::current_num_threads();
    println!("| m × k × n | faer sequential | faer parallel ({threads} threads) | row blocks of 256 | row blocks of 512 |");
    println!("|---|--:|--:|--:|--:|");
    for (m, k, n) in [
        (1024, 2048, 2048),
        (2048, 1024, 2048),
        (1024, 1024, 2048),
        (4096, 2048, 1000),
    ] {
        let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 - 3.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 - 2.0).collect();
        let (am, bm) = (
            MatRef::from_row_major_slice(&a, m, k),
            MatRef::from_row_major_slice(&b, k, n),
        );
        let mut out = vec![0.0f32; m * n];
        let flop = 2.0 * (m * k * n) as f64;
        let mut faer = |par| {
            let o = MatMut::from_row_major_slice_mut(&mut out, m, n);
            matmul(o, Accum::Replace, am, bm, 1.0, par);
        };
        let seq = best_gflops(flop, repeats, || faer(Par::Seq));
        let par = best_gflops(flop, repeats, || faer(Par::rayon(0)));
        let mut blocked = |rows| {
            best_gflops(flop, repeats, || {
                matmul_rows(&mut out, am, bm, 1.0, false, rows)
            })
        };
        let (b256, b512) = (blocked(256), blocked(512));
        println!("| {m} × {k} × {n} | {seq:.0} | {par:.0} | {b256:.0} | {b512:.0} |");
    }
}
