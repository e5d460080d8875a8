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
//!   reduce/<reduction>-<fp>/    a reduction before probing, fitted on the seen train features
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
    /// The run directory rooted at `root` (nothing is created).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        RunDir { root: root.into() }
    }

    /// The run directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `run.toml`: the effective configuration, which a later run in the directory must match.
    pub fn config(&self) -> PathBuf {
        self.root.join("run.toml")
    }

    /// `images/`: where the synthetic image set is rendered.
    pub fn synthetic_images(&self) -> PathBuf {
        self.root.join("images")
    }

    /// `levels/`: the CoG benchmark directory (levels, splits, their report).
    pub fn levels(&self) -> PathBuf {
        self.root.join("levels")
    }

    /// `seen.tsv`: the train/test image lists of the seen set.
    pub fn seen_splits(&self) -> PathBuf {
        self.root.join("seen.tsv")
    }

    /// `features/<dataset>/<split>/`: the shards while extracting, then one feature set.
    pub fn features(&self, dataset: &str, split: Split) -> PathBuf {
        self.root
            .join("features")
            .join(dataset)
            .join(split.to_string())
    }

    /// `results.sqlite`: one record per finished probe run.
    pub fn store(&self) -> PathBuf {
        self.root.join("results.sqlite")
    }

    /// `results/`: per-task result files of cluster array tasks, merged by the report task.
    pub fn result_files(&self) -> PathBuf {
        self.root.join("results")
    }

    /// `report/`: `report.md`, `report.json` and the plots.
    pub fn report(&self) -> PathBuf {
        self.root.join("report")
    }

    /// The directory of a reduction model fitted for probing (`name`: the reduction and the
    /// features it was fitted on).
    pub fn reduction(&self, name: &str) -> PathBuf {
        self.root.join("reduce").join(name)
    }

    /// The lock file of the task labelled `label` (its words joined by `-`).
    pub fn lock(&self, label: &str) -> PathBuf {
        let name: Vec<&str> = label.split_whitespace().collect();
        self.root
            .join("locks")
            .join(format!("{}.lock", name.join("-").replace('/', "-")))
    }
}
