//! ResNet with bottleneck blocks (He et al. 2016), torchvision layout (`conv1`, `bn1`,
//! `layerL.B.conv{1,2,3}`, `downsample.{0,1}`, `fc`; stride on the 3×3 conv, "ResNet v1.5").
//! The CoG baseline is ResNet-50: 2048-d pooled features.

use crate::checkpoint::Weights;
use crate::error::Result;
use crate::layers::{
    global_avg_pool, max_pool_3x3_s2, to_nhwc, Activation, Conv, ConvShape, Linear, Padding,
};
use candle_core::{Device, Tensor};

const BN_EPS: f64 = 1e-5;
const EXPANSION: usize = 4;

struct Bottleneck {
    conv1: Conv,
    conv2: Conv,
    conv3: Conv,
    downsample: Option<Conv>,
}

/// A bottleneck ResNet with folded BatchNorms.
pub struct ResNet {
    stem: Conv,
    blocks: Vec<Bottleneck>,
    fc: Option<Linear>,
    features: usize,
}

impl ResNet {
    /// `layers` blocks per stage: `[3, 4, 6, 3]` is ResNet-50, `[3, 4, 23, 3]` ResNet-101.
    pub fn new(w: &Weights, layers: [usize; 4], device: &Device) -> Result<Self> {
        let conv = |name: &str,
                    bn: &str,
                    cin: usize,
                    cout: usize,
                    k: usize,
                    stride: usize,
                    act: Activation| {
            let shape = ConvShape {
                cin,
                cout,
                k,
                stride,
                pad: Padding::symmetric(k / 2),
                groups: 1,
            };
            Conv::load_bn(w, name, bn, BN_EPS, shape, act, device)
        };
        let stem = conv("conv1", "bn1", 3, 64, 7, 2, Activation::Relu)?;
        let mut blocks = Vec::new();
        let mut inplanes = 64;
        for (stage, &n) in layers.iter().enumerate() {
            let planes = 64 << stage;
            for b in 0..n {
                let stride = if stage > 0 && b == 0 { 2 } else { 1 };
                let p = format!("layer{}.{b}", stage + 1);
                let out = planes * EXPANSION;
                let downsample = if b == 0 && (stride != 1 || inplanes != out) {
                    Some(conv(
                        &format!("{p}.downsample.0"),
                        &format!("{p}.downsample.1"),
                        inplanes,
                        out,
                        1,
                        stride,
                        Activation::Identity,
                    )?)
                } else {
                    None
                };
                blocks.push(Bottleneck {
                    conv1: conv(
                        &format!("{p}.conv1"),
                        &format!("{p}.bn1"),
                        inplanes,
                        planes,
                        1,
                        1,
                        Activation::Relu,
                    )?,
                    conv2: conv(
                        &format!("{p}.conv2"),
                        &format!("{p}.bn2"),
                        planes,
                        planes,
                        3,
                        stride,
                        Activation::Relu,
                    )?,
                    conv3: conv(
                        &format!("{p}.conv3"),
                        &format!("{p}.bn3"),
                        planes,
                        out,
                        1,
                        1,
                        Activation::Relu,
                    )?,
                    downsample,
                });
                inplanes = out;
            }
        }
        let fc = Linear::optional_head(w, "fc", inplanes, device)?;
        Ok(ResNet {
            stem,
            blocks,
            fc,
            features: inplanes,
        })
    }

    /// Width of the pooled features (2048 for ResNet-50).
    pub fn feature_dim(&self) -> usize {
        self.features
    }

    /// Pooled features of an NCHW batch, and logits when the checkpoint has `fc`.
    pub fn forward(&self, x: &Tensor) -> Result<(Tensor, Option<Tensor>)> {
        let x = self.stem.forward(&to_nhwc(x)?, None)?;
        let mut x = max_pool_3x3_s2(&x)?;
        for b in &self.blocks {
            let identity = match &b.downsample {
                Some(d) => d.forward(&x, None)?,
                None => x.clone(),
            };
            let y = b.conv1.forward(&x, None)?;
            let y = b.conv2.forward(&y, None)?;
            x = b.conv3.forward(&y, Some(&identity))?;
        }
        let features = global_avg_pool(&x)?;
        let logits = match &self.fc {
            Some(fc) => Some(fc.forward(&features)?),
            None => None,
        };
        Ok((features, logits))
    }
}
