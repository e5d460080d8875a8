//! Load times against Python: `python3 benches/make_bench_input.py DIR [efficientnet.pth]`, then
//! `HIERCOG_PICKLE_BENCH_DIR=DIR [HIERCOG_PICKLE_BENCH_PTH=efficientnet.pth] cargo bench -p hiercog-pickle --bench load`.

use std::path::PathBuf;
use std::time::Instant;

fn best<T>(mut f: impl FnMut() -> T) -> f64 {
    (0..3)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let Some(dir) = std::env::var_os("HIERCOG_PICKLE_BENCH_DIR").map(PathBuf::from) else {
        eprintln!("set HIERCOG_PICKLE_BENCH_DIR (see benches/make_bench_input.py)");
        return;
    };
    let text = std::fs::read_to_string(dir.join("reference.json")).expect("reference.json");
    let reference: serde_json::Value = serde_json::from_str(&text).expect("reference.json is JSON");
    println!(
        "{:<28} {:>10} {:>12} {:>12} {:>8}",
        "input", "MB", "hiercog s", "python s", "ratio"
    );
    let pkl = dir.join("split_like.pkl");
    let ours = best(|| hiercog_pickle::load_pickle(&pkl).expect("load_pickle"));
    let r = &reference["split_like.pkl"];
    let theirs = r["python_pickle_load_s"].as_f64().unwrap_or(f64::NAN);
    let mb = r["bytes"].as_f64().unwrap_or(0.0) / 1e6;
    println!(
        "{:<28} {mb:>10.1} {ours:>12.3} {theirs:>12.3} {:>8.2}",
        "split_like.pkl (pickle)",
        ours / theirs
    );
    if let Some(pth) = std::env::var_os("HIERCOG_PICKLE_BENCH_PTH").map(PathBuf::from) {
        let ours = best(|| hiercog_pickle::load_torch(&pth).expect("load_torch"));
        let r = &reference["efficientnet"];
        let theirs = r["torch_load_s"].as_f64().unwrap_or(f64::NAN);
        let mb = r["bytes"].as_f64().unwrap_or(0.0) / 1e6;
        println!(
            "{:<28} {mb:>10.1} {ours:>12.3} {theirs:>12.3} {:>8.2}",
            "efficientnet legacy .pth",
            ours / theirs
        );
    }
}
