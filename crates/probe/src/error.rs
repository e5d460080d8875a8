//! The probe's error type: every variant says what was wrong and how to fix it.

/// Errors of the probe crate (bad parameters, bad data, a diverged solver).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A hyper-parameter is outside its valid range.
    #[error("invalid parameter `{name}` = {value}: {hint}")]
    InvalidParam {
        name: &'static str,
        value: String,
        hint: &'static str,
    },
    /// The data handed to a solver is inconsistent (shapes, labels).
    #[error("invalid data: {0}")]
    InvalidData(String),
    /// A few-shot draw asked for more samples than a class has.
    #[error(
        "class {class} has only {available} training samples but {shots}-shot needs {shots}; \
         allow fewer (`allow_fewer`) to use all {available}, or pick fewer shots"
    )]
    TooFewSamples {
        class: u32,
        available: usize,
        shots: usize,
    },
    /// The train/val split held out nothing (every class has fewer than 1/fraction rows).
    #[error(
        "holding out int({fraction}·n) rows per class from {rows} training rows leaves an empty \
         validation set; give more training rows or a larger val_fraction"
    )]
    EmptyValidation { rows: usize, fraction: f64 },
    /// The solver produced a non-finite loss (e.g. SGD diverged at a large learning rate).
    #[error("the loss became non-finite ({loss}) at {stage}; lower the learning rate or raise regularization")]
    NonFinite { loss: f64, stage: String },
    /// A class-distance matrix does not match the number of classes.
    #[error("the class-distance matrix is {got}x{got} but the classifier has {expected} classes")]
    DistanceShape { got: usize, expected: usize },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
