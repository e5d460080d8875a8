//! LARS (You et al. 2017) as Barlow Twins and the TLDR reference implement it, and the
//! reference's learning-rate schedule.
//!
//! For each parameter p with gradient g: unless p is a vector (a bias or a normalisation
//! weight, excluded from both), g ← g + wd·p and g ← g · η‖p‖/‖g‖ (1 when either norm is 0);
//! then μ ← m·μ + g and p ← p − lr·μ.

use super::net::Param;

/// LARS with its momentum buffers (one per parameter, created at its first update).
pub(crate) struct Lars {
    momentum: f64,
    eta: f64,
    weight_decay: f64,
    buffers: Vec<Option<Vec<f32>>>,
}

/// √Σv² in f64.
fn norm(v: &[f32]) -> f64 {
    v.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt()
}

impl Lars {
    /// An optimizer without momentum yet.
    pub(crate) fn new(momentum: f64, eta: f64, weight_decay: f64) -> Lars {
        Lars {
            momentum,
            eta,
            weight_decay,
            buffers: Vec::new(),
        }
    }

    /// One update of `params` (the same parameters, in the same order, at every call) from their
    /// gradients at learning rate `lr`; the gradients are consumed (used as scratch).
    pub(crate) fn step(&mut self, params: Vec<&mut Param>, lr: f64) {
        if self.buffers.len() < params.len() {
            self.buffers.resize(params.len(), None);
        }
        for (p, buffer) in params.into_iter().zip(&mut self.buffers) {
            let dp = &mut p.grad;
            if p.shape.len() != 1 {
                let wd = self.weight_decay as f32;
                dp.iter_mut().zip(&p.value).for_each(|(g, w)| *g += wd * w);
                let (wn, gn) = (norm(&p.value), norm(dp));
                if wn > 0.0 && gn > 0.0 {
                    let q = (self.eta * wn / gn) as f32;
                    dp.iter_mut().for_each(|g| *g *= q);
                }
            }
            let mu = match buffer {
                Some(mu) => {
                    let m = self.momentum as f32;
                    mu.iter_mut()
                        .zip(dp.iter())
                        .for_each(|(u, g)| *u = m * *u + g);
                    mu
                }
                None => buffer.insert(dp.clone()),
            };
            let lr = lr as f32;
            p.value
                .iter_mut()
                .zip(mu.iter())
                .for_each(|(w, u)| *w -= lr * u);
        }
    }

    /// The momentum buffers (for checkpoints); `None` before a parameter's first update.
    pub(crate) fn buffers(&self) -> &[Option<Vec<f32>>] {
        &self.buffers
    }

    /// Restores momentum buffers saved by [`Lars::buffers`].
    pub(crate) fn set_buffers(&mut self, buffers: Vec<Option<Vec<f32>>>) {
        self.buffers = buffers;
    }
}

/// The reference's `adjust_learning_rate` at `step` (counted from 1): base = lr·batch/256,
/// linear warm-up over `warmup_epochs·n/batch` steps, then a cosine from base down to
/// base/1000 at `epochs·n/batch` steps (integer divisions as in the reference).
pub fn learning_rate(
    step: usize,
    epochs: usize,
    rows: usize,
    batch: usize,
    learning_rate: f64,
    warmup_epochs: usize,
) -> f64 {
    let max_steps = epochs * rows / batch;
    let warmup_steps = warmup_epochs * rows / batch;
    let base = learning_rate * batch as f64 / 256.0;
    if step < warmup_steps {
        base * step as f64 / warmup_steps as f64
    } else {
        let q = 0.5
            * (1.0
                + (std::f64::consts::PI * (step - warmup_steps) as f64
                    / (max_steps - warmup_steps).max(1) as f64)
                    .cos());
        base * q + base * 0.001 * (1.0 - q)
    }
}
