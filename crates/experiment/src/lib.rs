//! hiercog-experiment: does training with the label hierarchy make representations generalise
//! better to unseen concepts? One representation per recipe and seed, trained on the seen
//! concepts of a CoG run, each evaluated with that run's own probe sweep on the seen set and
//! every level, then one table.
//!
//! - [`Recipe`]: a row of the table — a loss of `hiercog-losses` (`ce`, `hxe:0.1`, `soft:10`...),
//!   with or without t-ReX's head (`trex`, `trex+hxe:0.1`), or a self-supervised recipe of
//!   `hiercog-train` (`moco`, `mochi[:N:s:s′]`, `mochi-lca`: MoCo-v2, MoCHi, MoCHi-LCA).
//! - [`ExperimentConfig`]: recipes, seeds, training [`Depth`] (the last layers on frozen features,
//!   a small ResNet from images, or ResNet-50 on GPUs), views; TOML.
//! - [`CogRun`]: what the experiment reads from the CoG run (implemented by
//!   `hiercog_run::Pipeline`).
//! - [`Experiment`]: the [`Task`]s (views, one per [`Unit`] = recipe × seed, report), each
//!   resumable; training by `hiercog-train`, the probe sweep and the results store of
//!   `hiercog-run`, tables and plots of `hiercog-report`.
//! - [`summary`]: the table (mean ± std over seeds), each recipe against cross-entropy (and a
//!   `-lca` recipe also against itself without the hierarchy) seed by
//!   seed ([`stats::paired_t_test`]) and the answer: better, worse or no difference beyond seed
//!   noise.
//!
//! - [`slurm`]: the same experiment as Slurm job arrays, for GPUs at ImageNet scale.
//!
//! The crate knows nothing of the terminal: progress goes through `hiercog_run::Observer`.
#![warn(missing_docs)]

pub mod config;
mod error;
pub mod experiment;
pub mod recipe;
pub mod slurm;
mod source;
pub mod stats;
pub mod summary;

pub use config::{Depth, ExperimentConfig, OptimizerChoice, ViewsConfig};
pub use error::{Error, Result};
pub use experiment::{Experiment, Task, Unit, UnitResult};
pub use recipe::Recipe;
pub use source::CogRun;
pub use summary::ExperimentReport;

/// The README's examples, compiled as doc tests (the recipe example also runs).
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
