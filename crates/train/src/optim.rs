//! Optimizers with PyTorch's update rules, parameter groups and savable state, and the cosine
//! learning-rate schedule with linear warm-up.
//!
//! candle-nn's `SGD` has no momentum and its `AdamW` applies one weight decay to every variable
//! and cannot save its moments; these two implement `candle_nn::Optimizer` and add both. Updates
//! are candle tensor ops, so they run on the parameters' device. Formulas (checked against
//! `torch.optim` by `tests/fixtures/make_fixtures.py`):
//!
//! * SGD (`torch.optim.SGD`, dampening 0): `g ← ∇ + λ·θ`; `b ← μ·b + g` (b₀ = g);
//!   `θ ← θ − lr·(nesterov ? g + μ·b : b)`.
//! * AdamW (`torch.optim.AdamW`): `θ ← θ·(1 − lr·λ)`; `m ← β₁m + (1−β₁)∇`; `v ← β₂v + (1−β₂)∇²`;
//!   `θ ← θ − lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε)`.

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, Var};
use candle_nn::VarMap;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A variable to optimise, its name (for saving state) and its weight decay.
#[derive(Debug, Clone)]
pub struct Param {
    /// The variable's name in the model's `VarMap`; optimizer state is saved under it.
    pub name: String,
    /// The variable itself.
    pub var: Var,
    /// Its decoupled weight decay (0 for biases and normalisation unless asked).
    pub weight_decay: f64,
}

