//! The crate's error type: the crate that failed, with its own message, or a pipeline-level problem.

use std::path::PathBuf;

/// Errors of the pipeline: the crate that failed, with its own message, or a pipeline-level problem.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The run config is not valid TOML or has unknown fields or names.
    #[error("config {path}: {message}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// What the TOML reader said.
        message: String,
    },
    /// The run cannot proceed as configured (what to do is in the message).
    #[error("{0}")]
    Invalid(String),
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] hiercog_io::Error),
    /// The taxonomy failed.
    #[error(transparent)]
    Taxonomy(#[from] hiercog_taxonomy::Error),
    /// The level builder failed.
    #[error(transparent)]
    Cog(#[from] hiercog_cog::Error),
    /// The synthetic image set failed.
    #[error(transparent)]
    Synth(#[from] hiercog_synth::Error),
    /// The backbone or the extraction failed.
    #[error(transparent)]
    Nn(#[from] hiercog_nn::Error),
    /// A feature set is unreadable or invalid.
    #[error(transparent)]
    Features(#[from] hiercog_features::Error),
    /// The probe failed.
    #[error(transparent)]
    Probe(#[from] hiercog_probe::Error),
    /// The reduction before probing failed.
    #[error(transparent)]
    Reduce(#[from] hiercog_reduce::Error),
    /// The results store failed.
    #[error(transparent)]
    Store(#[from] hiercog_store::Error),
    /// A table or plot could not be written.
    #[error(transparent)]
    Report(#[from] hiercog_report::Error),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
