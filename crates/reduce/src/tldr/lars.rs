//! LARS (You et al. 2017) as Barlow Twins and the TLDR reference implement it, and the
//! reference's learning-rate schedule.
//!
//! For each parameter p with gradient g: unless p is a vector (a bias or a normalisation
//! weight, excluded from both), g ← g + wd·p and g ← g · η‖p‖/‖g‖ (1 when either norm is 0);
//! then μ ← m·μ + g and p ← p − lr·μ.

use candle_core::{backprop::GradStore, Tensor, Var};

use crate::error::Result;

/// LARS with its momentum buffers (one per parameter, created at its first update).
pub struct Lars {
    momentum: f64,
    eta: f64,
    weight_decay: f64,
    buffers: Vec<Option<Tensor>>,
}

impl Lars {
    /// An optimizer for `count` parameters.
    pub fn new(count: usize, momentum: f64, eta: f64, weight_decay: f64) -> Lars {
        Lars {
            momentum,
            eta,
            weight_decay,
            buffers: vec![None; count],
        }
    }

    /// One update of `params` (the same parameters, in the same order, at every call) with
    /// their gradients in `grads` at learning rate `lr`; a parameter without gradient is left
    /// alone.
    pub fn step(&mut self, params: &[&Var], grads: &GradStore, lr: f64) -> Result<()> {
        for (p, buffer) in params.iter().zip(&mut self.buffers) {
            let Some(g) = grads.get(p.as_tensor()) else {
                continue;
            };
            let w = p.as_tensor();
            let mut dp = g.clone();
            if w.rank() != 1 {
                dp = (dp + (w * self.weight_decay)?)?;
                let wn = w.sqr()?.sum_all()?.sqrt()?.to_scalar::<f32>()? as f64;
                let gn = dp.sqr()?.sum_all()?.sqrt()?.to_scalar::<f32>()? as f64;
                if wn > 0.0 && gn > 0.0 {
                    dp = (dp * (self.eta * wn / gn))?;
                }
            }
            let mu = match buffer.take() {
                Some(mu) => ((mu * self.momentum)? + dp)?,
                None => dp,
            };
            p.set(&(w - (&mu * lr)?)?)?;
            *buffer = Some(mu);
        }
        Ok(())
    }

    /// The momentum buffers (for checkpoints); `None` before a parameter's first update.
    pub(crate) fn buffers(&self) -> &[Option<Tensor>] {
        &self.buffers
    }

    /// Restores momentum buffers saved by [`Lars::buffers`].
    pub(crate) fn set_buffers(&mut self, buffers: Vec<Option<Tensor>>) {
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
