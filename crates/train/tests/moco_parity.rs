//! MoCo-v2's InfoNCE, MoCHi and MoCHi-LCA's drop against PyTorch, and MoCo-v2's photometric ops
//! against torchvision (`fixtures/make_moco_fixtures.py`): same inputs, same mixing draws; the
//! hardest negatives equal, loss and gradients within 1e-5, colour ops within 1e-5.
//! `cargo test --release -p hiercog-train --test moco_parity -- --nocapture` prints the
//! largest differences.

use candle_core::{DType, Device, Tensor, Var};
use hiercog_train::color::{ColorOp, FloatImage};
use hiercog_train::moco::{
    hardest_negatives, l2_normalize, moco_logits, same_class_mask, MixingPlan,
};
use hiercog_train::{InfoNce, Objective};
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("{path}: {e}; run `python3 crates/train/tests/fixtures/make_moco_fixtures.py`")
    });
    serde_json::from_str(&text).unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().map_or(f32::NEG_INFINITY, |f| f as f32))
        .collect()
}

fn ints(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            if x.is_infinite() || y.is_infinite() {
                assert_eq!(x, y);
                0.0
            } else {
                (x - y).abs()
            }
        })
        .fold(0f32, f32::max)
}

#[test]
fn info_nce_and_mochi_match_pytorch() {
    let f = fixture("moco.json");
    let dev = Device::Cpu;
    for case in f["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let u = |k: &str| case[k].as_u64().unwrap() as usize;
        let (b, d, kq) = (u("batch"), u("dim"), u("queue_size"));
        let x =
            Var::from_tensor(&Tensor::from_vec(floats(&case["x"]), (b, d), &dev).unwrap()).unwrap();
        let k = Tensor::from_vec(floats(&case["k"]), (b, d), &dev).unwrap();
        let queue = Tensor::from_vec(floats(&case["queue"]), (kq, d), &dev).unwrap();
        let q = l2_normalize(x.as_tensor()).unwrap();
        let mask = case["drop"].as_bool().unwrap().then(|| {
            same_class_mask(
                &ints(&case["query_labels"]),
                &ints(&case["queue_labels"]),
                &dev,
            )
            .unwrap()
        });
        let mut plan = None;
        let mut hardest = None;
        if let Some(m) = case.get("mochi") {
            let m = ints(m);
            let (n, s, s2) = (m[0] as usize, m[1] as usize, m[2] as usize);
            let mut l_neg = q.matmul(&queue.t().unwrap()).unwrap();
            if let Some(mask) = &mask {
                l_neg = (l_neg + mask).unwrap();
            }
            let h = hardest_negatives(&l_neg, n).unwrap();
            assert_eq!(
                h.flatten_all().unwrap().to_vec1::<u32>().unwrap(),
                ints(&case["hardest"]),
                "{name}: the N hardest"
            );
            hardest = Some(h);
            plan = Some(MixingPlan {
                batch: b,
                pair_mixes: s,
                query_mixes: s2,
                alpha: floats(&case["alpha"]),
                first: ints(&case["first"]),
                second: ints(&case["second"]),
                beta: floats(&case["beta"]),
                partner: ints(&case["partner"]),
            });
        }
        let tau = case["tau"].as_f64().unwrap();
        let logits = moco_logits(
            &q,
            &k,
            &queue,
            tau,
            mask.as_ref(),
            hardest.as_ref().zip(plan.as_ref()),
        )
        .unwrap();
        let dl = max_diff(
            &logits.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            &floats(&case["logits"]),
        );
        let loss = InfoNce::new()
            .loss(&logits, &Tensor::zeros(b, DType::U32, &dev).unwrap())
            .unwrap();
        let value = loss.to_scalar::<f32>().unwrap();
        let want = case["loss"].as_f64().unwrap() as f32;
        let grads = loss.backward().unwrap();
        let g = grads
            .get(x.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let dg = max_diff(&g, &floats(&case["grad_x"]));
        println!(
            "{name}: logits {} wide, loss {value:.6} vs torch {want:.6} (|Δ| {:.1e}), \
             max |Δ logit| {dl:.1e}, max |Δ grad| {dg:.1e}",
            logits.dim(1).unwrap(),
            (value - want).abs()
        );
        assert!(
            (value - want).abs() < 1e-5,
            "{name}: loss {value} vs {want}"
        );
        assert!(dl < 1e-5, "{name}: logits differ by {dl}");
        assert!(dg < 1e-5, "{name}: gradients differ by {dg}");
    }
}

fn op(v: &Value) -> ColorOp {
    let name = v[0].as_str().unwrap();
    match name {
        "brightness" => ColorOp::Brightness(v[1].as_f64().unwrap()),
        "contrast" => ColorOp::Contrast(v[1].as_f64().unwrap()),
        "saturation" => ColorOp::Saturation(v[1].as_f64().unwrap()),
        "hue" => ColorOp::Hue(v[1].as_f64().unwrap()),
        "grayscale" => ColorOp::Grayscale,
        "blur" => ColorOp::Blur {
            kernel_size: v[1][0].as_u64().unwrap() as usize,
            sigma: v[1][1].as_f64().unwrap(),
        },
        other => panic!("unknown op {other}"),
    }
}

#[test]
fn color_ops_match_torchvision() {
    let f = fixture("color.json");
    let images: Vec<image::RgbImage> = f["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|im| {
            let (h, w) = (im["h"].as_u64().unwrap(), im["w"].as_u64().unwrap());
            let chw = ints(&im["chw"]);
            let plane = (h * w) as usize;
            image::RgbImage::from_fn(w as u32, h as u32, |x, y| {
                let i = (y as u64 * w + x as u64) as usize;
                image::Rgb(std::array::from_fn(|c| chw[c * plane + i] as u8))
            })
        })
        .collect();
    let (mut worst, mut u8_off, mut values) = (0f32, 0usize, 0usize);
    for case in f["cases"].as_array().unwrap() {
        let img = &images[case["image"].as_u64().unwrap() as usize];
        let ops: Vec<ColorOp> = case["ops"].as_array().unwrap().iter().map(op).collect();
        let mut x = FloatImage::from_rgb(img);
        for o in &ops {
            o.apply(&mut x);
        }
        let d = max_diff(&x.data, &floats(&case["float"]));
        assert!(d < 1e-5, "{ops:?}: differs from torchvision by {d}");
        worst = worst.max(d);
        // The 8-bit result: identical but where a value sits within float noise of a level.
        let ours = x.to_rgb();
        let want = ints(&case["u8"]);
        let plane = (img.width() * img.height()) as usize;
        for (i, px) in ours.pixels().enumerate() {
            for c in 0..3 {
                let (a, b) = (px.0[c] as i32, want[c * plane + i] as i32);
                assert!((a - b).abs() <= 1, "{ops:?}: u8 {a} vs {b}");
                u8_off += (a != b) as usize;
                values += 1;
            }
        }
    }
    println!(
        "colour ops: {} cases, max |Δ| {worst:.1e} on [0, 1]; 8-bit values off by one: {u8_off} of {values}",
        f["cases"].as_array().unwrap().len()
    );
    assert!(
        u8_off * 1000 <= values,
        "{u8_off} of {values} 8-bit values differ"
    );
}
