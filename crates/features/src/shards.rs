//! Resumable sharded output: extraction appends rows; every `rows_per_shard` rows become one
//! shard file, written atomically and then recorded in `shards.json`. After a crash, the rows of
//! recorded shards are kept and the extraction resumes after them; the temporaries of a write that
//! was killed midway are swept when the writer reopens the directory.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::formats::Format;
use crate::set::FeatureSet;
use crate::{Error, Result};

const MANIFEST: &str = "shards.json";

#[derive(Debug, Default, Serialize, Deserialize)]
struct Manifest {
    dim: usize,
    /// Rows of each completed shard, in order.
    shards: Vec<usize>,
}

/// Appends feature rows to a directory of shards; see the module doc.
pub struct ShardWriter {
    dir: PathBuf,
    dim: usize,
    rows_per_shard: usize,
    manifest: Manifest,
    x: Vec<f32>,
    labels: Vec<u32>,
}

fn shard_path(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("shard-{i:05}.safetensors"))
}

impl ShardWriter {
    /// Opens `dir` for `dim`-dimensional rows, resuming the shards recorded there.
    pub fn open(dir: &Path, dim: usize, rows_per_shard: usize) -> Result<Self> {
        if dim == 0 || rows_per_shard == 0 {
            return Err(Error::Invalid(format!(
                "shard writer needs dim > 0 and rows per shard > 0 (got {dim}, {rows_per_shard})"
            )));
        }
        std::fs::create_dir_all(dir).map_err(Error::write(dir))?;
        // The directory belongs to this writer: what a killed one was writing is garbage.
        hiercog_io::sweep_temporaries(dir)?;
        let mpath = dir.join(MANIFEST);
        let manifest = match std::fs::read_to_string(&mpath) {
            Ok(text) => {
                let m: Manifest = serde_json::from_str(&text).map_err(|e| {
                    Error::format(
                        &mpath,
                        format!(
                            "corrupt shard manifest ({e}); delete {} to start over",
                            dir.display()
                        ),
                    )
                })?;
                if m.dim != dim {
                    return Err(Error::format(&mpath, format!("shards hold {}-d features, not {dim}-d: another model wrote here; use another output directory", m.dim)));
                }
                m
            }
            Err(_) => Manifest {
                dim,
                shards: Vec::new(),
            },
        };
        // Shard files past the manifest are leftovers of a crash between writing and recording.
        for i in manifest.shards.len().. {
            let p = shard_path(dir, i);
            if !p.exists() {
                break;
            }
            std::fs::remove_file(&p).map_err(Error::write(&p))?;
        }
        Ok(ShardWriter {
            dir: dir.to_path_buf(),
            dim,
            rows_per_shard,
            manifest,
            x: Vec::new(),
            labels: Vec::new(),
        })
    }

    /// Rows safely on disk (in recorded shards).
    pub fn completed_rows(&self) -> usize {
        self.manifest.shards.iter().sum()
    }

    /// Appends rows (`x.len() == labels.len() × dim`); full shards are written out.
    pub fn write_batch(&mut self, x: &[f32], labels: &[u32]) -> Result<()> {
        if x.len() != labels.len() * self.dim {
            return Err(Error::Invalid(format!(
                "batch of {} values for {} labels of dimension {}",
                x.len(),
                labels.len(),
                self.dim
            )));
        }
        self.x.extend_from_slice(x);
        self.labels.extend_from_slice(labels);
        while self.labels.len() >= self.rows_per_shard {
            self.flush(self.rows_per_shard)?;
        }
        Ok(())
    }

    fn flush(&mut self, rows: usize) -> Result<()> {
        let x: Vec<f32> = self.x.drain(..rows * self.dim).collect();
        let labels: Vec<u32> = self.labels.drain(..rows).collect();
        let shard = FeatureSet::from_vec(x, self.dim, labels, None)?;
        shard.save(
            &shard_path(&self.dir, self.manifest.shards.len()),
            Format::Safetensors,
        )?;
        self.manifest.shards.push(rows);
        let mpath = self.dir.join(MANIFEST);
        let text = serde_json::to_string(&self.manifest).expect("manifest serializes");
        Ok(hiercog_io::write_atomic(&mpath, text.as_bytes())?)
    }

    /// Writes the remaining rows, joins all shards into one feature set saved in `format` under the
    /// directory (`Format::file_name`), removes the shards and returns the set's path.
    pub fn finish(mut self, format: Format, class_names: &[String]) -> Result<PathBuf> {
        if !self.labels.is_empty() {
            self.flush(self.labels.len())?;
        }
        let mut x = Vec::with_capacity(self.completed_rows() * self.dim);
        let mut labels = Vec::with_capacity(self.completed_rows());
        for i in 0..self.manifest.shards.len() {
            let shard = FeatureSet::load(&shard_path(&self.dir, i))?;
            x.extend_from_slice(shard.x());
            labels.extend_from_slice(&shard.labels);
        }
        let classes = (!class_names.is_empty()).then(|| class_names.to_vec());
        let set = FeatureSet::from_vec(x, self.dim, labels, classes)?;
        let out = self.dir.join(format.file_name());
        set.save(&out, format)?;
        for i in 0..self.manifest.shards.len() {
            let p = shard_path(&self.dir, i);
            std::fs::remove_file(&p).map_err(Error::write(&p))?;
        }
        let mpath = self.dir.join(MANIFEST);
        std::fs::remove_file(&mpath).map_err(Error::write(&mpath))?;
        Ok(out)
    }
}
