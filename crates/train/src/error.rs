//! The crate's error type: each variant names the file, option or training step at fault.

use std::path::PathBuf;

/// Errors of training.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Training data that cannot be used (unreadable images, empty sets, label problems).
    #[error("{path}: {reason}")]
    Data { path: PathBuf, reason: String },

    /// A configuration value out of range.
    #[error("invalid training setting {name} = {value}: {reason}")]
    Setting {
        name: &'static str,
        value: String,
        reason: String,
    },

    /// The loss (or a weight) stopped being finite.
    #[error(
        "training diverged: the loss is {loss} at epoch {epoch}, step {step}; {kept}; \
         lower the learning rate or check the data"
    )]
    Diverged {
        epoch: usize,
        step: usize,
        loss: f32,
        /// Which checkpoint is kept, e.g. "the checkpoint of epoch 3 in DIR is kept".
        kept: String,
    },

    /// A run directory that holds another training.
    #[error("{dir} cannot resume: {reason}")]
    Resume { dir: PathBuf, reason: String },

    /// A checkpoint that cannot be read or does not fit the model.
    #[error("cannot read checkpoint {path}: {reason}")]
    Checkpoint { path: PathBuf, reason: String },

    #[error(transparent)]
    Nn(#[from] hiercog_nn::Error),

    #[error(transparent)]
    Store(#[from] hiercog_store::Error),

    #[error(transparent)]
    Write(#[from] hiercog_io::Error),

    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
