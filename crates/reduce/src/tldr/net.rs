//! The encoder and projector of TLDR as PyTorch's `nn.Sequential` builds them in the reference:
//! linear maps, batch normalisation (ε = 1e-5, running statistics with momentum 0.1) and ReLU,
//! with PyTorch's parameter names (`encoder.0.weight`, `encoder.1.running_mean`, ...) so that
//! state dictionaries line up with the reference's checkpoints.

use std::collections::BTreeMap;

use candle_core::{DType, Device, Tensor, Var};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::spec::NetKind;
use crate::error::{Error, Result};

/// Batch normalisation's ε (PyTorch's default).
const BN_EPS: f64 = 1e-5;
/// Weight of the new batch in the running statistics (PyTorch's default momentum).
const BN_MOMENTUM: f64 = 0.1;

/// Whether batch normalisation uses the batch's statistics or the running ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Train,
    Eval,
}

/// One layer of a sequential network.
pub(crate) enum Layer {
    Linear {
        /// out × in, as PyTorch stores it.
        weight: Var,
        bias: Option<Var>,
    },
    BatchNorm {
        weight: Var,
        bias: Var,
        running_mean: Tensor,
        running_var: Tensor,
    },
    Relu,
}

/// Batch normalisation of `x` (rows = samples) with the batch's mean and biased variance; also
/// returns them for the running statistics.
pub(crate) fn batch_normalize(x: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
    let mean = x.mean_keepdim(0)?;
    let centred = x.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(0)?;
    let y = centred.broadcast_div(&(var.clone() + BN_EPS)?.sqrt()?)?;
    Ok((y, mean, var))
}

/// A uniform tensor in [−bound, bound) from `rng`.
fn uniform(rng: &mut ChaCha8Rng, shape: &[usize], bound: f64, device: &Device) -> Result<Var> {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|_| ((rng.random::<f64>() * 2.0 - 1.0) * bound) as f32)
        .collect();
    Ok(Var::from_tensor(&Tensor::from_vec(v, shape, device)?)?)
}

/// A stack of layers named `{prefix}.{index}` like an `nn.Sequential`.
pub(crate) struct Sequential {
    prefix: &'static str,
    layers: Vec<Layer>,
}

impl Sequential {
    /// Linear maps between consecutive `sizes` (PyTorch's default initialisation, from `rng`),
    /// batch normalisation (and ReLU for an MLP) between them.
    pub(crate) fn new(
        prefix: &'static str,
        sizes: &[usize],
        kind: NetKind,
        rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> Result<Sequential> {
        let mut layers = Vec::new();
        for (i, w) in sizes.windows(2).enumerate() {
            let (fan_in, out) = (w[0], w[1]);
            let bound = 1.0 / (fan_in as f64).sqrt();
            let weight = uniform(rng, &[out, fan_in], bound, device)?;
            let bias = match kind {
                NetKind::Linear => Some(uniform(rng, &[out], bound, device)?),
                NetKind::Mlp => None,
            };
            layers.push(Layer::Linear { weight, bias });
            if i + 2 < sizes.len() {
                layers.push(Layer::BatchNorm {
                    weight: Var::from_tensor(&Tensor::ones(out, DType::F32, device)?)?,
                    bias: Var::from_tensor(&Tensor::zeros(out, DType::F32, device)?)?,
                    running_mean: Tensor::zeros(out, DType::F32, device)?,
                    running_var: Tensor::ones(out, DType::F32, device)?,
                });
                if kind == NetKind::Mlp {
                    layers.push(Layer::Relu);
                }
            }
        }
        Ok(Sequential { prefix, layers })
    }

    /// Runs the layers; in [`Mode::Train`] batch normalisation uses batch statistics, and the
    /// batch mean and unbiased variance of each normalisation layer are returned.
    fn run(&self, x: &Tensor, mode: Mode) -> Result<(Tensor, Vec<(Tensor, Tensor)>)> {
        let mut h = x.clone();
        let mut stats = Vec::new();
        for layer in &self.layers {
            h = match layer {
                Layer::Linear { weight, bias } => {
                    let y = h.matmul(&weight.as_tensor().t()?)?;
                    match bias {
                        Some(b) => y.broadcast_add(b.as_tensor())?,
                        None => y,
                    }
                }
                Layer::BatchNorm {
                    weight,
                    bias,
                    running_mean,
                    running_var,
                } => {
                    let normalized = match mode {
                        Mode::Train => {
                            let (y, mean, var) = batch_normalize(&h)?;
                            let n = h.dim(0)? as f64;
                            let unbiased = var.detach().affine(n / (n - 1.0).max(1.0), 0.0)?;
                            stats.push((mean.detach().flatten_all()?, unbiased.flatten_all()?));
                            y
                        }
                        Mode::Eval => h
                            .broadcast_sub(running_mean)?
                            .broadcast_div(&(running_var.clone() + BN_EPS)?.sqrt()?)?,
                    };
                    normalized
                        .broadcast_mul(weight.as_tensor())?
                        .broadcast_add(bias.as_tensor())?
                }
                Layer::Relu => h.relu()?,
            };
        }
        Ok((h, stats))
    }

    /// Training-mode forward pass: batch statistics, running statistics updated.
    pub(crate) fn forward_train(&mut self, x: &Tensor) -> Result<Tensor> {
        let (y, stats) = self.run(x, Mode::Train)?;
        let norms = self.layers.iter_mut().filter_map(|l| match l {
            Layer::BatchNorm {
                running_mean,
                running_var,
                ..
            } => Some((running_mean, running_var)),
            _ => None,
        });
        for ((rm, rv), (mean, var)) in norms.zip(stats) {
            *rm = ((rm.clone() * (1.0 - BN_MOMENTUM))? + (mean * BN_MOMENTUM)?)?;
            *rv = ((rv.clone() * (1.0 - BN_MOMENTUM))? + (var * BN_MOMENTUM)?)?;
        }
        Ok(y)
    }

    /// Evaluation-mode forward pass: running statistics.
    pub(crate) fn forward_eval(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.run(x, Mode::Eval)?.0)
    }

