//! A trained representation on disk: `backbone.safetensors` (the trunk's weights and BatchNorm
//! statistics, torchvision-style key names) and `model.json` (a [`ModelCard`]: architecture,
//! classes, input preprocessing, training recipe). Heads and projectors are not saved: the
//! representation is what CoG evaluates.

use super::{seeded_var_builder, Architecture, TrainableBackbone};
use crate::error::{read_err, Error, Result};
use crate::preprocess::Preprocess;
use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// File name of the weights inside a model directory.
pub const WEIGHTS_FILE: &str = "backbone.safetensors";
/// File name of the [`ModelCard`] inside a model directory.
pub const CARD_FILE: &str = "model.json";

/// What a saved representation is and how it was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    /// The network's shape.
    pub architecture: Architecture,
    /// Class names (wnids) of the training labels, in label order.
    pub classes: Vec<String>,
    /// How images are turned into the network's input (image models only).
    pub preprocess: Option<Preprocess>,
    /// The frozen model whose features are the input (feature models only), e.g. its name.
    pub input_features: Option<String>,
    /// The training recipe, as the trainer describes it.
    pub recipe: serde_json::Value,
}

/// A trained representation loaded for feature extraction (evaluation mode).
pub struct TrainedBackbone {
    card: ModelCard,
    backbone: TrainableBackbone,
    tensors: usize,
}

impl TrainedBackbone {
    /// Writes the variables of `vars` named `{prefix}.*` (the trunk) and `card` into `dir`, each
    /// file atomically, weights first: a reader never sees a card without its weights.
    pub fn save(dir: &Path, card: &ModelCard, vars: &VarMap, prefix: &str) -> Result<()> {
        let lead = format!("{prefix}.");
        let tensors: BTreeMap<String, Tensor> = vars
            .data()
            .lock()
            .expect("var map lock poisoned")
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix(&lead)
                    .map(|k| (k.to_string(), v.as_tensor().clone()))
            })
            .collect();
        let bytes = safetensors::serialize(&tensors, None).map_err(|e| Error::Checkpoint {
            path: dir.join(WEIGHTS_FILE),
            reason: e.to_string(),
        })?;
        let write_err = |e: hiercog_io::Error| Error::Checkpoint {
            path: dir.to_path_buf(),
            reason: e.to_string(),
        };
        hiercog_io::write_atomic(&dir.join(WEIGHTS_FILE), &bytes).map_err(write_err)?;
        let json = serde_json::to_vec_pretty(card).expect("plain data serializes");
        hiercog_io::write_atomic(&dir.join(CARD_FILE), &json).map_err(write_err)
    }

    /// Loads a model directory written by [`TrainedBackbone::save`]. Every tensor the
    /// architecture needs must be there with its shape, and nothing else.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let card_path = dir.join(CARD_FILE);
        let text = std::fs::read_to_string(&card_path).map_err(read_err(&card_path))?;
        let card: ModelCard = serde_json::from_str(&text).map_err(|e| Error::Checkpoint {
            path: card_path.clone(),
            reason: format!("not a hiercog model card: {e}"),
        })?;
        let weights = dir.join(WEIGHTS_FILE);
        let tensors =
            candle_core::safetensors::load(&weights, device).map_err(|e| Error::Checkpoint {
                path: weights.clone(),
                reason: e.to_string(),
            })?;
        let vars = VarMap::new();
        let backbone =
            TrainableBackbone::new(&card.architecture, seeded_var_builder(&vars, 0, device))?;
        let count = tensors.len();
        fill_vars(&vars, tensors, &weights, &card.architecture.name())?;
        Ok(TrainedBackbone {
            card,
            backbone,
            tensors: count,
        })
    }

    /// How the model was made.
    pub fn card(&self) -> &ModelCard {
        &self.card
    }

    /// Width of the representation.
    pub fn feature_dim(&self) -> usize {
        self.backbone.feature_dim()
    }

    /// How many tensors the weights file holds (all of them are used).
    pub fn tensor_count(&self) -> usize {
        self.tensors
    }

    /// The representation of a batch (images `(B, 3, H, W)` or features `(B, D)`), evaluation
    /// mode (running BatchNorm statistics).
    pub fn features(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.backbone.forward_t(x, false)?)
    }
}

