//! The crate's error type: every variant names the offending value or file and says how to fix it.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Errors of fitting, applying, saving and loading a reduction.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A hyper-parameter is out of its valid range.
    #[error("invalid parameter `{name}` = {value}: {hint}")]
    InvalidParam {
        /// The parameter.
        name: &'static str,
        /// Its value.
        value: String,
        /// What values are valid.
        hint: String,
    },
    /// The data cannot be reduced as asked (too few rows, a constant direction, ...).
    #[error("{0}")]
    Data(String),
    /// The features' width is not the one the model was fitted on.
    #[error("the model reduces {model}-dimensional features but these are {data}-dimensional: apply it to features of the extractor it was fitted on")]
    DimensionMismatch {
        /// Width the model expects.
        model: usize,
        /// Width given.
        data: usize,
    },
    /// Training diverged.
    #[error("the loss became non-finite ({loss}) at epoch {epoch}, step {step}; lower the learning rate")]
    NonFinite {
        /// The loss.
        loss: f32,
        /// Epoch (from 1).
        epoch: usize,
        /// Step within all training (from 1).
        step: usize,
    },
    /// A model file cannot be read or written.
    #[error(transparent)]
    Io(#[from] hiercog_io::Error),
    /// A model file is not what this version writes.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The k-NN graph could not be computed.
    #[error(transparent)]
    Knn(#[from] hiercog_retrieval::Error),
}

impl Error {
    pub(crate) fn param(name: &'static str, value: impl ToString, hint: impl Into<String>) -> Self {
        Error::InvalidParam {
            name,
            value: value.to_string(),
            hint: hint.into(),
        }
    }
}
