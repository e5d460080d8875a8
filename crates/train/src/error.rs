//! The crate's error type: each variant names the file, option or training step at fault.

use std::path::PathBuf;

/// Errors of training.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Training data that cannot be used (unreadable images, empty sets, label problems).
    #[error("{path}: {reason}")]
    Data {
        /// The file at fault (the first one, when several are).
        path: PathBuf,
        /// What is wrong with it and what to do.
        reason: String,
    },

    /// A configuration value out of range.
    #[error("invalid training setting {name} = {value}: {reason}")]
    Setting {
        /// The setting, as the configuration names it.
        name: &'static str,
        /// The refused value.
        value: String,
        /// Why it is refused, with the accepted range.
        reason: String,
    },

    /// The loss (or a weight) stopped being finite.
    #[error(
        "training diverged: the loss is {loss} at epoch {epoch}, step {step}; {kept}; \
         lower the learning rate or check the data"
    )]
    Diverged {
        /// The epoch (1-based) that failed; nothing of it is saved.
        epoch: usize,
        /// The step within it (1-based).
        step: usize,
        /// The non-finite loss (NaN when a weight went non-finite instead).
        loss: f32,
        /// Which checkpoint is kept, e.g. "the checkpoint of epoch 3 in DIR is kept".
        kept: String,
    },

    /// A run directory that holds another training.
    #[error("{dir} cannot resume: {reason}")]
    Resume {
        /// The run directory, left untouched.
        dir: PathBuf,
        /// The training found there against the one asked for.
        reason: String,
    },

    /// A checkpoint that cannot be read or does not fit the model.
    #[error("cannot read checkpoint {path}: {reason}")]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What is missing or mismatched.
        reason: String,
    },

    /// Loading images or a backbone, or saving the trained model, failed in `hiercog-nn`.
    #[error(transparent)]
    Nn(#[from] hiercog_nn::Error),

    /// Recording epoch metrics in the results store failed.
    #[error(transparent)]
    Store(#[from] hiercog_store::Error),

    /// Writing a checkpoint, metrics or cached views failed.
    #[error(transparent)]
    Write(#[from] hiercog_io::Error),

    /// candle failed in a tensor operation.
    #[error("tensor computation failed: {0}")]
    Candle(candle_core::Error),
}

/// Not `#[from]`: that would also make candle's error the source, and print it twice.
impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Self {
        Error::Candle(e)
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tensor_error_prints_its_cause_once() {
        let cause = candle_core::Error::Msg("shape mismatch".into());
        let err = Error::from(cause);
        assert_eq!(err.to_string(), "tensor computation failed: shape mismatch");
        assert!(
            std::error::Error::source(&err).is_none(),
            "the cause would print twice under {{:#}}"
        );
    }
}
