use std::path::PathBuf;

/// Errors of the pipeline: the crate that failed, with its own message, or a pipeline-level problem.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("config {path}: {message}")]
    Config { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Taxonomy(#[from] hiercog_taxonomy::Error),
    #[error(transparent)]
    Cog(#[from] hiercog_cog::Error),
    #[error(transparent)]
    Synth(#[from] hiercog_synth::Error),
    #[error(transparent)]
    Nn(#[from] hiercog_nn::Error),
    #[error(transparent)]
    Features(#[from] hiercog_features::Error),
    #[error(transparent)]
    Probe(#[from] hiercog_probe::ProbeError),
    #[error(transparent)]
    Store(#[from] hiercog_store::Error),
    #[error(transparent)]
    Report(#[from] hiercog_report::Error),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
