//! Where finished probe runs are recorded.
//!
//! A single process (`hiercog run`) writes into the SQLite results store of the run directory. Array
//! tasks on a cluster write one small JSON file per run into `results/` instead (atomically) and
//! never open the store: SQLite's locking (WAL mode) is unsafe on network file systems such as
//! NFS or Lustre. The report job, alone, copies those files into the store; the files stay, so that
//! a resubmitted array task, which sees only them, never redoes a finished run.

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
    /// Where it was computed (floating-point results may move across CPUs); `None` in records
    /// written before machines were recorded.
    #[serde(default)]
    pub machine: Option<Machine>,
}

/// The processor a probe run was computed on and the threads it used.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Machine {
    /// The CPU model (`model name` of `/proc/cpuinfo`), or `unknown CPU`.
    pub cpu: String,
    /// Threads of the compute pool (rayon: `RAYON_NUM_THREADS` or the available cores).
    pub threads: usize,
}

impl Machine {
    /// This process's machine.
    pub fn this() -> Machine {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| {
                text.lines()
                    .filter_map(|l| l.split_once(':'))
                    .find(|(k, _)| k.trim() == "model name")
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        Machine {
            cpu,
            threads: rayon::current_num_threads(),
        }
    }
}

impl std::fmt::Display for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}, {} threads", self.cpu, self.threads)
    }
}

/// Record kind in the store.
const KIND: &str = "cog-probe";

/// The results of one run directory.
pub struct Results {
    /// The SQLite store; `None` for array tasks, which use their own files only.
    store: Option<ResultsStore>,
    files: PathBuf,
}

impl Results {
    /// Opens the results of `dir`. With `files_only` (cluster array tasks), the SQLite store is
    /// not opened: records are read from and written to per-task files alone.
    pub fn open(dir: &RunDir, files_only: bool) -> Result<Self> {
        let store = if files_only {
            None
        } else {
            Some(ResultsStore::open(&dir.store())?)
        };
        Ok(Results {
            store,
            files: dir.result_files(),
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
        } else if let Some(store) = &self.store {
            store.get(key)?
        } else {
            None
        };
        value
            .map(|v| {
                serde_json::from_value(v)
                    .map_err(|e| corrupt(&format!("results store record {key}"), e))
            })
            .transpose()
    }

    /// Records a finished run: in the store, or in its own file for an array task (after
    /// removing what a killed attempt of the same task left half-written).
    pub fn put(&self, key: &RunKey, record: &ProbeRecord) -> Result<()> {
        let value = serde_json::to_value(record).expect("records serialize");
        match &self.store {
            Some(store) => store.put(key, KIND, &value)?,
            None => {
                let path = self.file(key);
                hiercog_io::sweep_temporaries_of(&path)?;
                write_atomic(&path, value.to_string().as_bytes())?;
            }
        }
        Ok(())
    }

    /// Copies per-task result files into the store (they stay: array tasks see only them);
    /// returns how many were copied. Call it when no probe task runs (the report stage): it also
    /// sweeps the temporaries of killed tasks.
    pub fn merge_files(&self) -> Result<usize> {
        let Some(store) = &self.store else {
            return Ok(0);
        };
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
            store.put(&RunKey::from_hex(stem), KIND, &value)?;
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
                machine: Some(Machine::this()),
            },
        )
    }
}

fn corrupt(what: &str, e: serde_json::Error) -> Error {
    Error::Invalid(format!(
        "{what} is not a probe record ({e}): delete it to redo that run"
    ))
}
