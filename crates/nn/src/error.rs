//! The crate's error type: every variant names the file, key or value at fault and how to fix it.

use std::path::PathBuf;

/// Errors of checkpoint loading, image decoding and extraction.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read image {path}: {reason}")]
    Image { path: PathBuf, reason: String },

    #[error("cannot read checkpoint {path}: {reason}")]
    Checkpoint { path: PathBuf, reason: String },

    #[error(
        "checkpoint {path} does not fit model {model}: {} missing key(s) [{}], {} unexpected key(s) [{}]; \
         check --model matches the checkpoint (and that it is not a wrapper with an unusual prefix)",
        missing.len(), preview(missing), unexpected.len(), preview(unexpected)
    )]
    KeyMismatch {
        path: PathBuf,
        model: String,
        missing: Vec<String>,
        unexpected: Vec<String>,
    },

    #[error("checkpoint {path}: tensor {key} has shape {found:?}, the model expects {expected:?}; check --model")]
    ShapeMismatch {
        path: PathBuf,
        key: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },

    #[error("unknown model {name:?}{hint}; known models: {known}", hint = suggestion.as_ref().map(|s| format!(" (did you mean {s:?}?)")).unwrap_or_default())]
    UnknownModel {
        name: String,
        suggestion: Option<String>,
        known: String,
    },

    #[error("{path}:{line}: {reason}")]
    ImageList {
        path: PathBuf,
        line: usize,
        reason: String,
    },

    #[error("{path}: {reason}")]
    Dataset { path: PathBuf, reason: String },

    #[error("{what}: {reason}")]
    Fetch { what: String, reason: String },

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),

    #[error("writing features: {0}")]
    Features(#[from] hiercog_features::Error),

    #[error(
        "extraction in {dir} cannot resume: {reason}; delete the directory or pass a new --out"
    )]
    Resume { dir: PathBuf, reason: String },

    #[error("invalid option {name} = {value}: {reason}")]
    Option {
        name: &'static str,
        value: String,
        reason: String,
    },
}

/// Shows the first few keys of a long list.
fn preview(keys: &[String]) -> String {
    const SHOW: usize = 8;
    let mut s = keys
        .iter()
        .take(SHOW)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if keys.len() > SHOW {
        s.push_str(&format!(", … ({} more)", keys.len() - SHOW));
    }
    s
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { path, source }
}
