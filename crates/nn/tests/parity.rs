//! Parity with PyTorch: outputs of the backbones on identical inputs, the preprocessing, and
//! the full image pipeline, against reference values from `fixtures/make_fixtures.py`.

use candle_core::{DType, Device, Tensor};
use hiercog_nn::preprocess::{decode_rgb, resize_and_center_crop};
use hiercog_nn::{model_spec, Arch, Backbone, Checkpoint, ModelSpec, Preprocess};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const PHOTOS: [&str; 4] = [
    "chelsea.png",
    "coffee.png",
    "rocket.jpg",
    "motorcycle_left.png",
];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn reference() -> &'static HashMap<String, Tensor> {
    static REF: OnceLock<HashMap<String, Tensor>> = OnceLock::new();
    REF.get_or_init(|| {
        candle_core::safetensors::load(fixture("reference.safetensors"), &Device::Cpu).unwrap()
    })
}

fn r(key: &str) -> &'static Tensor {
    reference()
        .get(key)
        .unwrap_or_else(|| panic!("reference has no {key}"))
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

fn cosines(a: &Tensor, b: &Tensor) -> Vec<f32> {
    let a = a.to_vec2::<f32>().unwrap();
    let b = b.to_vec2::<f32>().unwrap();
    a.iter()
        .zip(&b)
        .map(|(x, y)| {
            let dot: f64 = x.iter().zip(y).map(|(p, q)| *p as f64 * *q as f64).sum();
            let nx: f64 = x.iter().map(|p| (*p as f64).powi(2)).sum::<f64>().sqrt();
            let ny: f64 = y.iter().map(|q| (*q as f64).powi(2)).sum::<f64>().sqrt();
            (dot / (nx * ny)) as f32
        })
        .collect()
}

/// The reduced-width EfficientNet-Lite of the fixtures (width 0.25, 64 px).
fn tiny_lite_spec() -> ModelSpec {
    let mut spec = model_spec("efficientnet-lite0").unwrap();
    spec.arch = Arch::EfficientNetLite(hiercog_nn::models::efficientnet::EfficientNetLiteConfig {
        width: 0.25,
        depth: 1.0,
        image_size: 64,
    });
    spec.preprocess = Preprocess::tf_lite(64, 64);
    spec
}

/// The reduced-width Lite of the fixtures, from its legacy `.pth`.
fn tiny_lite() -> Backbone {
    Backbone::load(
        tiny_lite_spec(),
        &fixture("tiny_lite.pth"),
        None,
        &Device::Cpu,
    )
    .unwrap()
}

fn tiny_vit_spec() -> ModelSpec {
    let mut spec = model_spec("deit-tiny").unwrap();
    spec.arch = Arch::Vit { heads: 3 };
    spec.feature_dim = 48;
    spec
}

fn check_outputs(model: &Backbone, prefix: &str) {
    check_outputs_of(
        &model.forward(r(&format!("{prefix}.input"))).unwrap(),
        prefix,
    );
}

/// Max abs difference ≤ 1e-4 on features and logits (ResNet features reach ≈25 here).
fn check_outputs_of(out: &hiercog_nn::Output, prefix: &str) {
    let df = max_abs_diff(&out.features, r(&format!("{prefix}.features")));
    let dl = max_abs_diff(out.logits.as_ref().unwrap(), r(&format!("{prefix}.logits")));
    println!("{prefix}: max |Δfeatures| = {df:.2e}, max |Δlogits| = {dl:.2e}");
    assert!(df <= 1e-4, "{prefix} features differ by {df}");
    assert!(dl <= 1e-4, "{prefix} logits differ by {dl}");
}

#[test]
fn efficientnet_lite_from_legacy_pth_matches_pytorch() {
    let model = tiny_lite();
    check_outputs(&model, "lite");
}

/// A batch bigger than the CPU sub-batch goes through the network in parts: same features.
#[test]
fn batches_split_into_cpu_sub_batches_match_pytorch() {
    let x = r("lite.input");
    let n = x.dim(0).unwrap();
    let copies = hiercog_nn::CPU_SUB_BATCH / n + 2;
    let big = Tensor::cat(&vec![x; copies], 0).unwrap();
    let out = tiny_lite().forward(&big).unwrap();
    let want = Tensor::cat(&vec![r("lite.features"); copies], 0).unwrap();
    let df = max_abs_diff(&out.features, &want);
    assert!(
        df <= 1e-4,
        "features of a {}-image batch differ by {df}",
        copies * n
    );
}

