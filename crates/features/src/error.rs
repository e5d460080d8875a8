//! The crate's error type: each variant names the file and the offending rows, labels or values.

use std::path::PathBuf;

/// Errors of feature sets; each names the file and the offending rows, labels or values.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] hiercog_io::Error),
    /// A file is not a feature set of the expected format.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// Features and labels have different row counts.
    #[error(
        "{path}: {rows} rows of features but {labels} labels: both must describe the same images"
    )]
    RowMismatch {
        /// The feature set.
        path: PathBuf,
        /// Rows of the feature matrix.
        rows: usize,
        /// Number of labels.
        labels: usize,
    },
    /// Some rows hold NaN or Inf.
    #[error("{path}: non-finite features (NaN or Inf) in {count} rows: {examples}; re-extract those images or drop the rows")]
    NonFinite {
        /// The feature set.
        path: PathBuf,
        /// Rows with a non-finite value.
        count: usize,
        /// The first such rows.
        examples: String,
    },
    /// Labels are not 0..C-1 with every class present.
    #[error("{path}: labels must be 0..C-1 with every class present; {problem} (remap them with `remap_labels`)")]
    Labels {
        /// The feature set.
        path: PathBuf,
        /// The first offending label.
        problem: String,
    },
    /// Train and test sets do not fit together.
    #[error("train ({train}) and test ({test}) disagree: {problem}")]
    Mismatch {
        /// The train set.
        train: PathBuf,
        /// The test set.
        test: PathBuf,
        /// How they differ.
        problem: String,
    },
    /// A `.pth` feature file could not be unpickled.
    #[error(transparent)]
    Pickle(#[from] hiercog_pickle::Error),
    /// An argument is out of range.
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// A read error of `path`, for `map_err`.
    pub(crate) fn read(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let read = hiercog_io::Error::read(path);
        move |cause| Error::Io(read(cause))
    }

    /// A write error of `path`, for `map_err`.
    pub(crate) fn write(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let write = hiercog_io::Error::write(path);
        move |cause| Error::Io(write(cause))
    }

    pub(crate) fn format(path: impl Into<PathBuf>, message: impl Into<String>) -> Error {
        Error::Format {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