    /// The trainable parameters in PyTorch's order, with their names.
    pub(crate) fn parameters(&self) -> Vec<(String, &Var)> {
        let mut out = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            let name = |p: &str| format!("{}.{i}.{p}", self.prefix);
            match layer {
                Layer::Linear { weight, bias } => {
                    out.push((name("weight"), weight));
                    if let Some(b) = bias {
                        out.push((name("bias"), b));
                    }
                }
                Layer::BatchNorm { weight, bias, .. } => {
                    out.push((name("weight"), weight));
                    out.push((name("bias"), bias));
                }
                Layer::Relu => {}
            }
        }
        out
    }

    /// Parameters and running statistics by name (PyTorch's `state_dict`, less
    /// `num_batches_tracked`).
    pub(crate) fn state(&self) -> BTreeMap<String, Tensor> {
        let mut out: BTreeMap<String, Tensor> = self
            .parameters()
            .into_iter()
            .map(|(n, v)| (n, v.as_tensor().clone()))
            .collect();
        for (i, layer) in self.layers.iter().enumerate() {
            if let Layer::BatchNorm {
                running_mean,
                running_var,
                ..
            } = layer
            {
                out.insert(
                    format!("{}.{i}.running_mean", self.prefix),
                    running_mean.clone(),
                );
                out.insert(
                    format!("{}.{i}.running_var", self.prefix),
                    running_var.clone(),
                );
            }
        }
        out
    }

    /// Sets every parameter and running statistic from `state` (same names and shapes).
    pub(crate) fn load_state(&mut self, state: &BTreeMap<String, Tensor>) -> Result<()> {
        let prefix = self.prefix;
        let get = |i: usize, p: &str, like: &Tensor| -> Result<Tensor> {
            let name = format!("{prefix}.{i}.{p}");
            let t = state.get(&name).ok_or_else(|| {
                Error::Data(format!(
                    "the weights lack `{name}`: they come from another architecture"
                ))
            })?;
            if t.dims() != like.dims() {
                return Err(Error::Data(format!(
                    "`{name}` has shape {:?} but the architecture needs {:?}",
                    t.dims(),
                    like.dims()
                )));
            }
            Ok(t.to_dtype(DType::F32)?.to_device(like.device())?)
        };
        for (i, layer) in self.layers.iter_mut().enumerate() {
            match layer {
                Layer::Linear { weight, bias } => {
                    weight.set(&get(i, "weight", weight.as_tensor())?)?;
                    if let Some(b) = bias {
                        b.set(&get(i, "bias", b.as_tensor())?)?;
                    }
                }
                Layer::BatchNorm {
                    weight,
                    bias,
                    running_mean,
                    running_var,
                } => {
                    weight.set(&get(i, "weight", weight.as_tensor())?)?;
                    bias.set(&get(i, "bias", bias.as_tensor())?)?;
                    *running_mean = get(i, "running_mean", running_mean)?;
                    *running_var = get(i, "running_var", running_var)?;
                }
                Layer::Relu => {}
            }
        }
        Ok(())
    }
}
