//! hiercog-features: feature sets on disk — what extraction writes and the probe reads.
//!
//! * [`FeatureSet`]: a rows × dim `f32` matrix with integer labels and optional class names
//!   (wnids), loaded from a `.npy` directory (`X.npy`, `Y.npy`, `classes.txt`; memory-mapped, so a
//!   10 GB matrix is not copied), a `.npz`, a `.safetensors` (`X`, `Y`) or the naver/cog reference's
//!   `X_Y.pth` (through the restricted unpickler of `hiercog-pickle`), and saved in any of them
//!   ([`Format`]). [`FeatureSet::validate`] and [`check_pair`] catch NaN/Inf rows, label problems and
//!   train/test mismatches with messages that name the file, rows and values.
//! * [`Preprocess`] → [`FittedPreprocess`]: L2 normalization (the reference), per-dimension
//!   standardization fitted on train (seed 004's "BN before the linear layer"), or none.
//! * [`ShardWriter`]: resumable sharded output for extraction; an interrupted run keeps every
//!   completed shard and continues after the last one; [`remove_shards`] clears the shards of a
//!   directory whose joined set is committed.

#![warn(missing_docs)]

mod error;
mod formats;
mod preprocess;
mod set;
mod shards;

pub use error::{Error, Result};
pub use formats::Format;
pub use preprocess::{FittedPreprocess, Preprocess};
pub use set::{check_finite, check_pair, remap_labels, FeatureSet, FeatureView};
pub use shards::{remove_shards, ShardWriter};

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
