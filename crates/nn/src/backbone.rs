//! [`Backbone`]: a loaded network of the [`crate::models`] zoo plus the preprocessing it expects.

use crate::checkpoint::{Checkpoint, KeyReport, Weights};
use crate::error::{Error, Result};
use crate::models::efficientnet::EfficientNetLite;
use crate::models::resnet::ResNet;
use crate::models::vit::VisionTransformer;
use crate::models::{Arch, ModelSpec};
use crate::preprocess::Preprocess;
use crate::trainable::{TrainedBackbone, CARD_FILE};
use candle_core::{Device, Tensor};
use std::path::Path;

enum Network {
    EfficientNetLite(EfficientNetLite),
    ResNet(ResNet),
    Vit(VisionTransformer),
    /// A representation trained by hiercog (`hiercog-train`), e.g. MoCo's query trunk.
    Trained(TrainedBackbone),
}

/// A loaded backbone on a device, ready to turn preprocessed images into features: a network
/// of the [`crate::models`] zoo from a checkpoint, or a model directory written by hiercog's
/// training ([`Backbone::trained`]).
pub struct Backbone {
    name: String,
    preprocess: Preprocess,
    spec: Option<ModelSpec>,
    net: Network,
    device: Device,
    feature_dim: usize,
    keys: KeyReport,
}

/// What a forward pass returns.
pub struct Output {
    /// `(B, feature_dim)` penultimate (pooled) features.
    pub features: Tensor,
    /// `(B, classes)` logits when the checkpoint carries a classifier.
    pub logits: Option<Tensor>,
}

impl Backbone {
    /// Loads `spec`'s network from a checkpoint file; `prefix` names the part of the checkpoint
    /// that holds it (`None`: found, see [`Checkpoint::fit`]).
    pub fn load(
        spec: ModelSpec,
        weights: &Path,
        prefix: Option<&str>,
        device: &Device,
    ) -> Result<Self> {
        Self::from_checkpoint(spec, &Checkpoint::read(weights)?, prefix, device)
    }

    /// Builds `spec`'s network from an already-read checkpoint.
    pub fn from_checkpoint(
        spec: ModelSpec,
        checkpoint: &Checkpoint,
        prefix: Option<&str>,
        device: &Device,
    ) -> Result<Self> {
        let build = |w: &Weights| -> Result<(Network, usize)> {
            Ok(match spec.arch {
                Arch::EfficientNetLite(cfg) => (
                    Network::EfficientNetLite(EfficientNetLite::new(w, &cfg, device)?),
                    1280,
                ),
                Arch::ResNet(layers) => {
                    let n = ResNet::new(w, layers, device)?;
                    let d = n.feature_dim();
                    (Network::ResNet(n), d)
                }
                Arch::Vit { heads } => {
                    let n = VisionTransformer::new(w, heads, device)?;
                    let d = n.feature_dim();
                    (Network::Vit(n), d)
                }
            })
        };
        let ((net, feature_dim), keys) =
            checkpoint.fit(spec.name, spec.arch.first_key(), prefix, build)?;
        Ok(Backbone {
            name: spec.name.to_string(),
            preprocess: spec.preprocess.clone(),
            spec: Some(spec),
            net,
            device: device.clone(),
            feature_dim,
            keys,
        })
    }

    /// Whether `path` is a model directory written by hiercog's training (it holds a model
    /// card), which [`Backbone::trained`] loads, rather than a registry name.
    pub fn is_trained_dir(path: &Path) -> bool {
        path.join(CARD_FILE).is_file()
    }

    /// Loads a model directory written by hiercog's training (`model.json` +
    /// `backbone.safetensors`): the trunk, with the preprocessing it was trained with. Models
    /// trained on the features of another backbone are refused: they transform features and
    /// take no images.
    pub fn trained(dir: &Path, device: &Device) -> Result<Self> {
        let model = TrainedBackbone::load(dir, device)?;
        let card = model.card();
        let not_images = |reason: String| Error::Checkpoint {
            path: dir.join(CARD_FILE),
            reason,
        };
        if let Some(input) = &card.input_features {
            return Err(not_images(format!(
                "a model trained on the features of {input}, not on images: it is no backbone \
                 (hiercog-train's `transform_features` applies it to those features)"
            )));
        }
        let preprocess = card.preprocess.clone().ok_or_else(|| {
            not_images("an image model without its preprocessing in the card".into())
        })?;
        let used = model.tensor_count();
        Ok(Backbone {
            name: format!("{} ({})", card.architecture.name(), dir.display()),
            preprocess,
            spec: None,
            feature_dim: model.feature_dim(),
            net: Network::Trained(model),
            device: device.clone(),
            keys: KeyReport {
                prefix: String::new(),
                used,
                ignored: Vec::new(),
            },
        })
    }

