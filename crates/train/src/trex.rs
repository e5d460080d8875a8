//! t-ReX (Sariyildiz et al. 2023, naver/trex): supervised training that generalises like
//! self-supervised learning. On top of the trunk:
//!
//! * an expendable **projector** — L2-normalised input, hidden layers Linear → BatchNorm → GELU,
//!   a bias-free linear bottleneck — dropped after training (the trunk is the representation);
//! * a **cosine-softmax classifier**, `logits = ẑ · p̂ᵀ / τ`, whose class prototypes `p` are the
//!   means of the projected features held in a **memory** of the last `memory_size` global crops,
//!   L2-normalised; the memory is filled by an **EMA encoder** (trunk + projector, momentum
//!   `ema_momentum`, BatchNorm in training mode) from the first global crop of every batch, after
//!   the logits are computed, as in the reference. The memory starts with seeded random features
//!   and labels (the reference starts with `randn` and random labels);
//! * **multi-crop**: every global and local crop is classified ([`crate::Augmentation`]).
//!
//! Paper values ([`TrexConfig::paper`]): 3 hidden layers of 2048, bottleneck 256, τ = 0.1, memory
//! 8,192, EMA 0.999 (ResNet-50, 1 global 224 + 8 local 96 crops, 100 epochs of ≈5,000 steps).
//! The CPU default ([`TrexConfig::cpu`]) keeps τ, the input normalisation and the layer types and
//! scales the sizes to a run of a few hundred steps on ≈1,000 images of ≈30 classes: 2 hidden
//! layers of 512, bottleneck 128, memory 1,024 (≈ one epoch, ≈30 features per class, as the
//! paper's 8,192 hold ≈8 per class), EMA 0.95 (a horizon of ≈20 steps ≈ one epoch, where the
//! paper's 1,000 steps are a fifth of one of its epochs).

use crate::augment::SampleRng;
use crate::queue::{EmaCopy, FeatureQueue};
use candle_core::{DType, Device, Result, Tensor, D};
use candle_nn::{BatchNorm, Init, Linear, Module, ModuleT, VarBuilder, VarMap};
use hiercog_nn::trainable::{batch_norm, TrainableBackbone};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// t-ReX's head and memory settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrexConfig {
    /// L2-normalise the trunk's features before the projector.
    pub input_l2_norm: bool,
    /// Hidden Linear → BatchNorm → GELU layers of the projector (3 in the paper).
    pub hidden_layers: usize,
    /// Width of the hidden layers (2048 in the paper).
    pub hidden_dim: usize,
    /// Width of the bias-free linear bottleneck the classifier works in (256 in the paper).
    pub bottleneck_dim: usize,
    /// Temperature of the cosine softmax.
    pub tau: f64,
    /// Slots of the memory that gives the class prototypes.
    pub memory_size: usize,
    /// Momentum of the EMA encoder that fills the memory.
    pub ema_momentum: f64,
}

impl TrexConfig {
    /// The paper's (and naver/trex's defaults).
    pub fn paper() -> Self {
        TrexConfig {
            input_l2_norm: true,
            hidden_layers: 3,
            hidden_dim: 2048,
            bottleneck_dim: 256,
            tau: 0.1,
            memory_size: 8192,
            ema_momentum: 0.999,
        }
    }

    /// Scaled for a CPU run of a few hundred steps (see the module documentation).
    pub fn cpu() -> Self {
        TrexConfig {
            hidden_layers: 2,
            hidden_dim: 512,
            bottleneck_dim: 128,
            memory_size: 1024,
            ema_momentum: 0.95,
            ..TrexConfig::paper()
        }
    }
}

/// Rows divided by their L2 norm (at least 1e-12, as `F.normalize`).
fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    let norm = x.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?.maximum(1e-12)?;
    x.broadcast_div(&norm)
}

/// The expendable projector.
pub struct Projector {
    input_l2_norm: bool,
    hidden: Vec<(Linear, BatchNorm)>,
    bottleneck: Linear,
}

