//! hiercog-run: the `hiercog run` pipeline — the whole ImageNet-CoG evaluation of one backbone.
//!
//! A run is a list of [`Task`]s over one run directory ([`RunDir`]), all derived from a
//! [`RunConfig`]:
//!
//! 1. [`Task::Prepare`]: images (the synthetic set is rendered if asked for), the levels of unseen
//!    concepts (built by `hiercog-cog`'s level builder, imported from the official pickles, or read
//!    from a benchmark directory), and the train/test image lists of the seen set and every level;
//! 2. [`Task::Extract`], one per dataset × split: features by a `hiercog-nn` backbone, sharded and
//!    resumable;
//! 3. [`Task::Probe`], one per dataset × shots × seed: the `hiercog-probe` protocol through the
//!    probe sweep that `hiercog probe` also uses ([`sweep`]), each result recorded under a content
//!    key ([`results`]), so nothing finished is ever redone;
//! 4. [`Task::Report`]: `report.md`, `report.json` and plots ([`report`]), made from the finished
//!    runs the pipeline collects ([`Pipeline::report_input`]).
//!
//! [`Pipeline::run_all`] does them in order in one process; a Slurm job array runs the same tasks
//! one per array index ([`slurm`]). Every stage checks what is already on disk first, so a re-run
//! after a crash or `kill -9` redoes nothing finished and leaves nothing corrupt. [`estimate`]
//! prices a configured run before anything runs (`hiercog plan --estimate`).

#![warn(missing_docs)]

pub mod config;
mod error;
pub mod estimate;
mod layout;
mod prepare;
pub mod report;
pub mod results;
pub mod slurm;
mod stages;
pub mod sweep;

pub use config::{ImageSource, LevelSource, RunConfig};
pub use error::{Error, Result};
pub use layout::{RunDir, SEEN};
pub use stages::{Pipeline, Task};

/// The README's example, compiled and run as a doc test.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// How a running pipeline tells its user what happens; the CLI draws it with progress bars.
pub trait Observer: Sync {
    /// A task starts (`detail` says what it will do).
    fn task(&self, label: &str, detail: &str);
    /// Progress inside the current task: `done` of `total` units of `what`.
    fn progress(&self, what: &str, done: usize, total: usize);
    /// Something worth a line: reused work, skipped images, warnings.
    fn note(&self, message: &str);
}

/// An observer that says nothing (tests, library use).
pub struct Silent;

impl Observer for Silent {
    fn task(&self, _: &str, _: &str) {}
    fn progress(&self, _: &str, _: usize, _: usize) {}
    fn note(&self, _: &str) {}
}
