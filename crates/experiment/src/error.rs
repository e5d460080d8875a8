//! The crate's error type: a recipe or setting at fault (named, with what to do), or the crate
//! that failed, with its own message.

use std::path::PathBuf;

/// Errors of an experiment.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A recipe that cannot be read (unknown name, parameter out of range).
    #[error("recipe {recipe:?}: {message}")]
    Recipe {
        /// The recipe as given.
        recipe: String,
        /// What is wrong and the expected form.
        message: String,
    },
    /// The experiment config is not valid TOML or has unknown fields or names.
    #[error("experiment config {path}: {message}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// What the TOML reader said.
        message: String,
    },
    /// The experiment cannot proceed as configured (what to do is in the message).
    #[error("{0}")]
    Invalid(String),
    /// A result file of the experiment directory that cannot be read.
    #[error("{path}: {reason}; delete it to redo that part of the experiment")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] hiercog_io::Error),
    /// The CoG run the experiment builds on failed (boxed: its errors are large).
    #[error(transparent)]
    Run(Box<hiercog_run::Error>),
    /// Training failed (boxed, as the other large errors).
    #[error(transparent)]
    Train(Box<hiercog_train::Error>),
    /// The label tree or a loss could not be built.
    #[error(transparent)]
    Losses(#[from] hiercog_losses::Error),
    /// A feature set is unreadable or invalid.
    #[error(transparent)]
    Features(#[from] hiercog_features::Error),
    /// The taxonomy failed.
    #[error(transparent)]
    Taxonomy(#[from] hiercog_taxonomy::Error),
    /// The backbone failed (boxed).
    #[error(transparent)]
    Nn(Box<hiercog_nn::Error>),
    /// A table or plot could not be written.
    #[error(transparent)]
    Report(#[from] hiercog_report::Error),
}

/// `From` for the boxed variants.
macro_rules! boxed_from {
    ($($variant:ident($source:ty)),*) => {$(
        impl From<$source> for Error {
            fn from(e: $source) -> Self {
                Error::$variant(Box::new(e))
            }
        }
    )*};
}

boxed_from!(
    Run(hiercog_run::Error),
    Train(hiercog_train::Error),
    Nn(hiercog_nn::Error)
);

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
