//! Where finished probe runs are recorded.
//!
//! A single process (`hiercog run`) writes into the SQLite results store of the run directory. Array
//! tasks on a cluster write one small JSON file per run into `results/` instead (atomically; shared
//! file systems and SQLite locking do not mix), and `hiercog report` merges those files into the store.
//! Lookups see both, so a finished run is never redone, whoever finished it.

use std::path::PathBuf;

use hiercog_io::write_atomic;
use hiercog_probe::ProbeResult;
use hiercog_store::{ResultsStore, RunKey};
use serde::{Deserialize, Serialize};

use crate::layout::RunDir;
use crate::sweep::ProbeRecords;
use crate::{Error, Result};

/// One finished probe run of the pipeline.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProbeRecord {
    /// `seen` or a level name.
    pub dataset: String,
    /// Images per class; `None` = all data.
    pub shots: Option<usize>,
    /// The run's seed.
    pub seed: u64,
    /// The protocol's result.
    pub result: ProbeResult,
}

/// Record kind in the store.
const KIND: &str = "cog-probe";

/// The results of one run directory.
pub struct Results {
    store: ResultsStore,
    files: PathBuf,
    write_files: bool,
}

impl Results {
    /// Opens the results of `dir`; with `write_files`, new records go to per-task files.
    pub fn open(dir: &RunDir, write_files: bool) -> Result<Self> {
        Ok(Results {
            store: ResultsStore::open(&dir.store())?,
            files: dir.result_files(),
            write_files,
        })
    }

    fn file(&self, key: &RunKey) -> PathBuf {
        self.files.join(format!("{}.json", key.as_str()))
    }

    /// The record of a finished run, from a per-task file or the store.
    pub fn get(&self, key: &RunKey) -> Result<Option<ProbeRecord>> {
        let file = self.file(key);
        let value = if file.is_file() {
            let text = std::fs::read_to_string(&file).map_err(hiercog_io::Error::read(&file))?;
            Some(serde_json::from_str(&text).map_err(|e| corrupt(&file.display().to_string(), e))?)
        } else {
            self.store.get(key)?
        };
        value
            .map(|v| {
                serde_json::from_value(v)
                    .map_err(|e| corrupt(&format!("results store record {key}"), e))
            })
            .transpose()
    }

    /// Records a finished run: in the store, or in its own file with `write_files`.
    pub fn put(&self, key: &RunKey, record: &ProbeRecord) -> Result<()> {
        let value = serde_json::to_value(record).expect("records serialize");
        if self.write_files {
            let path = self.file(key);
            write_atomic(&path, value.to_string().as_bytes())?;
        } else {
            self.store.put(key, KIND, &value)?;
        }
        Ok(())
    }

    /// Moves per-task result files into the store; returns how many were merged. Call it when no
    /// probe task runs (the report stage): it also sweeps the temporaries of killed tasks.
    pub fn merge_files(&self) -> Result<usize> {
        hiercog_io::sweep_temporaries(&self.files)?;
        let Ok(entries) = std::fs::read_dir(&self.files) else {
            return Ok(0);
        };
        let mut merged = 0;
        for entry in entries {
            let path = entry.map_err(hiercog_io::Error::read(&self.files))?.path();
            let (Some(stem), Some("json")) = (
                path.file_stem().and_then(|s| s.to_str()),
                path.extension().and_then(|e| e.to_str()),
            ) else {
                continue;
            };
            let text = std::fs::read_to_string(&path).map_err(hiercog_io::Error::read(&path))?;
            let value: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| corrupt(&path.display().to_string(), e))?;
            self.store.put(&RunKey::from_hex(stem), KIND, &value)?;
            std::fs::remove_file(&path).map_err(hiercog_io::Error::write(&path))?;
            merged += 1;
        }
        Ok(merged)
    }
}

/// The records of one dataset's probe runs, for a [`ProbeSweep`](crate::sweep::ProbeSweep).
pub struct DatasetRecords<'a> {
    /// Where the records go.
    pub results: &'a Results,
    /// The dataset the runs belong to.
    pub dataset: &'a str,
}

impl ProbeRecords for DatasetRecords<'_> {
    fn get(&self, key: &RunKey) -> Result<Option<ProbeResult>> {
        Ok(self.results.get(key)?.map(|r| r.result))
    }

    fn put(&self, key: &RunKey, result: &ProbeResult) -> Result<()> {
        self.results.put(
            key,
            &ProbeRecord {
                dataset: self.dataset.to_string(),
                shots: result.shots,
                seed: result.seed,
                result: result.clone(),
            },
        )
    }
}

fn corrupt(what: &str, e: serde_json::Error) -> Error {
    Error::Invalid(format!(
        "{what} is not a probe record ({e}): delete it to redo that run"
    ))
}
