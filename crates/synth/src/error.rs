//! Errors of the synthetic image set generator.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// What can go wrong while choosing concepts or generating the image set.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A concept of the list is not in the taxonomy (or not a well-formed wnid).
    #[error("concept {wnid:?} (entry {index} of the concept list): {cause}")]
    Concept {
        /// The concept as listed.
        wnid: String,
        /// Its 0-based position in the list.
        index: usize,
        /// Why the taxonomy refused it.
        cause: hiercog_taxonomy::Error,
    },
    /// The same concept is listed twice.
    #[error(
        "concept {wnid:?} is listed twice (entries {first} and {second}); list each wnid once"
    )]
    Duplicate {
        /// The repeated concept.
        wnid: String,
        /// 0-based position of its first entry.
        first: usize,
        /// 0-based position of the repeat.
        second: usize,
    },
    /// A parameter is out of range.
    #[error("invalid parameter {name} = {value}: {hint}")]
    BadParam {
        /// The field of [`crate::SynthParams`] or [`crate::Variation`].
        name: &'static str,
        /// The refused value, as given.
        value: String,
        /// The accepted range or what to do instead.
        hint: &'static str,
    },
    /// A file or directory could not be read or written.
    #[error("cannot access {path}: {cause} (check the path, permissions and free disk space)")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        cause: std::io::Error,
    },
    /// An image could not be encoded.
    #[error("cannot encode image {path}: {message}")]
    Encode {
        /// The PNG that was being written.
        path: PathBuf,
        /// What the encoder said.
        message: String,
    },
    /// The output directory already holds something else than this exact image set.
    #[error("output directory {path} already exists and {reason}; remove it or choose another output directory")]
    OutputExists {
        /// The output directory.
        path: PathBuf,
        /// What is there instead (another format, other parameters, foreign files).
        reason: String,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |cause| Error::Io { path, cause }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cause_is_printed_once() {
        let err = Error::io("out/images")(std::io::Error::from_raw_os_error(13));
        assert_eq!(
            err.to_string(),
            "cannot access out/images: Permission denied (os error 13) (check the path, \
             permissions and free disk space)"
        );
        assert!(std::error::Error::source(&err).is_none());
    }
}
