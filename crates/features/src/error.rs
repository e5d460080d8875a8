use std::path::PathBuf;

/// Errors of feature sets; each names the file and the offending rows, labels or values.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    #[error(
        "{path}: {rows} rows of features but {labels} labels: both must describe the same images"
    )]
    RowMismatch {
        path: PathBuf,
        rows: usize,
        labels: usize,
    },
    #[error("{path}: non-finite features (NaN or Inf) in {count} rows: {examples}; re-extract those images or drop the rows")]
    NonFinite {
        path: PathBuf,
        count: usize,
        examples: String,
    },
    #[error("{path}: labels must be 0..C-1 with every class present; {problem} (remap them with `remap_labels`, or `--remap-labels` on the command line)")]
    Labels { path: PathBuf, problem: String },
    #[error("train ({train}) and test ({test}) disagree: {problem}")]
    Mismatch {
        train: PathBuf,
        test: PathBuf,
        problem: String,
    },
    #[error(transparent)]
    Pickle(#[from] hiercog_pickle::Error),
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }

    pub(crate) fn format(path: impl Into<PathBuf>, message: impl Into<String>) -> Error {
        Error::Format {
            path: path.into(),
            message: message.into(),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