/// Copies `tensors` (read from `path`) into the variables of `vars`, which `model` (an
/// architecture name) created: the names and shapes must agree exactly, else nothing is copied
/// and the error names the file, the architecture and the first differences.
pub fn fill_vars(
    vars: &VarMap,
    mut tensors: HashMap<String, Tensor>,
    path: &Path,
    model: &str,
) -> Result<()> {
    let vars = vars.data().lock().expect("var map lock poisoned");
    let mismatch = |what: String| Error::Checkpoint {
        path: path.to_path_buf(),
        reason: format!("holds the weights of another network than {model}: {what}"),
    };
    let mut missing: Vec<&String> = vars.keys().filter(|k| !tensors.contains_key(*k)).collect();
    let mut unexpected: Vec<&String> = tensors.keys().filter(|k| !vars.contains_key(*k)).collect();
    if !missing.is_empty() || !unexpected.is_empty() {
        missing.sort();
        unexpected.sort();
        let show = |v: &[&String]| {
            let mut s = v
                .iter()
                .take(5)
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            if v.len() > 5 {
                s.push_str(&format!(", … ({} more)", v.len() - 5));
            }
            s
        };
        return Err(mismatch(format!(
            "{} missing key(s) [{}], {} unexpected key(s) [{}]",
            missing.len(),
            show(&missing),
            unexpected.len(),
            show(&unexpected)
        )));
    }
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort();
    for name in &names {
        let (t, var) = (&tensors[*name], &vars[*name]);
        if t.dims() != var.dims() {
            return Err(mismatch(format!(
                "tensor {name} has shape {:?}, {model} needs {:?}",
                t.dims(),
                var.dims()
            )));
        }
    }
    for name in names {
        let t = tensors.remove(name).expect("checked above");
        let var = &vars[name];
        var.set(&t.to_dtype(var.dtype())?.to_device(var.device())?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trainable::{MlpConfig, ResNetConfig};

    fn card(architecture: Architecture) -> ModelCard {
        ModelCard {
            architecture,
            classes: vec!["a".into(), "b".into()],
            preprocess: None,
            input_features: Some("efficientnet-lite0".into()),
            recipe: serde_json::json!({"loss": "ce"}),
        }
    }

    #[test]
    fn saved_model_gives_the_same_features() {
        let dir = tempfile::tempdir().unwrap();
        let arch = Architecture::Mlp(MlpConfig {
            input_dim: 6,
            hidden: vec![5, 4],
        });
        let vars = VarMap::new();
        let net = TrainableBackbone::new(
            &arch,
            seeded_var_builder(&vars, 3, &Device::Cpu).pp("backbone"),
        )
        .unwrap();
        // Something else in the map (a head) is not saved.
        seeded_var_builder(&vars, 3, &Device::Cpu)
            .pp("head")
            .get_with_hints(3, "w", candle_nn::Init::Const(1.0))
            .unwrap();
        let x = Tensor::randn(0f32, 1.0, (3, 6), &Device::Cpu).unwrap();
        net.forward_t(&x, true).unwrap(); // moves the running statistics
        TrainedBackbone::save(dir.path(), &card(arch.clone()), &vars, "backbone").unwrap();
        let back = TrainedBackbone::load(dir.path(), &Device::Cpu).unwrap();
        assert_eq!(back.card(), &card(arch));
        let a = net.forward_t(&x, false).unwrap().to_vec2::<f32>().unwrap();
        let b = back.features(&x).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn weights_of_another_architecture_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let vars = VarMap::new();
        let small = Architecture::ResNet(ResNetConfig::resnet18(4));
        TrainableBackbone::new(&small, seeded_var_builder(&vars, 0, &Device::Cpu).pp("b")).unwrap();
        TrainedBackbone::save(dir.path(), &card(small), &vars, "b").unwrap();
        // A card that claims another network than the weights hold is refused.
        let load_with = |arch: Architecture| {
            std::fs::write(
                dir.path().join(CARD_FILE),
                serde_json::to_string(&card(arch)).unwrap(),
            )
            .unwrap();
            TrainedBackbone::load(dir.path(), &Device::Cpu)
                .err()
                .unwrap()
                .to_string()
        };
        let msg = load_with(Architecture::ResNet(ResNetConfig::resnet18(8)));
        assert!(
            msg.contains(WEIGHTS_FILE)
                && msg.contains("resnet18-w8")
                && msg.contains("bn1.bias has shape [4]"),
            "{msg}"
        );
        // An MLP card over ResNet weights: the keys differ.
        let msg = load_with(Architecture::Mlp(MlpConfig {
            input_dim: 4,
            hidden: vec![4],
        }));
        assert!(
            msg.contains("missing key") && msg.contains("0.linear.weight"),
            "{msg}"
        );
    }
}
