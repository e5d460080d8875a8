//! The Rust side of `python/benches/overhead.py`: the same work as the Python calls it is compared
//! with, on the inputs that script wrote to DIR, timed in-process (best of several runs).
//!
//! DIR holds `pairs.u32` (2·P concept ids, a then b, little-endian), `x.f32` (rows·dim features),
//! `y.u32` (rows labels) and `shape.txt` (`rows dim classes`). Prints one JSON object of seconds.
//!
//! Usage: cargo bench -p hiercog-python --bench overhead -- DIR

use std::path::Path;
use std::time::Instant;

use hiercog_probe::{LbfgsParams, LogisticRegressionParams, Samples, Solver};
use hiercog_taxonomy::{similarities, ConceptId, InformationContent, Measure, Taxonomy};

fn read_u32(path: &Path) -> Vec<u32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn best_of(runs: usize, mut f: impl FnMut()) -> f64 {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let dir = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .expect("usage: overhead DIR (written by python/benches/overhead.py)");
    let dir = Path::new(&dir);
    let ids = read_u32(&dir.join("pairs.u32"));
    let (a, b) = ids.split_at(ids.len() / 2);
    let pairs: Vec<(ConceptId, ConceptId)> = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (ConceptId(x), ConceptId(y)))
        .collect();
    let tax = Taxonomy::wordnet().unwrap();
    let ic = InformationContent::semcor(&tax).unwrap();
    let similarity = best_of(5, || {
        similarities(&tax, Some(&ic), Measure::Lin, &pairs).unwrap();
    });

    let shape = std::fs::read_to_string(dir.join("shape.txt")).unwrap();
    let [rows, dim, classes]: [usize; 3] = shape
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect::<Vec<_>>()
        .try_into()
        .unwrap();
    let x: Vec<f32> = read_u32(&dir.join("x.f32"))
        .into_iter()
        .map(f32::from_bits)
        .collect();
    let y = read_u32(&dir.join("y.u32"));
    assert_eq!((x.len(), y.len()), (rows * dim, rows));
    let data = Samples::new(&x, &y, dim, classes).unwrap();
    let params = LogisticRegressionParams::new(Solver::Lbfgs(LbfgsParams {
        l2: 1e-4,
        tol: 1e-6,
        max_iter: 100,
        ..LbfgsParams::default()
    }))
    .unwrap();
    let fit = best_of(3, || {
        params.fit(data, None, &mut |_, _| {}).unwrap();
    });
    println!(
        "{}",
        serde_json::json!({"pairs": pairs.len(), "similarity_seconds": similarity,
                           "rows": rows, "dim": dim, "classes": classes, "fit_seconds": fit})
    );
}