/// The trainable variables of `vars` whose names start with one of `prefixes`, sorted by name
/// (BatchNorm running statistics excluded: they are not learned). Weight decay `weight_decay`
/// applies to every one, or, with `decay_norm_and_bias == false`, only to tensors of rank ≥ 2
/// (biases and normalisation scales/shifts get none — the usual rule, e.g. timm's).
pub fn params(
    vars: &VarMap,
    prefixes: &[&str],
    weight_decay: f64,
    decay_norm_and_bias: bool,
) -> Vec<Param> {
    let map = vars.data().lock().expect("var map lock poisoned");
    let mut out: Vec<Param> = map
        .iter()
        .filter(|(k, _)| prefixes.iter().any(|p| k.starts_with(p)))
        .filter(|(k, _)| !k.ends_with("running_mean") && !k.ends_with("running_var"))
        .map(|(k, v)| Param {
            name: k.clone(),
            var: v.clone(),
            weight_decay: if decay_norm_and_bias || v.rank() >= 2 {
                weight_decay
            } else {
                0.0
            },
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Which optimizer, with its hyper-parameters (the learning rate comes from the schedule).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum OptimizerConfig {
    /// SGD with momentum (`torch.optim.SGD`, dampening 0).
    Sgd {
        /// Momentum factor (0.9 in the presets).
        momentum: f64,
        /// Nesterov's variant of the momentum update.
        nesterov: bool,
    },
    /// AdamW (`torch.optim.AdamW`, no AMSGrad).
    #[serde(rename = "adamw")]
    AdamW {
        /// Decay of the first-moment (mean) estimate.
        beta1: f64,
        /// Decay of the second-moment (uncentred variance) estimate.
        beta2: f64,
        /// Added to the denominator for numerical stability.
        eps: f64,
    },
}

/// SGD with momentum and per-parameter weight decay.
pub struct Sgd {
    params: Vec<Param>,
    momentum: Vec<Option<Var>>,
    lr: f64,
    mu: f64,
    nesterov: bool,
}

/// [`Sgd`]'s settings for `candle_nn::Optimizer::new` (one weight decay for all variables).
#[derive(Debug, Clone, Copy)]
pub struct SgdConfig {
    /// Learning rate until `set_learning_rate` changes it.
    pub lr: f64,
    /// Momentum factor.
    pub momentum: f64,
    /// Nesterov's variant of the momentum update.
    pub nesterov: bool,
    /// Weight decay of every variable.
    pub weight_decay: f64,
}

impl Sgd {
    /// SGD over named parameters with their own weight decays.
    pub fn with_params(params: Vec<Param>, lr: f64, momentum: f64, nesterov: bool) -> Self {
        let n = params.len();
        Sgd {
            params,
            momentum: vec![None; n],
            lr,
            mu: momentum,
            nesterov,
        }
    }
}

impl candle_nn::Optimizer for Sgd {
    type Config = SgdConfig;

    fn new(vars: Vec<Var>, c: SgdConfig) -> Result<Self> {
        let params = unnamed(vars, c.weight_decay);
        Ok(Sgd::with_params(params, c.lr, c.momentum, c.nesterov))
    }

    fn step(&mut self, grads: &GradStore) -> Result<()> {
        for (p, buf) in self.params.iter().zip(self.momentum.iter_mut()) {
            let Some(grad) = grads.get(p.var.as_tensor()) else {
                continue;
            };
            let theta = p.var.as_tensor();
            let mut g = if p.weight_decay != 0.0 {
                (grad + (theta * p.weight_decay)?)?
            } else {
                grad.clone()
            };
            if self.mu != 0.0 {
                let b = match buf {
                    None => {
                        let v = Var::from_tensor(&g.copy()?)?;
                        *buf = Some(v.clone());
                        v
                    }
                    Some(b) => {
                        b.set(&((b.as_tensor() * self.mu)? + &g)?)?;
                        b.clone()
                    }
                };
                g = if self.nesterov {
                    (g + (b.as_tensor() * self.mu)?)?
                } else {
                    b.as_tensor().clone()
                };
            }
            p.var.set(&(theta - (g * self.lr)?)?)?;
        }
        Ok(())
    }

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.lr = lr
    }
}

/// AdamW with per-parameter weight decay (decoupled, as `torch.optim.AdamW`).
pub struct AdamW {
    params: Vec<Param>,
    moments: Vec<Option<(Var, Var)>>,
    steps: u64,
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
}

/// [`AdamW`]'s settings for `candle_nn::Optimizer::new` (one weight decay for all variables).
#[derive(Debug, Clone, Copy)]
pub struct AdamWConfig {
    /// Learning rate until `set_learning_rate` changes it.
    pub lr: f64,
    /// Decay of the first-moment estimate.
    pub beta1: f64,
    /// Decay of the second-moment estimate.
    pub beta2: f64,
    /// Added to the denominator for numerical stability.
    pub eps: f64,
    /// Decoupled weight decay of every variable.
    pub weight_decay: f64,
}

impl AdamW {
    /// AdamW over named parameters with their own weight decays.
    pub fn with_params(params: Vec<Param>, lr: f64, beta1: f64, beta2: f64, eps: f64) -> Self {
        let n = params.len();
        AdamW {
            params,
            moments: vec![None; n],
            steps: 0,
            lr,
            beta1,
            beta2,
            eps,
        }
    }
}

impl candle_nn::Optimizer for AdamW {
    type Config = AdamWConfig;

    fn new(vars: Vec<Var>, c: AdamWConfig) -> Result<Self> {
        let params = unnamed(vars, c.weight_decay);
        Ok(AdamW::with_params(params, c.lr, c.beta1, c.beta2, c.eps))
    }

    fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.steps += 1;
        let t = self.steps as i32;
        let bc1 = 1.0 - self.beta1.powi(t);
        let bc2_sqrt = (1.0 - self.beta2.powi(t)).sqrt();
        for (p, mv) in self.params.iter().zip(self.moments.iter_mut()) {
            let Some(g) = grads.get(p.var.as_tensor()) else {
                continue;
            };
            let (m, v) = match mv {
                Some(mv) => mv.clone(),
                None => {
                    let z = || Var::zeros(g.shape(), g.dtype(), g.device());
                    *mv = Some((z()?, z()?));
                    mv.clone().expect("just set")
                }
            };
            let theta = p.var.as_tensor();
            let theta = if p.weight_decay != 0.0 {
                (theta * (1.0 - self.lr * p.weight_decay))?
            } else {
                theta.clone()
            };
            m.set(&((m.as_tensor() * self.beta1)? + (g * (1.0 - self.beta1))?)?)?;
            v.set(&((v.as_tensor() * self.beta2)? + (g.sqr()? * (1.0 - self.beta2))?)?)?;
            let denom = ((v.as_tensor().sqrt()? / bc2_sqrt)? + self.eps)?;
            let update = ((m.as_tensor() / denom)? * (self.lr / bc1))?;
            p.var.set(&(theta - update)?)?;
        }
        Ok(())
    }

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.lr = lr
    }
}

fn unnamed(vars: Vec<Var>, weight_decay: f64) -> Vec<Param> {
    vars.into_iter()
        .filter(|v| v.dtype().is_float())
        .enumerate()
        .map(|(i, var)| Param {
            name: i.to_string(),
            var,
            weight_decay,
        })
        .collect()
}

/// The optimizer of a training run, with state that can be saved and restored.
pub enum Optimizer {
    /// SGD with momentum.
    Sgd(Sgd),
    /// AdamW.
    AdamW(AdamW),
}

impl Optimizer {
    /// The optimizer `config` over `params`, starting at learning rate `lr`.
    pub fn new(config: &OptimizerConfig, params: Vec<Param>, lr: f64) -> Self {
        match *config {
            OptimizerConfig::Sgd { momentum, nesterov } => {
                Optimizer::Sgd(Sgd::with_params(params, lr, momentum, nesterov))
            }
            OptimizerConfig::AdamW { beta1, beta2, eps } => {
                Optimizer::AdamW(AdamW::with_params(params, lr, beta1, beta2, eps))
            }
        }
    }

