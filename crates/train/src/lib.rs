//! hiercog-train: trains the representations whose concept generalisation CoG measures.
//!
//! One call, [`train`], takes a [`TrainSet`] (images, or features of augmented views made once
//! by a frozen backbone with [`extract_views`]), a [`TrainConfig`] (architecture, optimizer,
//! schedule, augmentation, seed) and an [`Objective`] (the loss), and returns a
//! [`TrainedBackbone`](hiercog_nn::trainable::TrainedBackbone) saved in the run directory —
//! resuming whatever an interrupted call left there.
//!
//! * [`optim`] — SGD with momentum and AdamW with PyTorch's rules, parameter groups (no weight
//!   decay on biases/BatchNorm), savable state; the cosine schedule with linear warm-up.
//! * [`augment`] — random-resized crop + flip, multi-crop; randomness keyed by
//!   (seed, epoch, index); [`color`] — MoCo-v2's colour jitter, grayscale and blur, as torchvision
//!   defines them.
//! * [`data`] — training sets and the worker-thread loader (deterministic whatever the threads).
//! * [`views`] — feature views for training on frozen features, cached and resumable.
//! * [`represent`] — the trained representation applied to evaluation sets (for the CoG probe).
//! * [`trainer`] — the loop, checkpoints, resume, metrics, divergence stop.
//! * [`trex`] — the t-ReX recipe: projector, cosine classifier over memory prototypes, EMA encoder.
//! * [`moco`] — self-supervised pre-training: MoCo-v2, MoCHi hard-negative mixing, MoCHi-LCA
//!   (hierarchy-aware negatives), their diagnostics, and [`pretrain`] (an image set → a backbone).
//!
//! The crate knows nothing of the terminal: progress goes through a callback.

#![warn(missing_docs)]

pub mod augment;
pub mod color;
pub mod data;
pub mod error;
pub mod moco;
pub mod objective;
pub mod optim;
mod queue;
pub mod represent;
pub mod trainer;
pub mod trex;
pub mod views;

pub use augment::{Augmentation, CropSpec, ViewGroup};
pub use color::ColorAugmentation;
pub use data::TrainSet;
pub use error::{Error, Result};
pub use moco::{pretrain, ContrastiveRecipe, HierarchyNegatives, InfoNce, MochiConfig, MocoConfig};
pub use objective::Objective;
pub use optim::{CosineSchedule, OptimizerConfig};
pub use represent::{image_features, transform_features};
pub use trainer::{train, EpochMetrics, Head, Progress, RunOptions, TrainConfig, TrainOutcome};
pub use trex::TrexConfig;
pub use views::{extract_views, FeatureViews, StoredGroup, ViewOptions, ViewProgress, ViewSpec};

/// The README's examples, compiled as doc tests (the first one also runs).
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