#[test]
fn vit_from_wrapped_zip_pth_matches_pytorch() {
    let model = Backbone::load(
        tiny_vit_spec(),
        &fixture("tiny_vit.pth"),
        None,
        &Device::Cpu,
    )
    .unwrap();
    check_outputs(&model, "vit");
}

#[test]
fn vit_from_safetensors_matches_pytorch() {
    let model = Backbone::load(
        tiny_vit_spec(),
        &fixture("tiny_vit.safetensors"),
        None,
        &Device::Cpu,
    )
    .unwrap();
    check_outputs(&model, "vit");
}

/// splitmix64-derived weights, the same formula as `formula_tensor` in make_fixtures.py.
fn formula_tensor(index: u64, name: &str, shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let u: Vec<f32> = (0..n as u64)
        .map(|i| {
            let mut z = (index << 32)
                .wrapping_add(i)
                .wrapping_add(0x9E3779B97F4A7C15);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
            z ^= z >> 31;
            ((z >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect();
    let leaf = name.rsplit('.').next().unwrap();
    let v: Vec<f32> = match (shape.len(), leaf) {
        (4, _) => {
            let s = (3.0 / (shape[1] * shape[2] * shape[3]) as f64).sqrt() as f32;
            u.iter().map(|x| x * s).collect()
        }
        (2, _) => {
            let s = (3.0 / shape[1] as f64).sqrt() as f32;
            u.iter().map(|x| x * s).collect()
        }
        (_, "running_var") => u.iter().map(|x| 0.75 + 0.25 * x).collect(),
        (_, "running_mean") => u.iter().map(|x| 0.1 * x).collect(),
        (_, "weight") => u.iter().map(|x| 1.0 + 0.1 * x).collect(),
        _ => u.iter().map(|x| 0.1 * x).collect(),
    };
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

#[test]
fn resnet50_with_formula_weights_matches_torchvision() {
    let keys: Vec<(String, Vec<usize>)> =
        serde_json::from_str(&std::fs::read_to_string(fixture("resnet50_keys.json")).unwrap())
            .unwrap();
    assert_eq!(
        keys.len(),
        267,
        "torchvision resnet50 has 267 tensors besides BN counters"
    );
    let tensors = keys
        .iter()
        .enumerate()
        .map(|(i, (k, s))| (k.clone(), formula_tensor(i as u64, k, s)))
        .collect();
    let w = Checkpoint::from_tensors("resnet50 (formula)", tensors);
    let model =
        Backbone::from_checkpoint(model_spec("resnet50").unwrap(), &w, None, &Device::Cpu).unwrap();
    let out = model.forward(r("resnet.input")).unwrap();
    check_outputs_of(&out, "resnet");
}

#[test]
fn missing_and_unexpected_keys_are_listed() {
    // The ViT checkpoint does not fit a ResNet: the error names keys on both sides.
    let err = Backbone::load(
        model_spec("resnet50").unwrap(),
        &fixture("tiny_vit.safetensors"),
        None,
        &Device::Cpu,
    )
    .err()
    .expect("must not load");
    let msg = err.to_string();
    assert!(
        msg.contains("missing")
            && msg.contains("conv1.weight")
            && msg.contains("blocks.0.attn.proj.bias"),
        "{msg}"
    );
}

/// Resize + crop are Pillow-exact on PNGs; the JPEG differs only by decoder rounding.
#[test]
fn resize_and_crop_match_pillow() {
    for (size, key) in [(224u32, "crop224"), (64, "crop64")] {
        let want = r(key).to_dtype(DType::F32).unwrap();
        for (i, name) in PHOTOS.iter().enumerate() {
            let img = decode_rgb(&fixture(&format!("images/{name}"))).unwrap();
            let crop = resize_and_center_crop(&img, size, size);
            let got = Tensor::from_vec(
                crop.into_raw(),
                (size as usize, size as usize, 3),
                &Device::Cpu,
            )
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap();
            let w = want.get(i).unwrap();
            let d = max_abs_diff(&got, &w);
            let mean = (&got - &w)
                .unwrap()
                .abs()
                .unwrap()
                .mean_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            println!("{name} @ {size}: max |Δpixel| = {d}, mean = {mean:.4}");
            if name.ends_with(".png") {
                assert_eq!(d, 0.0, "{name}: PNG resize must be Pillow-exact");
            } else {
                assert!(mean < 1.0, "{name}: JPEG decode differs too much ({mean})");
            }
        }
    }
}

/// Decode → resize → crop → normalize → tiny Lite, against the torchvision pipeline.
#[test]
fn full_pipeline_cosine_with_pytorch() {
    let model = tiny_lite();
    let images: Vec<Vec<f32>> = PHOTOS
        .iter()
        .map(|n| {
            model
                .preprocess()
                .load(&fixture(&format!("images/{n}")))
                .unwrap()
        })
        .collect();
    let out = model.forward_images(&images).unwrap();
    let cos = cosines(&out.features, r("lite.photos.features"));
    println!("tiny lite full pipeline cosines: {cos:?}");
    assert!(cos.iter().all(|&c| c >= 0.999), "{cos:?}");
}

/// The real EfficientNet-Lite0 weights, which scripts/fetch-default-model.sh installs (CI's
/// scripts/test.sh runs it first): without them the real-weight tests fail, saying so.
fn real_lite0() -> Backbone {
    let path = hiercog_nn::cache::default_weights_path();
    assert!(
        path.is_file(),
        "{} is missing: run scripts/fetch-default-model.sh",
        path.display()
    );
    Backbone::load(
        model_spec("efficientnet-lite0").unwrap(),
        &path,
        None,
        &Device::Cpu,
    )
    .unwrap()
}

#[test]
fn real_lite0_predicts_the_photos() {
    let model = real_lite0();
    let images: Vec<Vec<f32>> = PHOTOS
        .iter()
        .map(|n| {
            model
                .preprocess()
                .load(&fixture(&format!("images/{n}")))
                .unwrap()
        })
        .collect();
    let out = model.forward_images(&images).unwrap();
    let logits = out.logits.unwrap().to_vec2::<f32>().unwrap();
    // ImageNet-1K indices: 285 Egyptian cat (281 tabby, 282 tiger cat), 967 espresso,
    // 657 missile (744 projectile), 665 moped.
    let expected: [&[usize]; 4] = [&[285, 281, 282], &[967], &[657, 744], &[665]];
    for ((name, row), ok) in PHOTOS.iter().zip(&logits).zip(expected) {
        let top = hiercog_nn::imagenet::top_k(row, 5);
        println!("{name}: {top:?}");
        assert!(
            ok.contains(&top[0].0),
            "{name}: top-1 {} not in {ok:?}",
            top[0].0
        );
    }
    let cos = cosines(&out.features, r("lite0.photos.features"));
    println!("real lite0 full pipeline cosines: {cos:?}");
    assert!(cos.iter().all(|&c| c >= 0.999), "{cos:?}");
    let torch_top1: Vec<usize> = r("lite0.photos.logits")
        .to_vec2::<f32>()
        .unwrap()
        .iter()
        .map(|row| hiercog_nn::imagenet::top_k(row, 1)[0].0)
        .collect();
    let ours: Vec<usize> = logits
        .iter()
        .map(|row| hiercog_nn::imagenet::top_k(row, 1)[0].0)
        .collect();
    assert_eq!(ours, torch_top1);
}

#[test]
fn real_lite0_on_identical_tensors_matches_pytorch() {
    let model = real_lite0();
    // Same preprocessed input as PyTorch: normalize Pillow's crops (kept as uint8).
    let crops = r("crop224").to_dtype(DType::F32).unwrap();
    let x = ((crops.permute((0, 3, 1, 2)).unwrap() - 127.0).unwrap() / 128.0).unwrap();
    let out = model.forward(&x).unwrap();
    let df = max_abs_diff(&out.features, r("lite0.photos.features"));
    println!("real lite0 on Pillow crops: max |Δfeatures| = {df:.2e}");
    // The JPEG photo's crop equals Pillow's, so all four rows are identical inputs.
    assert!(df <= 1e-4, "{df}");
}
