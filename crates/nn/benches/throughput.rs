//! CPU throughput (images/s) of the forward pass of EfficientNet-Lite0 and ResNet-50 on a batch
//! of the fixture photos. Run through `benches/compare_pytorch.py`, which times PyTorch on the
//! same tensors and prints the ratio; alone: `cargo bench -p hiercog-nn --bench throughput`.
//! `…-pipeline` rows time the whole extraction (decode + preprocess overlapped with the
//! forward pass, features written). Options (after `--`): `--batch N` (default 32), `--iters N`
//! (default 5), `--models efficientnet-lite0,resnet50` (the default), `--forward-only`.
//! EfficientNet-Lite0 uses the default weights (scripts/fetch-default-model.sh); ResNet-50 runs
//! with formula weights (speed does not depend on the values).

use candle_core::{Device, Tensor};
use hiercog_nn::{model_spec, Backbone, Checkpoint};
use std::path::Path;
use std::time::Instant;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn batch_of_photos(model: &Backbone, n: usize) -> Tensor {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images");
    let photos = [
        "chelsea.png",
        "coffee.png",
        "rocket.jpg",
        "motorcycle_left.png",
    ];
    let imgs: Vec<Vec<f32>> = photos
        .iter()
        .map(|p| model.preprocess().load(&dir.join(p)).unwrap())
        .collect();
    let side = model.preprocess().crop as usize;
    let flat: Vec<f32> = (0..n).flat_map(|i| imgs[i % 4].clone()).collect();
    Tensor::from_vec(flat, (n, 3, side, side), &Device::Cpu).unwrap()
}

fn time(name: &str, model: &Backbone, batch: usize, iters: usize) {
    let x = batch_of_photos(model, batch);
    model.forward(&x).unwrap(); // warm-up
    let t = Instant::now();
    for _ in 0..iters {
        model.forward(&x).unwrap();
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "RESULT {name} batch={batch} images_per_sec={:.2}",
        (batch * iters) as f64 / s
    );
}

/// The whole extraction (decode, preprocess, forward, write) over `n` photo files.
fn time_pipeline(name: &str, model: &Backbone, batch: usize, n: usize) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images");
    let photos = [
        "chelsea.png",
        "coffee.png",
        "rocket.jpg",
        "motorcycle_left.png",
    ];
    let items: Vec<_> = (0..n).map(|i| (dir.join(photos[i % 4]), 0u32)).collect();
    let out = std::env::temp_dir().join(format!("hiercog-bench-{}", std::process::id()));
    let opts = hiercog_nn::ExtractOptions {
        batch_size: batch,
        classes: vec!["photo".into()],
        ..Default::default()
    };
    let t = Instant::now();
    hiercog_nn::extract(model, &items, &out, &opts, &|_| {}).unwrap();
    let s = t.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&out);
    println!(
        "RESULT {name}-pipeline batch={batch} images_per_sec={:.2}",
        n as f64 / s
    );
}

fn resnet50() -> Backbone {
    let keys_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/resnet50_keys.json");
    let keys: Vec<(String, Vec<usize>)> =
        serde_json::from_str(&std::fs::read_to_string(keys_path).unwrap()).unwrap();
    let tensors = keys
        .into_iter()
        .map(|(k, s)| {
            let v = if k.ends_with("running_var") {
                1.0
            } else {
                0.01
            };
            let t = Tensor::full(v as f32, s.as_slice(), &Device::Cpu).unwrap();
            (k, t)
        })
        .collect();
    Backbone::from_checkpoint(
        model_spec("resnet50").unwrap(),
        &Checkpoint::from_tensors("bench", tensors),
        None,
        &Device::Cpu,
    )
    .unwrap()
}

fn main() {
    let batch = arg("--batch", 32);
    let iters = arg("--iters", 5);
    let args: Vec<String> = std::env::args().collect();
    let models = args
        .iter()
        .position(|a| a == "--models")
        .and_then(|i| args.get(i + 1))
        .map_or("efficientnet-lite0,resnet50", String::as_str);
    let forward_only = args.iter().any(|a| a == "--forward-only");
    for name in models.split(',') {
        match name {
            "efficientnet-lite0" => {
                let lite = hiercog_nn::cache::default_weights_path();
                assert!(
                    lite.is_file(),
                    "{} is missing: run scripts/fetch-default-model.sh",
                    lite.display()
                );
                let m =
                    Backbone::load(model_spec(name).unwrap(), &lite, None, &Device::Cpu).unwrap();
                time(name, &m, batch, iters);
                if !forward_only {
                    time_pipeline(name, &m, batch, batch * iters);
                }
            }
            "resnet50" => time(name, &resnet50(), batch, iters),
            other => panic!("unknown model {other}: efficientnet-lite0 or resnet50"),
        }
    }
}
