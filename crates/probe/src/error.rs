//! The probe's error type: every variant says what was wrong and how to fix it.

/// Errors of the probe crate (bad parameters, bad data, a diverged solver).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A hyper-parameter is outside its valid range.
    #[error("invalid parameter `{name}` = {value}: {hint}")]
    InvalidParam {
        /// The parameter's name.
        name: &'static str,
        /// The value given.
        value: String,
        /// The valid range and what to do.
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
        /// The class label.
        class: u32,
        /// Its training samples.
        available: usize,
        /// The samples per class asked for.
        shots: usize,
    },
    /// The train/val split held out nothing (every class has fewer than 1/fraction rows).
    #[error(
        "holding out int({fraction}·n) rows per class from {rows} training rows leaves an empty \
         validation set; give more training rows or a larger val_fraction"
    )]
    EmptyValidation {
        /// Training rows.
        rows: usize,
        /// The held-out fraction.
        fraction: f64,
    },
    /// The solver produced a non-finite loss (e.g. SGD diverged at a large learning rate).
    #[error("the loss became non-finite ({loss}) at {stage}; lower the learning rate or raise regularization")]
    NonFinite {
        /// The loss value.
        loss: f64,
        /// Which fit and iteration.
        stage: String,
    },
    /// A class-distance matrix does not match the number of classes.
    #[error("the class-distance matrix is {got}x{got} but the classifier has {expected} classes")]
    DistanceShape {
        /// The matrix's side.
        got: usize,
        /// The classifier's classes.
        expected: usize,
    },
    /// The k-NN search or the retrieval evaluation of the k-NN probe failed.
    #[error("k-NN probe")]
    Retrieval(#[from] hiercog_retrieval::Error),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
