//! Errors of the report crate.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// What can go wrong while writing a table or a plot.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be written.
    #[error("cannot write {path}: {source} (check that the directory exists, is writable and the disk is not full)")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The plotting backend failed while drawing a figure.
    #[error("cannot draw plot {path}: {message}")]
    Plot { path: PathBuf, message: String },
    /// The input of a plot cannot be drawn (nothing to draw, non-finite value, mismatched lengths...).
    #[error("bad input for plot {path}: {message}")]
    BadInput { path: PathBuf, message: String },
}