impl Projector {
    /// Built under `vb`; weights truncated-normal(0.02)-initialised as in the reference (plain
    /// normal here: at σ = 0.02 the ±2 truncation never binds), biases zero.
    pub fn new(cfg: &TrexConfig, input: usize, vb: VarBuilder) -> Result<Self> {
        let w_init = Init::Randn {
            mean: 0.0,
            stdev: 0.02,
        };
        let mut hidden = Vec::new();
        let mut d = input;
        for i in 0..cfg.hidden_layers {
            let vb = vb.pp(i.to_string());
            let w = vb
                .pp("fc")
                .get_with_hints((cfg.hidden_dim, d), "weight", w_init)?;
            let b = vb
                .pp("fc")
                .get_with_hints(cfg.hidden_dim, "bias", Init::Const(0.0))?;
            hidden.push((
                Linear::new(w, Some(b)),
                batch_norm(vb.pp("bn"), cfg.hidden_dim)?,
            ));
            d = cfg.hidden_dim;
        }
        let w = vb
            .pp("bottleneck")
            .get_with_hints((cfg.bottleneck_dim, d), "weight", w_init)?;
        Ok(Projector {
            input_l2_norm: cfg.input_l2_norm,
            hidden,
            bottleneck: Linear::new(w, None),
        })
    }

    /// The projection of trunk features (BatchNorm in training mode).
    pub fn forward(&self, features: &Tensor) -> Result<Tensor> {
        let mut x = if self.input_l2_norm {
            l2_normalize(features)?
        } else {
            features.clone()
        };
        for (fc, bn) in &self.hidden {
            x = bn.forward_t(&fc.forward(&x)?, true)?.gelu_erf()?;
        }
        self.bottleneck.forward(&x)
    }
}

/// The memory of projected global crops and their labels.
struct Memory {
    queue: FeatureQueue,
    classes: usize,
}

impl Memory {
    fn new(size: usize, dim: usize, classes: usize, seed: u64, device: &Device) -> Result<Self> {
        let mut rng = SampleRng::new("trex-memory", seed, 0, 0);
        let f: Vec<f32> = (0..size * dim)
            .map(|_| StandardNormal.sample(rng.rng()))
            .collect();
        let l: Vec<u32> = (0..size)
            .map(|_| rng.rng().random_range(0..classes as u32))
            .collect();
        Ok(Memory {
            queue: FeatureQueue {
                features: Tensor::from_vec(f, (size, dim), device)?,
                labels: Tensor::from_vec(l, size, device)?,
                ptr: 0,
            },
            classes,
        })
    }

    /// L2-normalised per-class sums of the memory's features `(classes, dim)`.
    fn prototypes(&self) -> Result<Tensor> {
        let q = &self.queue;
        let dim = q.features.dim(1)?;
        let sums = Tensor::zeros((self.classes, dim), DType::F32, q.features.device())?.index_add(
            &q.labels,
            &q.features,
            0,
        )?;
        l2_normalize(&sums)
    }
}

/// Projector, cosine classifier over memory prototypes, EMA encoder.
pub struct TrexHead {
    cfg: TrexConfig,
    projector: Projector,
    ema_backbone: TrainableBackbone,
    ema_projector: Projector,
    /// The EMA twins of every learned variable of trunk and projector.
    ema: EmaCopy,
    memory: Memory,
}

/// Variable-name prefix of the projector.
pub const PROJECTOR: &str = "projector";
const EMA: &str = "ema";
const MEMORY: &str = "trex.memory";

impl TrexHead {
    /// Builds the head for `backbone` (built under `backbone`) in `vars`, the EMA encoder as a copy
    /// of trunk and projector (`ema.*`), and the memory.
    pub fn new(
        cfg: &TrexConfig,
        backbone: &TrainableBackbone,
        classes: usize,
        vars: &VarMap,
        vb: &VarBuilder,
        seed: u64,
    ) -> Result<Self> {
        let projector = Projector::new(cfg, backbone.feature_dim(), vb.pp(PROJECTOR))?;
        let ema_backbone =
            TrainableBackbone::new(backbone.architecture(), vb.pp(EMA).pp("backbone"))?;
        let ema_projector = Projector::new(cfg, backbone.feature_dim(), vb.pp(EMA).pp(PROJECTOR))?;
        let ema = EmaCopy::new(vars, &["backbone.", "projector."], EMA)?;
        let device = vb.device();
        Ok(TrexHead {
            cfg: cfg.clone(),
            projector,
            ema_backbone,
            ema_projector,
            ema,
            memory: Memory::new(cfg.memory_size, cfg.bottleneck_dim, classes, seed, device)?,
        })
    }

    /// Prototypes of the current memory, for one step's logits.
    pub fn prototypes(&self) -> Result<Tensor> {
        self.memory.prototypes()
    }

