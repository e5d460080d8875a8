//! hiercog-nn: pretrained backbones on candle, turned into feature extractors for CoG.
//!
//! * [`Backbone`] — a loaded network ([`known_models`]: EfficientNet-Lite0..4, ResNet-50/101/152,
//!   ViT/DeiT) with the [`Preprocess`] it expects; `forward` gives pooled features and logits.
//! * [`Weights`] — checkpoint reading (safetensors, zip and legacy `.pth` through the restricted
//!   unpickler of `hiercog-pickle`), wrapper prefixes removed, missing/unexpected keys reported.
//! * [`preprocess`] — decoding and Pillow-exact bicubic resize, center crop, normalization.
//! * [`dataset`] — image lists from ImageNet-style folders, `path<TAB>label` files, CoG splits.
//! * [`extract`] — the batched, resumable extraction loop (decoding overlapped with the
//!   forward pass) writing sharded feature sets through `hiercog-features`.
//! * [`cache`] — where the default weights live and how `models fetch-default` installs them.
//! * [`ops`] — the NHWC convolution kernels that make CPU inference competitive with PyTorch.
//!
//! The crate knows nothing of the terminal: progress goes through callbacks.

pub mod backbone;
pub mod cache;
pub mod checkpoint;
pub mod dataset;
pub mod efficientnet;
pub mod error;
pub mod extract;
pub mod imagenet;
pub mod ops;
pub mod preprocess;
pub mod resnet;
pub mod trainable;
pub mod vit;

pub use backbone::{device_from_name, known_models, model_spec, Arch, Backbone, ModelSpec, Output};
pub use checkpoint::Weights;
pub use error::{Error, Result};
pub use extract::{extract, ExtractOptions, ExtractProgress, ExtractSummary};
pub use preprocess::Preprocess;
