//! Errors of the synthetic image set generator.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// What can go wrong while choosing concepts or generating the image set.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A concept of the list is not in the taxonomy (or not a well-formed wnid).
    #[error("concept {wnid:?} (entry {index} of the concept list): {source}")]
    Concept {
        wnid: String,
        index: usize,
        #[source]
        source: hiercog_taxonomy::Error,
    },
    /// The same concept is listed twice.
    #[error(
        "concept {wnid:?} is listed twice (entries {first} and {second}); list each wnid once"
    )]
    Duplicate {
        wnid: String,
        first: usize,
        second: usize,
    },
    /// A parameter is out of range.
    #[error("invalid parameter {name} = {value}: {hint}")]
    BadParam {
        name: &'static str,
        value: String,
        hint: &'static str,
    },
    /// A file or directory could not be read or written.
    #[error("cannot access {path}: {source} (check the path, permissions and free disk space)")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An image could not be encoded.
    #[error("cannot encode image {path}: {message}")]
    Encode { path: PathBuf, message: String },
    /// The output directory already holds something else than this exact image set.
    #[error("output directory {path} already exists and {reason}; remove it or choose another output directory")]
    OutputExists { path: PathBuf, reason: String },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}
