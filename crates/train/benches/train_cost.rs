//! What whole-backbone training costs on this machine: forward + backward of a ResNet, and of one
//! 3×3 convolution, timed with candle. `benches/compare_pytorch.py` times the same shapes in
//! PyTorch; `benches/run_compare.sh` runs both back to back and prints the ratios.
//!
//! `cargo bench -p hiercog-train --bench train_cost -- WIDTH SIZE BATCH ITERS` (default 16 64 64
//! 5) prints one JSON line per measurement; `-- epoch N [WIDTH]` instead times one real training
//! epoch of `TrainConfig::small_resnet()` (64 px) on N rendered 224×224 PNGs: decoding,
//! augmentation on the loader threads, forward, backward, SGD, checkpoint.

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

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let width: usize = args
        .first()
        .map(|a| {
            a.trim_start_matches("resnet18-w")
                .parse()
                .expect("resnet18-wN")
        })
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
