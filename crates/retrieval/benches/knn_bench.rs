//! Benchmark driver for k-NN search (run by `benches/compare_faiss.py`, which times faiss-cpu's
//! flat inner-product index on the same data; nothing here is asserted).
//!
//! `cargo bench -p hiercog-retrieval --bench knn_bench -- DIR N D K`: reads `DIR/x.f32` (N × D
//! little-endian f32), computes every row's K nearest other rows by inner product — exactly, then
//! with HNSW (default parameters) — writes the exact neighbours to `DIR/exact.u32` and prints one
//! JSON line of timings and the HNSW recall@K against exact. A fifth argument `exact` skips HNSW.

use std::time::Instant;

use hiercog_retrieval::{knn_recall, ExactIndex, Exclusion, HnswParams, KnnSearch, Metric, Rows};

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let (dir, n, d, k, exact_only) = match &args[..] {
        [dir, n, d, k] => (dir, n, d, k, false),
        [dir, n, d, k, e] if e == "exact" => (dir, n, d, k, true),
        _ => {
            eprintln!("usage: knn_bench DIR N D K [exact]");
            std::process::exit(2);
        }
    };
    let (n, d, k): (usize, usize, usize) =
        (n.parse().unwrap(), d.parse().unwrap(), k.parse().unwrap());
    let bytes = std::fs::read(format!("{dir}/x.f32")).expect("DIR/x.f32");
    let x: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    assert_eq!(x.len(), n * d, "x.f32 is not N x D");
    let rows = Rows::new(&x, d).unwrap();
    let quiet = |_: usize, _: usize| {};

    let t = Instant::now();
    let index = ExactIndex::new(rows, Metric::InnerProduct).unwrap();
    let exact = index.search(rows, k, Exclusion::SelfMatch, &quiet).unwrap();
    let exact_s = t.elapsed().as_secs_f64();
    let out: Vec<u8> = exact
        .all_indices()
        .iter()
        .flat_map(|i| i.to_le_bytes())
        .collect();
    std::fs::write(format!("{dir}/exact.u32"), out).unwrap();
    if exact_only {
        println!(
            "{{\"exact_s\": {exact_s:.3}, \"threads\": {}}}",
            rayon::current_num_threads()
        );
        return;
    }

    let t = Instant::now();
    let hnsw = HnswParams::default()
        .build(rows, Metric::InnerProduct)
        .unwrap();
    let build_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let approx = hnsw.search(rows, k, Exclusion::SelfMatch, &quiet).unwrap();
    let search_s = t.elapsed().as_secs_f64();
    println!(
        "{{\"exact_s\": {exact_s:.3}, \"hnsw_build_s\": {build_s:.3}, \"hnsw_search_s\": {search_s:.3}, \"hnsw_recall\": {:.4}, \"threads\": {}}}",
        knn_recall(&approx, &exact).unwrap(),
        rayon::current_num_threads()
    );
}
