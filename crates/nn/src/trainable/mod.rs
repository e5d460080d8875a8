//! Networks to train, on candle-nn's autograd: the representation that hiercog learns.
//!
//! * [`Architecture`] — what is trained: an [`MlpConfig`] trunk on frozen pretrained features
//!   (cheap, "the last layers") or a [`ResNetConfig`] from images (any width: narrow ones for
//!   CPUs, torchvision's ResNet-18/50 for GPUs).
//! * [`TrainableBackbone`] — the network built from a `VarBuilder`; `forward_t(x, train)` gives
//!   the representation (the pooled penultimate output, or the MLP's last hidden layer), with
//!   BatchNorm in training or evaluation mode. Heads (classifiers, projectors) are the trainer's.
//! * [`seeded_var_builder`] — seeded initialisation (same seed, same initial weights anywhere).
//! * [`TrainedBackbone`] / [`ModelCard`] — a finished representation on disk
//!   (`backbone.safetensors` + `model.json`), loaded back for feature extraction.
//!
//! Every operation is a candle tensor op, so the CPU and CUDA paths share every line but the
//! device they are given.

mod init;
mod layers;
mod mlp;
mod resnet;
mod saved;

pub use init::seeded_var_builder;
pub use layers::{batch_norm, linear};
pub use mlp::{MlpConfig, MlpTrunk};
pub use resnet::{Block, ResNetConfig, ResNetTrunk, Stem};
pub use saved::{fill_vars, ModelCard, TrainedBackbone, CARD_FILE, WEIGHTS_FILE};

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

/// A trainable network's shape, stored in checkpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Architecture {
    /// An MLP on pre-extracted features.
    Mlp(MlpConfig),
    /// A ResNet on images.
    #[serde(rename = "resnet")]
    ResNet(ResNetConfig),
}

impl Architecture {
    /// Width of the representation.
    pub fn feature_dim(&self) -> usize {
        match self {
            Architecture::Mlp(c) => c.feature_dim(),
            Architecture::ResNet(c) => c.feature_dim(),
        }
    }

    /// Whether the network reads images (`true`) or feature vectors.
    pub fn takes_images(&self) -> bool {
        matches!(self, Architecture::ResNet(_))
    }

    /// A short human-readable name, e.g. `resnet18-w16` or `mlp-1280-512`.
    pub fn name(&self) -> String {
        match self {
            Architecture::Mlp(c) => {
                let mut s = format!("mlp-{}", c.input_dim);
                for h in &c.hidden {
                    s.push_str(&format!("-{h}"));
                }
                s
            }
            Architecture::ResNet(c) => {
                let depth = match (c.block, c.layers) {
                    (Block::Basic, [2, 2, 2, 2]) => "18".to_string(),
                    (Block::Basic, [3, 4, 6, 3]) => "34".to_string(),
                    (Block::Bottleneck, [3, 4, 6, 3]) => "50".to_string(),
                    (Block::Bottleneck, [3, 4, 23, 3]) => "101".to_string(),
                    (b, l) => format!("-{b:?}-{l:?}").to_lowercase(),
                };
                let stem = match c.stem {
                    Stem::Imagenet => "",
                    Stem::Small => "-small",
                };
                format!("resnet{depth}-w{}{stem}", c.width)
            }
        }
    }
}

enum Trunk {
    Mlp(MlpTrunk),
    ResNet(ResNetTrunk),
}

/// A network being trained (or loaded): input → representation.
pub struct TrainableBackbone {
    architecture: Architecture,
    trunk: Trunk,
}

impl TrainableBackbone {
    /// Builds the network under `vb` (a [`seeded_var_builder`] to train, filled weights to load).
    pub fn new(architecture: &Architecture, vb: VarBuilder) -> Result<Self> {
        let trunk = match architecture {
            Architecture::Mlp(c) => Trunk::Mlp(MlpTrunk::new(c, vb)?),
            Architecture::ResNet(c) => Trunk::ResNet(ResNetTrunk::new(c, vb)?),
        };
        Ok(TrainableBackbone {
            architecture: architecture.clone(),
            trunk,
        })
    }

    /// The representation `(B, feature_dim)` of a batch: images `(B, 3, H, W)` for a ResNet,
    /// features `(B, input_dim)` for an MLP. `train` selects BatchNorm's batch statistics (and
    /// updates the running ones); `false` is the evaluation mode used for extraction.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        match &self.trunk {
            Trunk::Mlp(m) => m.forward_t(x, train),
            Trunk::ResNet(r) => r.forward_t(x, train),
        }
    }

    /// The network's shape.
    pub fn architecture(&self) -> &Architecture {
        &self.architecture
    }

    /// Width of the representation.
    pub fn feature_dim(&self) -> usize {
        self.architecture.feature_dim()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use candle_nn::VarMap;

    #[test]
    fn resnet_shapes_and_torchvision_parameter_count() {
        let vars = VarMap::new();
        let arch = Architecture::ResNet(ResNetConfig::resnet18(64));
        let net = TrainableBackbone::new(
            &arch,
            seeded_var_builder(&vars, 0, &Device::Cpu).pp("backbone"),
        )
        .unwrap();
        // torchvision resnet18: 11,689,512 parameters, of which fc has 513,000; BN running
        // statistics (9,600 values) are buffers there and variables here.
        let params: usize = vars
            .data()
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, _)| !k.contains("running_"))
            .map(|(_, v)| v.elem_count())
            .sum();
        assert_eq!(params, 11_689_512 - 513_000);
        assert_eq!(arch.name(), "resnet18-w64");
        let small = Architecture::ResNet(ResNetConfig::resnet18(8));
        let vars = VarMap::new();
        let net2 =
            TrainableBackbone::new(&small, seeded_var_builder(&vars, 0, &Device::Cpu)).unwrap();
        let x = Tensor::zeros((2, 3, 64, 64), DType::F32, &Device::Cpu).unwrap();
        assert_eq!(net2.forward_t(&x, true).unwrap().dims(), [2, 64]);
        assert_eq!(net2.forward_t(&x, false).unwrap().dims(), [2, 64]);
        assert_eq!(net.feature_dim(), 512);
        assert_eq!(
            Architecture::ResNet(ResNetConfig::resnet50(64)).feature_dim(),
            2048
        );
    }

    #[test]
    fn architecture_json_round_trips() {
        for a in [
            Architecture::Mlp(MlpConfig {
                input_dim: 1280,
                hidden: vec![512],
            }),
            Architecture::ResNet(ResNetConfig::resnet50(64)),
        ] {
            let s = serde_json::to_string(&a).unwrap();
            assert_eq!(serde_json::from_str::<Architecture>(&s).unwrap(), a, "{s}");
        }
    }
}