    /// Cosine logits `ẑ·p̂ᵀ/τ` of trunk features against `prototypes`.
    pub fn logits(&self, features: &Tensor, prototypes: &Tensor) -> Result<Tensor> {
        let z = l2_normalize(&self.projector.forward(features)?)?;
        z.matmul(&prototypes.t()?)? / self.cfg.tau
    }

    /// Moves the EMA encoder towards the model, then enqueues its projections of `images` (the
    /// first global crop of each sample) with their labels.
    pub fn update_memory(&mut self, images: &Tensor, labels: &Tensor) -> Result<()> {
        self.ema.update(self.cfg.ema_momentum)?;
        let f = self.ema_backbone.forward_t(images, true)?;
        let z = self.ema_projector.forward(&f)?.detach();
        self.memory.queue.enqueue(&z, labels)
    }

    /// The memory as checkpoint tensors (`trex.memory.*`).
    pub fn state(&self) -> Result<HashMap<String, Tensor>> {
        self.memory.queue.state(MEMORY)
    }

    /// Restores [`TrexHead::state`].
    pub fn load_state(&mut self, tensors: &HashMap<String, Tensor>) -> Result<()> {
        self.memory.queue.load_state(MEMORY, tensors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hiercog_nn::trainable::{seeded_var_builder, Architecture, MlpConfig};

    #[test]
    fn memory_prototypes_are_normalised_class_means_and_the_queue_wraps() {
        let dev = Device::Cpu;
        let mut mem = Memory::new(4, 2, 3, 0, &dev).unwrap();
        let f = Tensor::new(&[[3f32, 4.0], [1.0, 0.0], [0.0, 2.0]], &dev).unwrap();
        mem.queue
            .enqueue(&f, &Tensor::new(&[0u32, 1, 1], &dev).unwrap())
            .unwrap();
        assert_eq!(mem.queue.ptr, 3);
        // Two more: only one fits before the end, then the pointer wraps.
        let g = Tensor::new(&[[0f32, 5.0], [9.0, 9.0]], &dev).unwrap();
        mem.queue
            .enqueue(&g, &Tensor::new(&[2u32, 2], &dev).unwrap())
            .unwrap();
        assert_eq!(mem.queue.ptr, 0);
        let p = mem.prototypes().unwrap().to_vec2::<f32>().unwrap();
        let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6);
        assert!(close(&p[0], &[0.6, 0.8]), "{p:?}");
        assert!(
            close(&p[1], &[1.0 / 5f32.sqrt(), 2.0 / 5f32.sqrt()]),
            "{p:?}"
        );
        assert!(close(&p[2], &[0.0, 1.0]), "{p:?}");
    }

    #[test]
    fn ema_starts_as_the_model_and_moves_towards_it() {
        let dev = Device::Cpu;
        let vars = VarMap::new();
        let vb = seeded_var_builder(&vars, 1, &dev);
        let arch = Architecture::Mlp(MlpConfig {
            input_dim: 6,
            hidden: vec![5],
        });
        let backbone = TrainableBackbone::new(&arch, vb.pp("backbone")).unwrap();
        let cfg = TrexConfig {
            memory_size: 8,
            ema_momentum: 0.5,
            ..TrexConfig::cpu()
        };
        let mut head = TrexHead::new(&cfg, &backbone, 3, &vars, &vb, 0).unwrap();
        let (model, ema) = head.ema.pairs()[0].clone();
        assert_eq!(
            model
                .as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap(),
            ema.as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        );
        let before = ema
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        model.set(&model.as_tensor().zeros_like().unwrap()).unwrap();
        let x = Tensor::randn(0f32, 1.0, (4, 6), &dev).unwrap();
        head.update_memory(&x, &Tensor::new(&[0u32, 1, 2, 0], &dev).unwrap())
            .unwrap();
        let after = ema
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        for (a, b) in after.iter().zip(before) {
            assert!((a - 0.5 * b).abs() < 1e-6);
        }
        assert_eq!(head.memory.queue.ptr, 4);
        let logits = head
            .logits(
                &backbone.forward_t(&x, true).unwrap(),
                &head.prototypes().unwrap(),
            )
            .unwrap();
        assert_eq!(logits.dims(), [4, 3]);
        // Cosine logits are bounded by 1/τ.
        let logits = logits.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let max = logits.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(max <= 10.0 + 1e-4);
    }
}
