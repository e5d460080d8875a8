//! GFLOP/s of the row-blocked GEMM against faer's own (sequential and parallel) on TLDR's shapes
//! (a batch of 1,024 rows through 2,048 × 2,048 layers) and the probe's peak shape: the machine's
//! limit, and how close the blocked product gets.
//!
//! The second table is the probe's own pieces (one core, sequential faer): the logits `X·W` for
//! blocks of 256 and 1,024 rows, and for 256 rows cut into tiles of at most 512 columns; and one
//! slab × tile of the gradient computed as `Xᵀ·P` into a row-major `tile × C` block or as `Pᵀ·X`
//! into a row-major `C × tile` block (what `crates/probe/src/objective.rs` chose from these
//! numbers).
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
    probe_pieces(repeats);
}

/// The probe's GEMM pieces at D = 2,048 features for 100 to 1,000 classes, one core.
fn probe_pieces(repeats: usize) {
    let (d, slab, tile) = (2048, 3125, 256);
    println!();
    println!("| C | X·W 256 rows | X·W 1,024 rows | X·W 256 rows, ≤ 512-column tiles | Xᵀ·P into tile × C | Pᵀ·X into C × tile |");
    println!("|--:|--:|--:|--:|--:|--:|");
    for c in [100, 300, 768, 1000, 2000] {
        let x: Vec<f32> = (0..slab * d).map(|i| (i % 7) as f32 - 3.0).collect();
        let w: Vec<f32> = (0..d * c).map(|i| (i % 5) as f32 - 2.0).collect();
        let mut z = vec![0.0f32; 1024 * c];
        let mut logits = |rows: usize| {
            let xm = MatRef::from_row_major_slice(&x[..rows * d], rows, d);
            best_gflops(2.0 * (rows * d * c) as f64, repeats, || {
                let zm = MatMut::from_row_major_slice_mut(&mut z[..rows * c], rows, c);
                let wm = MatRef::from_row_major_slice(&w, d, c);
                matmul(zm, Accum::Replace, xm, wm, 1.0, Par::Seq)
            })
        };
        let (l256, l1024) = (logits(256), logits(1024));
        let tiles = c.div_ceil(512);
        let xm = MatRef::from_row_major_slice(&x[..256 * d], 256, d);
        let tiled = best_gflops(2.0 * (256 * d * c) as f64, repeats, || {
            let wm = MatRef::from_row_major_slice(&w, d, c);
            let mut zm = MatMut::from_row_major_slice_mut(&mut z[..256 * c], 256, c);
            for t in 0..tiles {
                let (c0, c1) = (t * c / tiles, (t + 1) * c / tiles);
                let zt = zm.as_mut().subcols_mut(c0, c1 - c0);
                matmul(
                    zt,
                    Accum::Replace,
                    xm,
                    wm.subcols(c0, c1 - c0),
                    1.0,
                    Par::Seq,
                );
            }
        });
        // P: the slab's residuals (slab × C); the tile: the slab's first `tile` feature columns.
        let p: Vec<f32> = (0..slab * c).map(|i| (i % 3) as f32 - 1.0).collect();
        let (xt, pm) = (
            MatRef::from_row_major_slice(&x, slab, d).subcols(0, tile),
            MatRef::from_row_major_slice(&p, slab, c),
        );
        let mut g = vec![0.0f32; tile * c];
        let flop = 2.0 * (slab * tile * c) as f64;
        let xtp = best_gflops(flop, repeats, || {
            let gm = MatMut::from_row_major_slice_mut(&mut g, tile, c);
            matmul(gm, Accum::Replace, xt.transpose(), pm, 1.0, Par::Seq)
        });
        let ptx = best_gflops(flop, repeats, || {
            let gm = MatMut::from_row_major_slice_mut(&mut g, c, tile);
            matmul(gm, Accum::Replace, pm.transpose(), xt, 1.0, Par::Seq)
        });
        println!("| {c} | {l256:.0} | {l1024:.0} | {tiled:.0} | {xtp:.0} | {ptx:.0} |");
    }
}
