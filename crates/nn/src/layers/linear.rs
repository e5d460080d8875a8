//! Fully connected layers, and the optional classifier head of a checkpoint.

use super::Activation;
use crate::checkpoint::Weights;
use crate::error::Result;
use crate::kernels::BiasAct;
use candle_core::{Device, Tensor};

/// A fully connected layer `act(x Wᵀ + b)` over the last dimension.
pub struct Linear {
    /// `(in, out)`, contiguous.
    weight_t: Tensor,
    bias: Tensor,
    bias_host: Vec<f32>,
    act: Activation,
}

impl Linear {
    /// From PyTorch's `(out, in)` weight and `(out)` bias (host tensors).
    pub fn new(weight: &Tensor, bias: Vec<f32>, act: Activation, device: &Device) -> Result<Self> {
        Ok(Linear {
            weight_t: weight.t()?.contiguous()?.to_device(device)?,
            bias: Tensor::from_vec(bias.clone(), bias.len(), device)?,
            bias_host: bias,
            act,
        })
    }

    /// The classifier head `{prefix}.weight` / `{prefix}.bias` over `inputs` features, if the
    /// checkpoint has one: headless checkpoints give features only.
    pub fn optional_head(
        w: &Weights,
        prefix: &str,
        inputs: usize,
        device: &Device,
    ) -> Result<Option<Self>> {
        let key = format!("{prefix}.weight");
        match w.shape(&key) {
            Some(s) if s.len() == 2 => {
                let weight = w.get(&key, &[s[0], inputs])?;
                let bias = w.vec(&format!("{prefix}.bias"), s[0])?;
                Ok(Some(Linear::new(
                    &weight,
                    bias,
                    Activation::Identity,
                    device,
                )?))
            }
            _ => Ok(None),
        }
    }

    /// Applies the layer over the last dimension of `x`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let (inp, out) = self.weight_t.dims2()?;
        let rows = x.elem_count() / inp;
        let y = x.reshape((rows, inp))?.matmul(&self.weight_t)?;
        let mut out_dims = dims;
        *out_dims.last_mut().expect("rank ≥ 1") = out;
        if y.device().is_cpu() {
            y.inplace_op1(&BiasAct {
                bias: &self.bias_host,
                act: self.act,
            })?;
            Ok(y.reshape(out_dims)?)
        } else {
            let y = self.act.apply_tensor(&y.broadcast_add(&self.bias)?)?;
            Ok(y.reshape(out_dims)?)
        }
    }
}
