//! What whole-backbone training costs on this machine: forward + backward of a ResNet, and of one
//! 3×3 convolution, timed with candle. `benches/compare_pytorch.py` times the same shapes in
//! PyTorch; `benches/run_compare.sh` runs both back to back and prints the ratios.
//!
//! `cargo bench -p hiercog-train --bench train_cost -- WIDTH SIZE BATCH ITERS` (default 16 64 64
//! 5) prints one JSON line per measurement; `-- epoch N [WIDTH]` instead times one real training
//! epoch of `TrainConfig::small_resnet()` (64 px) on N rendered 224×224 PNGs: decoding,
//! augmentation on the loader threads, forward, backward, SGD, checkpoint; `-- epoch-mlp N [EPOCHS]`
//! EPOCHS epochs (default 1; the last one's time is the marginal cost) of `TrainConfig::frozen_features(1280)` on N rows of 8 stored views.

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use hiercog_nn::trainable::{seeded_var_builder, Architecture, ResNetConfig, TrainableBackbone};
use std::time::Instant;

fn time<F: FnMut()>(iters: usize, mut f: F) -> f64 {
    f(); // warm-up
    let t0 = Instant::now();
    for _ in 0..iters {
        f();
    }
    t0.elapsed().as_secs_f64() / iters as f64
}

/// Trains `config` (one epoch) on `set` with cross-entropy over its classes; prints the epoch's
/// time and throughput as a JSON line.
fn time_one_epoch(set: &hiercog_train::TrainSet, config: &hiercog_train::TrainConfig) {
    use hiercog_losses::{HierarchicalLoss, LabelTree, LossSpec, TreeFromDag};
    let isa: String = set.classes.iter().map(|c| format!("root\t{c}\n")).collect();
    let tax =
        hiercog_taxonomy::Taxonomy::from_isa_str(&isa, std::path::Path::new("bench.tsv")).unwrap();
    let tree = LabelTree::from_taxonomy(&tax, &set.classes, TreeFromDag::First).unwrap();
    let spec: LossSpec = "ce".parse().unwrap();
    let loss = HierarchicalLoss::new(&spec, &tree, &Device::Cpu).unwrap();
    let run = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    let opts = hiercog_train::RunOptions::default();
    let out =
        hiercog_train::train(set, config, &loss, run.path(), &Device::Cpu, &opts, &|_| {}).unwrap();
    let secs = t0.elapsed().as_secs_f64();
    let rows = out.epochs[0].steps * config.batch_size;
    // The last epoch's own time: the marginal cost, without set-up (run key, first allocations).
    let last = out.epochs.last().expect("one epoch at least").seconds;
    println!(
        "{{\"what\":\"epoch\",\"model\":\"{}\",\"inputs\":{rows},\"batch\":{},\"epochs\":{},\"seconds\":{secs:.3},\"last_epoch_s\":{last:.3},\"inputs_per_s\":{:.1}}}",
        config.architecture.name(),
        config.batch_size,
        config.epochs,
        rows as f64 / last
    );
}

/// One epoch of the small-ResNet recipe on `n` rendered images: seconds and images/s.
fn epoch(n: usize, width: usize) {
    use hiercog_train::{TrainConfig, TrainSet};
    let data = tempfile::tempdir().unwrap();
    let classes: Vec<String> = (0..10).map(|c| format!("c{c}")).collect();
    let items: Vec<_> = (0..n)
        .map(|i| {
            let c = (i % 10) as u32;
            let img = image::RgbImage::from_fn(224, 224, |x, y| {
                let v = |k: u32| (k % 256) as u8;
                image::Rgb([v(x * 3 + c * 20), v(y * 5 + i as u32), v(c * 25)])
            });
            let p = data.path().join(format!("{i}.png"));
            img.save(&p).unwrap();
            (p, c)
        })
        .collect();
    let norm = hiercog_nn::Preprocess::imagenet(64, 64);
    let set = TrainSet::images(&items, classes.clone(), norm).unwrap();
    let config = TrainConfig {
        architecture: Architecture::ResNet(ResNetConfig::resnet18(width)),
        epochs: 1,
        warmup_epochs: 0,
        ..TrainConfig::small_resnet()
    };
    time_one_epoch(&set, &config);
}

