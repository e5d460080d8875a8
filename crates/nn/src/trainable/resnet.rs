//! ResNets to train (He et al. 2016), torchvision's layout and key names, any width.
//!
//! `width` is the channel count of the first stage (64 in torchvision); the stages have
//! `width·{1, 2, 4, 8}` channels (×4 for bottleneck outputs), so `resnet18` at width 16 is a
//! ResNet-18 with a quarter of the channels (≈0.7 M parameters instead of 11.2 M), small enough to
//! train in minutes on two CPU cores at 64 px. Features are the globally average-pooled output of
//! the last stage, as in the pretrained backbones.

use super::layers::{max_pool_3x3_s2_p1, ConvBn};
use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

/// The residual block type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Block {
    /// Two 3×3 convolutions (ResNet-18/34).
    Basic,
    /// 1×1 → 3×3 → 1×1 with 4× expansion, stride on the 3×3 (ResNet-50/101/152, "v1.5").
    Bottleneck,
}

impl Block {
    fn expansion(self) -> usize {
        match self {
            Block::Basic => 1,
            Block::Bottleneck => 4,
        }
    }
}

/// The stem before the four stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stem {
    /// 7×7 stride-2 convolution + 3×3 stride-2 max-pool (torchvision; ÷4 resolution).
    Imagenet,
    /// One 3×3 stride-1 convolution, no pooling (CIFAR-style, for small images; 16× the
    /// compute of the ImageNet stem at the same input size).
    Small,
}

/// A ResNet's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResNetConfig {
    /// Basic or bottleneck blocks.
    pub block: Block,
    /// Blocks per stage.
    pub layers: [usize; 4],
    /// Channels of the first stage (64 = torchvision).
    pub width: usize,
    /// The stem before the first stage.
    pub stem: Stem,
}

impl ResNetConfig {
    /// ResNet-18 with `width` channels in the first stage (64 = torchvision's).
    pub fn resnet18(width: usize) -> Self {
        ResNetConfig {
            block: Block::Basic,
            layers: [2, 2, 2, 2],
            width,
            stem: Stem::Imagenet,
        }
    }

    /// ResNet-50 with `width` channels in the first stage (64 = torchvision's).
    pub fn resnet50(width: usize) -> Self {
        ResNetConfig {
            block: Block::Bottleneck,
            layers: [3, 4, 6, 3],
            width,
            stem: Stem::Imagenet,
        }
    }

    /// Width of the pooled features.
    pub fn feature_dim(&self) -> usize {
        self.width * 8 * self.block.expansion()
    }
}

struct ResidualBlock {
    convs: Vec<ConvBn>,
    downsample: Option<ConvBn>,
}

impl ResidualBlock {
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let identity = match &self.downsample {
            Some(d) => d.forward_t(x, train)?,
            None => x.clone(),
        };
        let mut y = x.clone();
        let last = self.convs.len() - 1;
        for (i, c) in self.convs.iter().enumerate() {
            y = c.forward_t(&y, train)?;
            if i < last {
                y = y.relu()?;
            }
        }
        (y + identity)?.relu()
    }
}

/// A ResNet trunk (no classifier): images `(B, 3, H, W)` → pooled features `(B, D)`.
pub struct ResNetTrunk {
    stem: ConvBn,
    stem_kind: Stem,
    blocks: Vec<ResidualBlock>,
}

impl ResNetTrunk {
    /// Builds (or, from a filled `vb`, loads) the trunk.
    pub fn new(cfg: &ResNetConfig, vb: VarBuilder) -> Result<Self> {
        let stem = match cfg.stem {
            Stem::Imagenet => ConvBn::new(&vb, ("conv1", "bn1"), 3, cfg.width, 7, 2)?,
            Stem::Small => ConvBn::new(&vb, ("conv1", "bn1"), 3, cfg.width, 3, 1)?,
        };
        let exp = cfg.block.expansion();
        let mut blocks = Vec::new();
        let mut inplanes = cfg.width;
        for (stage, &n) in cfg.layers.iter().enumerate() {
            let planes = cfg.width << stage;
            for b in 0..n {
                let stride = if stage > 0 && b == 0 { 2 } else { 1 };
                let vb = vb.pp(format!("layer{}.{b}", stage + 1));
                let out = planes * exp;
                let downsample = if b == 0 && (stride != 1 || inplanes != out) {
                    Some(ConvBn::new(
                        &vb,
                        ("downsample.0", "downsample.1"),
                        inplanes,
                        out,
                        1,
                        stride,
                    )?)
                } else {
                    None
                };
                let convs = match cfg.block {
                    Block::Basic => vec![
                        ConvBn::new(&vb, ("conv1", "bn1"), inplanes, planes, 3, stride)?,
                        ConvBn::new(&vb, ("conv2", "bn2"), planes, planes, 3, 1)?,
                    ],
                    Block::Bottleneck => vec![
                        ConvBn::new(&vb, ("conv1", "bn1"), inplanes, planes, 1, 1)?,
                        ConvBn::new(&vb, ("conv2", "bn2"), planes, planes, 3, stride)?,
                        ConvBn::new(&vb, ("conv3", "bn3"), planes, out, 1, 1)?,
                    ],
                };
                blocks.push(ResidualBlock { convs, downsample });
                inplanes = out;
            }
        }
        Ok(ResNetTrunk {
            stem,
            stem_kind: cfg.stem,
            blocks,
        })
    }

    /// Pooled features; `train` selects batch (true) or running (false) BatchNorm statistics.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let mut x = self.stem.forward_t(x, train)?.relu()?;
        if self.stem_kind == Stem::Imagenet {
            x = max_pool_3x3_s2_p1(&x)?;
        }
        for b in &self.blocks {
            x = b.forward_t(&x, train)?;
        }
        x.mean((2, 3))
    }
}
