//! hiercog-reduce: dimensionality reduction of feature sets, scikit-learn style (a params struct
//! checked when fitting → `fit` → a fitted model with `transform`).
//!
//! * [`PcaParams`] → [`FittedPca`]: PCA and PCA-whitening (with variance shrinkage), equal to
//!   scikit-learn's `PCA` (fixtures).
//! * [`TldrParams`] → [`FittedTldr`]: TLDR (Kalantidis et al., TMLR 2022) with the reference's
//!   interface and defaults, trained with the Barlow Twins loss and LARS (schedule:
//!   [`learning_rate`]), forward and backward passes written out on faer GEMMs; [`Trainer`] runs
//!   single steps.
//! * [`Reduction`]: a method and its parameters named in one string (`tldr:128`,
//!   `pca-whiten:64`), fitted into a [`Reducer`].
//! * [`Reducer`]: any fitted model, saved and loaded as a directory (JSON + safetensors).
//!
//! The k-NN graph of TLDR comes from `hiercog-retrieval`. Progress goes through callbacks.

#![warn(missing_docs)]

mod data;
mod error;
mod model;
mod pca;
mod reduction;
mod tldr;
mod weights;

pub use error::{Error, Result};
pub use model::{Reducer, MODEL_JSON, MODEL_WEIGHTS};
pub use pca::{FittedPca, PcaParams};
pub use reduction::Reduction;
pub use tldr::{
    learning_rate, FitProgress, FittedTldr, KnnMethod, NetKind, NetSpec, TldrParams, Trainer,
};
pub use weights::Array;

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
