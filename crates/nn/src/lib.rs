#![warn(missing_docs)]
//! hiercog-nn: pretrained backbones on candle, turned into feature extractors for CoG.
//!
//! * [`Backbone`] — a loaded network of the [`models`] zoo ([`known_models`]:
//!   EfficientNet-Lite0..4, ResNet-50/101/152, ViT/DeiT) with the [`Preprocess`] it expects;
//!   `forward` gives pooled features and logits.
//! * [`Checkpoint`] — checkpoint reading (safetensors, zip and legacy `.pth` through the
//!   restricted unpickler of `hiercog-pickle`), the part holding the model found in the layouts
//!   self-supervised repositories publish ([`KeyReport`]), missing/unexpected keys reported;
//!   layers read their tensors from a [`Weights`] view.
//! * [`layers`] — NHWC convolution, linear and normalization layers with inference-time
//!   fusions, each loading its own tensors (their CPU kernels are in `kernels`).
//! * [`preprocess`] — decoding and Pillow-exact bicubic resize, center crop, normalization.
//! * [`dataset`] — image lists from ImageNet-style folders, `path<TAB>label` files, CoG splits.
//! * [`extract`](mod@extract) — the batched, resumable extraction loop (decoding overlapped with the
//!   forward pass) writing sharded feature sets through `hiercog-features`.
//! * [`cache`] — where the default weights live and how `models fetch-default` installs them.
//!
//! Files depend downwards only: `models` → `layers` → `kernels`; layers read [`Weights`].
//! The crate knows nothing of the terminal: progress goes through callbacks.

pub mod backbone;
pub mod cache;
pub mod checkpoint;
pub mod dataset;
pub mod error;
pub mod extract;
pub mod imagenet;
mod kernels;
pub mod layers;
pub mod models;
pub mod preprocess;
pub mod trainable;

pub use backbone::{
    device_from_name, use_one_candle_elementwise_thread, Backbone, Output, CPU_SUB_BATCH,
};
pub use checkpoint::{Checkpoint, KeyReport, Weights};
pub use error::{Error, Result};
pub use extract::{extract, ExtractOptions, ExtractProgress, ExtractSummary};
pub use models::{known_models, model_spec, Arch, ModelSpec};
pub use preprocess::Preprocess;

/// The README's example, compiled and run as a doc test.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
