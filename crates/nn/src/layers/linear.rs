//! Fully connected layers, and the optional classifier head of a checkpoint.

use super::Activation;
use crate::checkpoint::Weights;
use crate::error::Result;
use crate::kernels::GemmOp;
use candle_core::{Device, Tensor};

/// A fully connected layer `act(x Wᵀ + b)` over the last dimension.
pub struct Linear {
    /// `(in, out)`, contiguous, on the model's device (non-CPU path).
    weight_t: Tensor,
    /// The same, row-major on the host, for the CPU kernel.
    weight_t_host: Vec<f32>,
    bias: Tensor,
    bias_host: Vec<f32>,
    act: Activation,
}

impl Linear {
    /// From PyTorch's `(out, in)` weight and `(out)` bias (host tensors).
    pub fn new(weight: &Tensor, bias: Vec<f32>, act: Activation, device: &Device) -> Result<Self> {
        let weight_t = weight.t()?.contiguous()?;
        Ok(Linear {
            weight_t_host: weight_t.flatten_all()?.to_vec1::<f32>()?,
            weight_t: weight_t.to_device(device)?,
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
        let x = x.reshape((rows, inp))?;
        let mut out_dims = dims;
        *out_dims.last_mut().expect("rank ≥ 1") = out;
        let y = if x.device().is_cpu() {
            x.contiguous()?.apply_op1_no_bwd(&GemmOp {
                weight: &self.weight_t_host,
                bias: &self.bias_host,
                act: self.act,
            })?
        } else {
            let y = x.matmul(&self.weight_t)?;
            self.act.apply_tensor(&y.broadcast_add(&self.bias)?)?
        };
        Ok(y.reshape(out_dims)?)
    }
}
