//! The MLP trunk trained on frozen pretrained features ("depth (a)": only the last layers learn).

use super::layers::{batch_norm, linear};
use candle_core::{Module, ModuleT, Result, Tensor};
use candle_nn::{BatchNorm, Linear, VarBuilder};
use serde::{Deserialize, Serialize};

/// The MLP's shape: `input_dim` → hidden widths, each Linear → BatchNorm → ReLU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MlpConfig {
    /// Width of the input features (the frozen backbone's).
    pub input_dim: usize,
    /// Widths of the hidden layers; the last one is the representation.
    pub hidden: Vec<usize>,
}

impl MlpConfig {
    /// Width of the representation.
    pub fn feature_dim(&self) -> usize {
        self.hidden.last().copied().unwrap_or(self.input_dim)
    }
}

/// Features `(B, input_dim)` → representation `(B, hidden.last())`.
pub struct MlpTrunk {
    layers: Vec<(Linear, BatchNorm)>,
}

impl MlpTrunk {
    /// Builds (or, from a filled `vb`, loads) the trunk; layers are named `{i}.linear`, `{i}.bn`.
    pub fn new(cfg: &MlpConfig, vb: VarBuilder) -> Result<Self> {
        let mut layers = Vec::new();
        let mut input = cfg.input_dim;
        for (i, &h) in cfg.hidden.iter().enumerate() {
            let vb = vb.pp(i.to_string());
            // No bias: the BatchNorm's shift replaces it.
            layers.push((
                linear(vb.pp("linear"), input, h, false)?,
                batch_norm(vb.pp("bn"), h)?,
            ));
            input = h;
        }
        Ok(MlpTrunk { layers })
    }

    /// The representation; `train` selects batch or running BatchNorm statistics.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let mut x = x.clone();
        for (linear, bn) in &self.layers {
            x = bn.forward_t(&linear.forward(&x)?, train)?.relu()?;
        }
        Ok(x)
    }
}
