//! The run directory: where each stage keeps its output. One place names every path, so stages,
//! the report and the Slurm plan agree.
//!
//! ```text
//! RUN_DIR/
//!   run.toml                    the effective config (written by prepare; a later run must match)
//!   images/                     the synthetic image set (images.source = synthetic)
//!   levels/                     the CoG benchmark directory (levels, splits, report, plots)
//!   seen.tsv                    train/test image lists of the seen set (path, wnid, split)
//!   features/<dataset>/<split>/ extracted features (sharded while running, then one feature set)
//!   results.sqlite              the results store (one record per finished probe run)
//!   results/                    per-task result files written by cluster array tasks
//!   locks/                      one lock file per task (who holds it, while it runs)
//!   report/                     report.md, report.json, plots
//! ```

use std::path::{Path, PathBuf};

use hiercog_cog::Split;

/// The name of the seen-concept dataset (ImageNet-1K in ImageNet-CoG); levels are named L1..Lk.
pub const SEEN: &str = "seen";

/// Paths of one run directory.
#[derive(Clone, Debug)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        RunDir { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn config(&self) -> PathBuf {
        self.root.join("run.toml")
    }

    pub fn synthetic_images(&self) -> PathBuf {
        self.root.join("images")
    }

    pub fn levels(&self) -> PathBuf {
        self.root.join("levels")
    }

    pub fn seen_splits(&self) -> PathBuf {
        self.root.join("seen.tsv")
    }

    pub fn features(&self, dataset: &str, split: Split) -> PathBuf {
        self.root
            .join("features")
            .join(dataset)
            .join(split.to_string())
    }

    pub fn store(&self) -> PathBuf {
        self.root.join("results.sqlite")
    }

    pub fn result_files(&self) -> PathBuf {
        self.root.join("results")
    }

    pub fn report(&self) -> PathBuf {
        self.root.join("report")
    }

    /// The lock file of the task labelled `label` (its words joined by `-`).
    pub fn lock(&self, label: &str) -> PathBuf {
        let name: Vec<&str> = label.split_whitespace().collect();
        self.root
            .join("locks")
            .join(format!("{}.lock", name.join("-").replace('/', "-")))
    }
}
