//! EfficientNet-Lite (Tan & Le 2019; the TF-Lite variants of `efficientnet/lite`), in the key
//! layout of EfficientNet-PyTorch / PyPI `efficientnet-lite-pytorch` (`_conv_stem`, `_bn0`,
//! `_blocks.N._expand_conv`, `_depthwise_conv`, `_project_conv`, `_conv_head`, `_fc`).
//!
//! Lite differs from B0: ReLU6, no squeeze-and-excitation, stem (32) and head (1280) unscaled,
//! first and last stages never repeated more, BatchNorm eps 1e-3, and TensorFlow "SAME"
//! padding computed once from the static input size.

use crate::checkpoint::Weights;
use crate::error::Result;
use crate::layers::{
    global_avg_pool, to_nhwc, Activation, Conv, ConvShape, InvertedResidual, Linear, Padding,
};
use candle_core::{Device, Tensor};

/// Width/depth multipliers and the static input size of an EfficientNet-Lite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EfficientNetLiteConfig {
    /// Channel multiplier.
    pub width: f64,
    /// Repeat multiplier of the middle stages.
    pub depth: f64,
    /// Side of the square input the padding is computed for.
    pub image_size: usize,
}

impl EfficientNetLiteConfig {
    /// `efficientnet-lite{0..4}` as in the reference's `efficientnet_params`.
    pub fn lite(variant: u8) -> Option<Self> {
        let (width, depth, image_size) = match variant {
            0 => (1.0, 1.0, 224),
            1 => (1.0, 1.1, 240),
            2 => (1.1, 1.2, 260),
            3 => (1.2, 1.4, 280),
            4 => (1.4, 1.8, 300),
            _ => return None,
        };
        Some(EfficientNetLiteConfig {
            width,
            depth,
            image_size,
        })
    }

    fn round_filters(&self, filters: usize) -> usize {
        let f = filters as f64 * self.width;
        let mut new = 8usize.max(((f + 4.0) as usize) / 8 * 8);
        if (new as f64) < 0.9 * f {
            new += 8;
        }
        new
    }
}

/// Stage table of the Lite models: (repeats, kernel, stride, expand ratio, in, out).
const STAGES: [(usize, usize, usize, usize, usize, usize); 7] = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
];
const BN_EPS: f64 = 1e-3;
const STEM: usize = 32;
const HEAD: usize = 1280;

/// An EfficientNet-Lite with folded BatchNorms.
pub struct EfficientNetLite {
    stem: Conv,
    blocks: Vec<InvertedResidual>,
    head: Conv,
    fc: Option<Linear>,
}

impl EfficientNetLite {
    /// Builds the network from a checkpoint; `_fc` is optional (headless checkpoints give
    /// features only).
    pub fn new(w: &Weights, cfg: &EfficientNetLiteConfig, device: &Device) -> Result<Self> {
        let conv = |name: &str, bn: &str, shape: ConvShape, act: Activation| {
            Conv::load_bn(w, name, bn, BN_EPS, shape, act, device)
        };
        let pointwise = |cin: usize, cout: usize| ConvShape {
            cin,
            cout,
            k: 1,
            stride: 1,
            pad: Padding::default(),
            groups: 1,
        };
        let mut size = cfg.image_size;
        let stem_shape = ConvShape {
            cin: 3,
            cout: STEM,
            k: 3,
            stride: 2,
            pad: Padding::tf_same(size, size, 3, 2),
            groups: 1,
        };
        let stem = conv("_conv_stem", "_bn0", stem_shape, Activation::Relu6)?;
        size = size.div_ceil(2);
        let mut blocks = Vec::new();
        for (stage, &(repeats, k, stride, expand, cin, cout)) in STAGES.iter().enumerate() {
            let edge = stage == 0 || stage == STAGES.len() - 1;
            let repeats = if edge {
                repeats
            } else {
                (cfg.depth * repeats as f64).ceil() as usize
            };
            let mut cin = if stage == 0 {
                STEM
            } else {
                cfg.round_filters(cin)
            };
            let cout = cfg.round_filters(cout);
            for r in 0..repeats {
                let s = if r == 0 { stride } else { 1 };
                let p = format!("_blocks.{}", blocks.len());
                let mid = cin * expand;
                let expand_conv = if expand != 1 {
                    let name = format!("{p}._expand_conv");
                    let bn = format!("{p}._bn0");
                    Some(conv(&name, &bn, pointwise(cin, mid), Activation::Relu6)?)
                } else {
                    None
                };
                let depthwise_shape = ConvShape {
                    cin: mid,
                    cout: mid,
                    k,
                    stride: s,
                    pad: Padding::tf_same(size, size, k, s),
                    groups: mid,
                };
                let depthwise = conv(
                    &format!("{p}._depthwise_conv"),
                    &format!("{p}._bn1"),
                    depthwise_shape,
                    Activation::Relu6,
                )?;
                size = size.div_ceil(s);
                let project = conv(
                    &format!("{p}._project_conv"),
                    &format!("{p}._bn2"),
                    pointwise(mid, cout),
                    Activation::Identity,
                )?;
                blocks.push(InvertedResidual {
                    expand: expand_conv,
                    depthwise,
                    project,
                    skip: s == 1 && cin == cout,
                });
                cin = cout;
            }
        }
        let last = cfg.round_filters(STAGES[STAGES.len() - 1].5);
        let head = conv(
            "_conv_head",
            "_bn1",
            pointwise(last, HEAD),
            Activation::Relu6,
        )?;
        let fc = Linear::optional_head(w, "_fc", HEAD, device)?;
        Ok(EfficientNetLite {
            stem,
            blocks,
            head,
            fc,
        })
    }

    /// Pooled 1280-d features of an NCHW batch, and logits when the checkpoint has `_fc`.
    pub fn forward(&self, x: &Tensor) -> Result<(Tensor, Option<Tensor>)> {
        let mut x = self.stem.forward(&to_nhwc(x)?, None)?;
        for b in &self.blocks {
            x = b.forward(&x)?;
        }
        let x = self.head.forward(&x, None)?;
        let features = global_avg_pool(&x)?;
        let logits = match &self.fc {
            Some(fc) => Some(fc.forward(&features)?),
            None => None,
        };
        Ok((features, logits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_rounding_matches_reference() {
        let c = EfficientNetLiteConfig {
            width: 0.25,
            depth: 1.0,
            image_size: 64,
        };
        // Values from the reference's round_filters with width 0.25 and 1.1.
        assert_eq!(c.round_filters(16), 8);
        assert_eq!(c.round_filters(40), 16);
        assert_eq!(c.round_filters(320), 80);
        let c2 = EfficientNetLiteConfig::lite(2).unwrap();
        assert_eq!(c2.round_filters(24), 24);
        assert_eq!(c2.round_filters(40), 48);
        assert_eq!(c2.round_filters(320), 352);
    }
}