    /// One update from the gradients of the loss.
    pub fn step(&mut self, grads: &GradStore, lr: f64) -> Result<()> {
        use candle_nn::Optimizer as _;
        match self {
            Optimizer::Sgd(o) => {
                o.set_learning_rate(lr);
                o.step(grads)
            }
            Optimizer::AdamW(o) => {
                o.set_learning_rate(lr);
                o.step(grads)
            }
        }
    }

    /// The state as named tensors (`optim.momentum.NAME`, `optim.m.NAME`, `optim.v.NAME`,
    /// `optim.steps`), for a checkpoint.
    pub fn state(&self) -> Result<HashMap<String, Tensor>> {
        let mut out = HashMap::new();
        match self {
            Optimizer::Sgd(o) => {
                for (p, b) in o.params.iter().zip(&o.momentum) {
                    if let Some(b) = b {
                        out.insert(format!("optim.momentum.{}", p.name), b.as_tensor().clone());
                    }
                }
            }
            Optimizer::AdamW(o) => {
                for (p, mv) in o.params.iter().zip(&o.moments) {
                    if let Some((m, v)) = mv {
                        out.insert(format!("optim.m.{}", p.name), m.as_tensor().clone());
                        out.insert(format!("optim.v.{}", p.name), v.as_tensor().clone());
                    }
                }
                let dev = o.params.first().map(|p| p.var.device().clone());
                let dev = dev.unwrap_or(candle_core::Device::Cpu);
                // The step count as two exact u32 halves (safetensors has no u64 in candle).
                let steps = [(o.steps >> 32) as u32, o.steps as u32];
                out.insert("optim.steps".into(), Tensor::from_slice(&steps, 2, &dev)?);
            }
        }
        Ok(out)
    }

    /// Restores [`Optimizer::state`]'s tensors (ignoring other names in `tensors`).
    pub fn load_state(&mut self, tensors: &HashMap<String, Tensor>) -> Result<()> {
        let get = |name: String, like: &Var| -> Result<Option<Var>> {
            match tensors.get(&name) {
                None => Ok(None),
                Some(t) => {
                    if t.dims() != like.dims() {
                        candle_core::bail!(
                            "{name} has shape {:?}, the parameter {:?}",
                            t.dims(),
                            like.dims()
                        );
                    }
                    Ok(Some(Var::from_tensor(
                        &t.to_device(like.device())?.copy()?,
                    )?))
                }
            }
        };
        match self {
            Optimizer::Sgd(o) => {
                for (p, b) in o.params.iter().zip(o.momentum.iter_mut()) {
                    *b = get(format!("optim.momentum.{}", p.name), &p.var)?;
                }
            }
            Optimizer::AdamW(o) => {
                for (p, mv) in o.params.iter().zip(o.moments.iter_mut()) {
                    let m = get(format!("optim.m.{}", p.name), &p.var)?;
                    let v = get(format!("optim.v.{}", p.name), &p.var)?;
                    *mv = m.zip(v);
                }
                o.steps = match tensors.get("optim.steps") {
                    Some(t) => {
                        let s = t.to_vec1::<u32>()?;
                        ((s[0] as u64) << 32) | s[1] as u64
                    }
                    None => 0,
                };
            }
        }
        Ok(())
    }
}

/// Cosine decay to `final_lr` after a linear warm-up from `base_lr / warmup_steps`, per step:
/// `lr(t) = base·(t+1)/W` for `t < W`, then `final + (base − final)·(1 + cos(π·(t−W)/(T−W)))/2`
/// (PyTorch's `SequentialLR([LinearLR(1/W, 1, W−1), CosineAnnealingLR(T−W, final)], [W])`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CosineSchedule {
    /// Peak learning rate, reached at the end of the warm-up.
    pub base_lr: f64,
    /// Learning rate at the last step.
    pub final_lr: f64,
    /// Steps of the linear warm-up (`W`; 0 for none).
    pub warmup_steps: usize,
    /// Steps of the whole run (`T`).
    pub total_steps: usize,
}

impl CosineSchedule {
    /// The learning rate of step `t` (0-based).
    pub fn lr(&self, t: usize) -> f64 {
        let w = self.warmup_steps;
        if t < w {
            return self.base_lr * (t + 1) as f64 / w as f64;
        }
        let span = self.total_steps.saturating_sub(w).max(1) as f64;
        let progress = ((t - w) as f64 / span).min(1.0);
        self.final_lr
            + (self.base_lr - self.final_lr) * (1.0 + (std::f64::consts::PI * progress).cos()) / 2.0
    }
}
