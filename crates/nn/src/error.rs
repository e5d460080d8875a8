//! The crate's error type: every variant names the file, key or value at fault and how to fix it.
//!
//! Causes are part of the message, never also a [`source`](std::error::Error::source), so a
//! printed chain (`{:#}` of anyhow) shows each once; errors of other hiercog crates pass through
//! unchanged. Messages speak of library values (a model, a checkpoint, an output directory), not
//! command-line flags.

use std::path::PathBuf;

/// Errors of checkpoint loading, image decoding and extraction.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An image file that cannot be opened or decoded.
    #[error("cannot read image {path}: {reason}")]
    Image {
        /// The image file.
        path: PathBuf,
        /// The decoder's complaint.
        reason: String,
    },

    /// A checkpoint that cannot be read as one (not safetensors, not a state dict of tensors).
    #[error("cannot read checkpoint {path}: {reason}")]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A checkpoint (or the part of it under a prefix) whose keys do not fit the model.
    #[error(
        "checkpoint {path}{} does not fit model {model}: {} missing key(s) [{}], {} unexpected key(s) [{}]; \
         check that the model matches the checkpoint (or name the prefix of the part that holds it)",
        if prefix.is_empty() { String::new() } else { format!(" (keys under `{prefix}`)") },
        missing.len(), preview(missing), unexpected.len(), preview(unexpected)
    )]
    KeyMismatch {
        /// The checkpoint file.
        path: PathBuf,
        /// The model it was loaded as.
        model: &'static str,
        /// The prefix whose keys came closest to fitting (empty: the whole checkpoint).
        prefix: String,
        /// Keys (prefix stripped) the model needs that the checkpoint lacks.
        missing: Vec<String>,
        /// Keys (prefix stripped) under the prefix that the model does not read.
        unexpected: Vec<String>,
    },

    /// Several parts of a checkpoint hold a complete, different copy of the model.
    #[error(
        "checkpoint {path}: {} parts hold a complete {model}, with different weights: {}; name the \
         prefix of the one to use (MoCo evaluates encoder_q, DINO the teacher, BYOL the online network)",
        prefixes.len(), prefixes.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ")
    )]
    AmbiguousPrefix {
        /// The checkpoint file.
        path: PathBuf,
        /// The model.
        model: &'static str,
        /// The full prefixes of the candidates.
        prefixes: Vec<String>,
    },

    /// A named prefix under which the checkpoint has no keys.
    #[error(
        "checkpoint {path} has no keys under `{prefix}`; {}",
        if holding.is_empty() {
            format!("no part of it holds a {model}")
        } else {
            format!("the parts holding a {model} are under {}", holding.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", "))
        }
    )]
    PrefixNotFound {
        /// The checkpoint file.
        path: PathBuf,
        /// The model.
        model: &'static str,
        /// The prefix asked for.
        prefix: String,
        /// Prefixes under which the model's first key exists.
        holding: Vec<String>,
    },

    /// A tensor whose shape differs from the model's.
    #[error("checkpoint {path}: tensor {key} has shape {found:?}, the model expects {expected:?}; the checkpoint is of another model or variant")]
    ShapeMismatch {
        /// The checkpoint file.
        path: PathBuf,
        /// The tensor's key.
        key: String,
        /// The shape the model needs.
        expected: Vec<usize>,
        /// The shape in the checkpoint.
        found: Vec<usize>,
    },

    /// A model name that is not in the registry.
    #[error("unknown model {name:?}{hint}; known models: {known}", hint = suggestion.as_ref().map(|s| format!(" (did you mean {s:?}?)")).unwrap_or_default())]
    UnknownModel {
        /// The name asked for.
        name: String,
        /// The nearest known name, if close enough to be a typo.
        suggestion: Option<String>,
        /// All known names, comma-separated.
        known: String,
    },

    /// An image folder or list that does not have the expected layout.
    #[error("{path}: {reason}")]
    Dataset {
        /// The folder or list file.
        path: PathBuf,
        /// What is wrong and what was expected.
        reason: String,
    },

    /// A `.pth` checkpoint the restricted unpickler refuses or cannot read (its message names
    /// the file).
    #[error(transparent)]
    Pickle(#[from] hiercog_pickle::Error),

    /// A model without built-in weights and no checkpoint given.
    #[error("model {model} has no built-in weights: give a checkpoint (.pth or .safetensors)")]
    NoWeights {
        /// The model's name.
        model: String,
    },

    /// The default weights are not in the cache.
    #[error("the default weights are not installed at {path}: run scripts/fetch-default-model.sh (or `hiercog models fetch-default`)")]
    WeightsNotInstalled {
        /// Where they were looked for.
        path: PathBuf,
    },

    /// Downloading or unpacking the default weights failed.
    #[error("{what}: {reason}")]
    Fetch {
        /// The package or file being fetched.
        what: String,
        /// What went wrong.
        reason: String,
    },

    /// A file or folder could not be read or written.
    #[error(transparent)]
    Io(#[from] hiercog_io::Error),

    /// candle failed in a tensor operation.
    #[error("tensor computation failed: {0}")]
    Candle(candle_core::Error),

    /// Writing the feature set failed.
    #[error(transparent)]
    Features(#[from] hiercog_features::Error),

    /// An output directory holds another extraction.
    #[error(
        "extraction in {dir} cannot resume: {reason}; delete the directory or choose another one"
    )]
    Resume {
        /// The output directory.
        dir: PathBuf,
        /// Why its contents do not match this extraction.
        reason: String,
    },

    /// An option value out of its range.
    #[error("invalid {name} {value:?}: {reason}")]
    Option {
        /// The option (`device`, `batch size`, `heads`).
        name: &'static str,
        /// The value given.
        value: String,
        /// What is accepted.
        reason: String,
    },
}

/// Shows the first few keys of a long list.
pub(crate) fn preview(keys: &[String]) -> String {
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

/// Not `#[from]`: that would also make candle's error the source, and print it twice.
impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Self {
        Error::Candle(e)
    }
}

/// [`Error::Io`] for a failed read of `path`, for `map_err`.
pub(crate) fn read_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let read = hiercog_io::Error::read(path);
    move |cause| Error::Io(read(cause))
}

/// [`Error::Io`] for a failed write of `path`, for `map_err`.
pub(crate) fn write_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let write = hiercog_io::Error::write(path);
    move |cause| Error::Io(write(cause))
}
