//! Errors of the report crate.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// What can go wrong while writing a table or a plot.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be written.
    #[error(transparent)]
    Io(#[from] hiercog_io::Error),
    /// The plotting backend failed while drawing a figure.
    #[error("cannot draw plot {path}: {message}")]
    Plot {
        /// The figure.
        path: PathBuf,
        /// What the backend said.
        message: String,
    },
    /// The input of a plot cannot be drawn (nothing to draw, non-finite value, mismatched lengths...).
    #[error("bad input for plot {path}: {message}")]
    BadInput {
        /// The figure.
        path: PathBuf,
        /// What is wrong with the input.
        message: String,
    },
}
