//! The crate's error type: each variant names the file (and line) and says what to do.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// What can go wrong while reading or writing a file.
///
/// The operating system's error is part of the message, not a [`source`](std::error::Error::source),
/// so that `{:#}` chains print it once.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read.
    #[error("cannot read {path}: {cause}")]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        cause: std::io::Error,
    },
    /// A file or directory could not be written; the previous version, if any, is untouched.
    #[error("cannot write {path}: {cause}{hint}", hint = write_hint(cause))]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        cause: std::io::Error,
    },
    /// A line of a text file is malformed.
    #[error("{path}:{line}: {message}")]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong and what was expected.
        message: String,
    },
}

impl Error {
    /// A [`Error::Read`] of `path`, for `map_err`.
    pub fn read(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |cause| Error::Read { path, cause }
    }

    /// A [`Error::Write`] of `path`, for `map_err`.
    pub fn write(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |cause| Error::Write { path, cause }
    }
}

/// What to do about the usual write failures: a full disk (ENOSPC 28, EDQUOT 122 on Linux), a
/// directory the user may not write to.
fn write_hint(e: &std::io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(28) | Some(122) => {
            " (the disk is full: free some space and re-run; the previous version of the file is untouched)"
        }
        _ if e.kind() == std::io::ErrorKind::PermissionDenied => {
            " (check that you may write to that directory, or choose another)"
        }
        _ => "",
    }
}
