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

/// The shard files in `dir` with their indices, recorded or not (none when `dir` is missing).
fn shard_files(dir: &Path) -> Result<Vec<(usize, PathBuf)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::read(dir)(e)),
    };
    let mut shards = Vec::new();
    for entry in entries {
        let name = entry.map_err(Error::read(dir))?.file_name();
        let index = name.to_str().and_then(|n| {
            n.strip_prefix("shard-")?
                .strip_suffix(".safetensors")?
                .parse()
                .ok()
        });
        if let Some(i) = index {
            shards.push((i, dir.join(name)));
        }
    }
    shards.sort();
    Ok(shards)
}

fn remove_file(path: &Path) -> Result<()> {
    std::fs::remove_file(path).map_err(Error::write(path))
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
        for (i, p) in shard_files(dir)? {
            if i >= manifest.shards.len() {
                remove_file(&p)?;
            }
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
    /// directory (`Format::file_name`), removes the shards ([`remove_shards`]) and returns the
    /// set's path. The abort point `remove shards` lies between the set's commit and the removal.
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
        hiercog_io::abort_point("remove shards");
        remove_shards(&self.dir)?;
        Ok(out)
    }
}

/// Removes the shards and the shard manifest of `dir`, returning what was removed: what
/// [`ShardWriter::finish`] removes once the joined set is committed, and what a process killed
/// between that commit and the removal leaves behind. Call it on resuming a directory whose
/// joined feature set is committed (the shards are then redundant: at ImageNet scale, gigabytes).
pub fn remove_shards(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    // The manifest goes first: a writer reopening a half-cleaned directory must not count on
    // shards that are gone (unrecorded shard files are removed when it opens).
    let manifest = dir.join(MANIFEST);
    if manifest.exists() {
        remove_file(&manifest)?;
        removed.push(manifest);
    }
    for (_, p) in shard_files(dir)? {
        remove_file(&p)?;
        removed.push(p);
    }
    Ok(removed)
}