    /// What the network took from its checkpoint: the prefix stripped, the keys ignored.
    pub fn key_report(&self) -> &KeyReport {
        &self.keys
    }

    /// The model's name: the registry name, or for a trained model its architecture and
    /// directory. Extraction records it, so a resumed extraction continues the same model.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The registry entry the network was built from (`None` for a trained model).
    pub fn spec(&self) -> Option<&ModelSpec> {
        self.spec.as_ref()
    }

    /// The preprocessing the network expects.
    pub fn preprocess(&self) -> &Preprocess {
        &self.preprocess
    }

    /// Where the network's weights live.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Width of the features (from the checkpoint, e.g. 1280 / 2048 / 384).
    pub fn feature_dim(&self) -> usize {
        self.feature_dim
    }

    /// Runs a `(B, 3, H, W)` batch (moved to the backbone's device if needed). On the CPU the
    /// batch goes through the network [`CPU_SUB_BATCH`] images at a time: see there why.
    pub fn forward(&self, x: &Tensor) -> Result<Output> {
        let x = crate::layers::ensure_f32(&x.to_device(&self.device)?)?;
        let b = x.dim(0)?;
        let sub = CPU_SUB_BATCH;
        if !self.device.is_cpu() || b <= sub {
            return self.forward_whole(&x);
        }
        let parts = (0..b)
            .step_by(sub)
            .map(|start| self.forward_whole(&x.narrow(0, start, sub.min(b - start))?))
            .collect::<Result<Vec<_>>>()?;
        let features = Tensor::cat(&parts.iter().map(|p| &p.features).collect::<Vec<_>>(), 0)?;
        let logits = parts
            .iter()
            .map(|p| p.logits.as_ref())
            .collect::<Option<Vec<_>>>()
            .map(|l| Tensor::cat(&l, 0))
            .transpose()?;
        Ok(Output { features, logits })
    }

    fn forward_whole(&self, x: &Tensor) -> Result<Output> {
        let x = x.contiguous()?;
        let (features, logits) = match &self.net {
            Network::EfficientNetLite(n) => n.forward(&x)?,
            Network::ResNet(n) => n.forward(&x)?,
            Network::Vit(n) => n.forward(&x)?,
            Network::Trained(n) => (n.features(&x)?, None),
        };
        Ok(Output { features, logits })
    }

    /// Features and logits of preprocessed images given as CHW float vectors.
    pub fn forward_images(&self, images: &[Vec<f32>]) -> Result<Output> {
        let side = self.preprocess.crop as usize;
        let flat: Vec<f32> = images.iter().flat_map(|v| v.iter().copied()).collect();
        let x = Tensor::from_vec(flat, (images.len(), 3, side, side), &self.device)?;
        self.forward(&x)
    }
}

/// Images per pass through the network on the CPU. A whole batch of 32 at 224 px makes
/// activations of 150 MB per layer: each is a fresh `mmap` that is page-faulted in and
/// unmapped again (a quarter of EfficientNet-Lite0's time), and none stays in cache. Four
/// images keep every buffer under glibc's largest `mmap` threshold (32 MiB), so freed buffers
/// are reused, and GEMM blocks still have thousands of rows to share among the cores.
pub const CPU_SUB_BATCH: usize = 4;

/// candle runs its element-wise CPU ops on a pool of spinning worker threads (`CANDLE_NUM_THREADS`,
/// default one per core), beside the rayon threads of its GEMMs and convolutions. On a small or
/// shared machine the spinning threads wait on each other: one MLP training step on 2 cores took
/// 3× the CPU time and 2× the wall time with the default than with `CANDLE_NUM_THREADS=1`, a
/// ResNet-18 (width 16, 64 px) step 1.5× the wall time, and extraction was unchanged (±8 %,
/// noise). This sets `CANDLE_NUM_THREADS=1` unless the user set it, so GEMMs keep every core and
/// element-wise ops run on the calling thread. Call it first thing in `main`, before any thread
/// starts and before any candle operation (candle reads the variable once).
pub fn use_one_candle_elementwise_thread() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // Safe at the start of `main`: no other thread reads the environment yet.
        std::env::set_var("CANDLE_NUM_THREADS", "1");
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
    fn devices_parse() {
        assert!(device_from_name("cpu").unwrap().is_cpu());
        assert!(device_from_name("tpu").is_err());
        assert!(device_from_name("cuda:x").is_err());
    }
}