/// One epoch of the frozen-feature recipe (MLP 1280 → 512, 30 classes) on `n` rows of 8 stored
/// views of random 1280-d features: seconds and rows/s.
fn epoch_mlp(n: usize, epochs: usize) {
    use hiercog_train::{FeatureViews, TrainConfig, TrainSet};
    use rand::{Rng, SeedableRng};
    let (dim, classes, views) = (1280, 30, 8);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let x: Vec<f32> = (0..views * n * dim)
        .map(|_| rng.random_range(0.0..1.0))
        .collect();
    let mut v = FeatureViews::plain("random", x, views * n, dim);
    v.rows = n;
    v.groups[0].views = views;
    let names: Vec<String> = (0..classes).map(|c| format!("c{c}")).collect();
    let labels = (0..n).map(|i| (i % classes) as u32).collect();
    let set = TrainSet::views(v, labels, names.clone()).unwrap();
    let config = TrainConfig {
        epochs,
        warmup_epochs: 0,
        ..TrainConfig::frozen_features(dim)
    };
    time_one_epoch(&set, &config);
}

fn main() {
    // As the `hiercog` binary does.
    hiercog_nn::use_one_candle_elementwise_thread();
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if args.first().map(String::as_str) == Some("epoch-mlp") {
        return epoch_mlp(
            args.get(1)
                .map(|a| a.parse().expect("rows"))
                .unwrap_or(1000),
            args.get(2).map(|a| a.parse().expect("epochs")).unwrap_or(1),
        );
    }
    if args.first().map(String::as_str) == Some("epoch") {
        let n = args
            .get(1)
            .map(|a| a.parse().expect("images"))
            .unwrap_or(512);
        let width = args.get(2).map(|a| a.parse().expect("width")).unwrap_or(16);
        return epoch(n, width);
    }
    let width: usize = args
        .first()
        .map(|a| a.parse().expect("width"))
        .unwrap_or(16);
    let size: usize = args.get(1).map(|a| a.parse().expect("size")).unwrap_or(64);
    let batch: usize = args.get(2).map(|a| a.parse().expect("batch")).unwrap_or(64);
    let iters: usize = args.get(3).map(|a| a.parse().expect("iters")).unwrap_or(5);
    let dev = Device::Cpu;

    // One 3×3 convolution, the shape of a ResNet-18-w16 first-stage conv at this input size.
    let hw = size / 4;
    let x = candle_core::Var::from_tensor(
        &Tensor::randn(0f32, 1.0, (batch, width, hw, hw), &dev).unwrap(),
    )
    .unwrap();
    let w = candle_core::Var::from_tensor(
        &Tensor::randn(0f32, 0.1, (width, width, 3, 3), &dev).unwrap(),
    )
    .unwrap();
    let fwd = time(iters, || {
        x.as_tensor().conv2d(w.as_tensor(), 1, 1, 1, 1).unwrap();
    });
    let fwd_bwd = time(iters, || {
        let y = x.as_tensor().conv2d(w.as_tensor(), 1, 1, 1, 1).unwrap();
        y.sum_all().unwrap().backward().unwrap();
    });
    println!(
        "{{\"what\":\"conv3x3\",\"shape\":[{batch},{width},{hw},{hw}],\"forward_s\":{fwd:.6},\"forward_backward_s\":{fwd_bwd:.6}}}"
    );

    let vars = VarMap::new();
    let arch = Architecture::ResNet(ResNetConfig::resnet18(width));
    let net = TrainableBackbone::new(&arch, seeded_var_builder(&vars, 0, &dev)).unwrap();
    let images = Tensor::randn(0f32, 1.0, (batch, 3, size, size), &dev).unwrap();
    let fwd = time(iters, || {
        net.forward_t(&images, true).unwrap();
    });
    let fwd_bwd = time(iters, || {
        let f = net.forward_t(&images, true).unwrap();
        f.sqr().unwrap().sum_all().unwrap().backward().unwrap();
    });
    println!(
        "{{\"what\":\"{}\",\"size\":{size},\"batch\":{batch},\"forward_s\":{fwd:.6},\"forward_backward_s\":{fwd_bwd:.6},\"images_per_s\":{:.1}}}",
        arch.name(),
        batch as f64 / fwd_bwd
    );
}
