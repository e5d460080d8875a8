//! Tables and plots for hiercog reports.
//!
//! [`table::Table`] renders the same rows as markdown (for `report.md`), CSV and aligned terminal text, and
//! [`table::fmt_mean_std`] formats per-seed results as `"71.3 ± 0.4"`. [`plot`] draws the report's figures
//! (few-shot [`plot::line`] curves, level-similarity [`plot::histogram`]s, grouped [`plot::bars`] comparing
//! backbones) to both PNG and SVG with a bundled font, so no system font or fontconfig is needed.
//! Every figure is written atomically (`hiercog-io`): an interrupted run never leaves a half-written
//! figure behind.

#![warn(missing_docs)]

mod error;
pub mod plot;
pub mod table;

pub use error::{Error, Result};

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
