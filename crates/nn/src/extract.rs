//! The extraction loop: images → preprocessed batches → backbone → sharded feature files.
//!
//! A producer thread decodes and preprocesses the next batches in parallel (rayon) while the
//! current batch runs through the network, with at most `queue_depth` batches in flight.
//! Rows go to `hiercog-features`' `ShardWriter`; after every batch a small state file records
//! how far the item list has been consumed and which images were skipped, so an interrupted
//! run resumes at the first row not yet in a completed shard. Unreadable images are skipped,
//! reported through the progress callback and listed in `extraction.json`.

use crate::backbone::Backbone;
use crate::error::{read_err, write_err, Error, Result};
use hiercog_features::{Format, ShardWriter};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;
use std::time::Instant;

/// Knobs of [`extract`].
#[derive(Debug, Clone)]
pub struct ExtractOptions {
    /// Images per forward pass.
    pub batch_size: usize,
    /// Rows per feature shard (the granularity of resuming).
    pub rows_per_shard: usize,
    /// Format of the final feature set.
    pub format: Format,
    /// Batches decoded ahead of the forward pass.
    pub queue_depth: usize,
    /// Class name (wnid) of each label, stored with the features.
    pub classes: Vec<String>,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        ExtractOptions {
            batch_size: 64,
            rows_per_shard: 8192,
            format: Format::Npy,
            queue_depth: 2,
            classes: Vec::new(),
        }
    }
}

/// An image that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkippedImage {
    /// Position in the item list.
    pub index: usize,
    /// The image file.
    pub path: PathBuf,
    /// Why it was skipped (the decoder's error).
    pub reason: String,
}

/// Progress after each batch (or skipped image).
#[derive(Debug, Clone)]
pub enum ExtractProgress {
    /// `done` of `total` items consumed (extracted or skipped); throughput of this session.
    Batch {
        /// Items consumed so far, all sessions.
        done: usize,
        /// Items in the list.
        total: usize,
        /// Throughput of this session.
        images_per_sec: f64,
    },
    /// An image was skipped.
    Skipped(SkippedImage),
}

/// What an extraction did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExtractSummary {
    /// The model's registry name.
    pub model: String,
    /// Items in the list.
    pub total: usize,
    /// Rows of features written (all sessions).
    pub extracted: usize,
    /// Items already done by an earlier, interrupted session.
    pub resumed_from: usize,
    /// Images that could not be used.
    pub skipped: Vec<SkippedImage>,
    /// Width of the feature rows.
    pub feature_dim: usize,
    /// The final feature set (`ShardWriter::finish`), e.g. `out/features` for npy.
    pub features: PathBuf,
    /// Wall time of this session.
    pub seconds: f64,
    /// Throughput of this session.
    pub images_per_sec: f64,
}

/// Resume state, rewritten atomically after every batch.
#[derive(Debug, Serialize, Deserialize)]
struct State {
    model: String,
    total: usize,
    feature_dim: usize,
    skipped: Vec<SkippedImage>,
}

const STATE_FILE: &str = "extract-state.json";
/// Final report of the run, with the list of skipped images.
pub const SUMMARY_FILE: &str = "extraction.json";

struct Decoded {
    first: usize,
    images: Vec<Vec<f32>>,
    labels: Vec<u32>,
    skipped: Vec<SkippedImage>,
}

/// Extracts features of `items` with `model` into `out_dir`, resuming a previous run there
/// (a finished one is returned as is). Rows follow `items` minus the skipped images.
pub fn extract(
    model: &Backbone,
    items: &[(PathBuf, u32)],
    out_dir: &Path,
    opts: &ExtractOptions,
    progress: &(dyn Fn(ExtractProgress) + Sync),
) -> Result<ExtractSummary> {
    if opts.batch_size == 0 || opts.rows_per_shard == 0 {
        return Err(Error::Option {
            name: "batch size / rows per shard",
            value: format!("{}/{}", opts.batch_size, opts.rows_per_shard),
            reason: "batch size and rows per shard must be positive".into(),
        });
    }
    std::fs::create_dir_all(out_dir).map_err(write_err(out_dir))?;
    if let Some(done) = finished(out_dir, model, items.len())? {
        progress(ExtractProgress::Batch {
            done: done.total,
            total: done.total,
            images_per_sec: 0.0,
        });
        return Ok(done);
    }
    let dim = model.feature_dim();
    let mut writer = ShardWriter::open(out_dir, dim, opts.rows_per_shard)?;
    let (start, mut skipped) = resume_point(out_dir, model, items.len(), writer.completed_rows())?;
    let mut state = State {
        model: model.name().to_string(),
        total: items.len(),
        feature_dim: dim,
        skipped: std::mem::take(&mut skipped),
    };
    save_state(out_dir, &state)?;

    let t0 = Instant::now();
    let pre = model.preprocess().clone();
    let (tx, rx) = sync_channel::<Decoded>(opts.queue_depth.max(1));
    let mut rows = writer.completed_rows();
    let mut done = start;
    std::thread::scope(|scope| -> Result<()> {
        scope.spawn(move || {
            for (c, chunk) in items[start..].chunks(opts.batch_size).enumerate() {
                let first = start + c * opts.batch_size;
                let decoded: Vec<_> = chunk.par_iter().map(|(p, _)| pre.load(p)).collect();
                let mut batch = Decoded {
                    first,
                    images: Vec::with_capacity(chunk.len()),
                    labels: Vec::with_capacity(chunk.len()),
                    skipped: Vec::new(),
                };
                for (i, (r, (path, label))) in decoded.into_iter().zip(chunk).enumerate() {
                    match r {
                        Ok(img) => {
                            batch.images.push(img);
                            batch.labels.push(*label);
                        }
                        Err(e) => batch.skipped.push(SkippedImage {
                            index: first + i,
                            path: path.clone(),
                            reason: e.to_string(),
                        }),
                    }
                }
                if tx.send(batch).is_err() {
                    break; // the consumer stopped on an error
                }
            }
        });
        for batch in rx {
            for s in &batch.skipped {
                progress(ExtractProgress::Skipped(s.clone()));
            }
            let consumed = batch.labels.len() + batch.skipped.len();
            state.skipped.extend(batch.skipped);
            if !batch.images.is_empty() {
                let out = model.forward_images(&batch.images)?;
                let x = out
                    .features
                    .to_device(&candle_core::Device::Cpu)?
                    .flatten_all()?
                    .to_vec1::<f32>()?;
                writer.write_batch(&x, &batch.labels)?;
                rows += batch.labels.len();
            }
            done = batch.first + consumed;
            save_state(out_dir, &state)?;
            let secs = t0.elapsed().as_secs_f64();
            progress(ExtractProgress::Batch {
                done,
                total: items.len(),
                images_per_sec: (done - start) as f64 / secs.max(1e-9),
            });
        }
        Ok(())
    })?;
    let features = writer.finish(opts.format, &opts.classes)?;
    let seconds = t0.elapsed().as_secs_f64();
    let summary = ExtractSummary {
        model: state.model.clone(),
        total: items.len(),
        extracted: rows,
        resumed_from: start,
        skipped: state.skipped,
        feature_dim: dim,
        features,
        seconds,
        images_per_sec: (done - start) as f64 / seconds.max(1e-9),
    };
    write_json(&out_dir.join(SUMMARY_FILE), &summary)?;
    let state_path = out_dir.join(STATE_FILE);
    std::fs::remove_file(&state_path).map_err(write_err(&state_path))?;
    Ok(summary)
}

/// The summary of a finished extraction in `dir`, if any; an error if it was made by another
/// model or for another number of images.
fn finished(dir: &Path, model: &Backbone, total: usize) -> Result<Option<ExtractSummary>> {
    let path = dir.join(SUMMARY_FILE);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let resume_err = |reason: String| Error::Resume {
        dir: dir.to_path_buf(),
        reason,
    };
    let s: ExtractSummary =
        serde_json::from_str(&text).map_err(|e| resume_err(format!("{SUMMARY_FILE}: {e}")))?;
    if s.model != model.name() || s.total != total {
        return Err(resume_err(format!(
            "it holds a finished extraction of {} images by {}, this run asks for {total} by {}",
            s.total,
            s.model,
            model.name()
        )));
    }
    if !s.features.exists() {
        return Ok(None); // the feature set was removed: extract again
    }
    Ok(Some(ExtractSummary {
        resumed_from: total,
        seconds: 0.0,
        images_per_sec: 0.0,
        ..s
    }))
}

/// Where to restart: the item after the `rows`-th extracted one, with the skips before it.
fn resume_point(
    dir: &Path,
    model: &Backbone,
    total: usize,
    rows: usize,
) -> Result<(usize, Vec<SkippedImage>)> {
    let path = dir.join(STATE_FILE);
    let resume_err = |reason: String| Error::Resume {
        dir: dir.to_path_buf(),
        reason,
    };
    if !path.exists() {
        if rows > 0 {
            return Err(resume_err(format!(
                "{rows} rows written but no {STATE_FILE}"
            )));
        }
        return Ok((0, Vec::new()));
    }
    let text = std::fs::read_to_string(&path).map_err(read_err(&path))?;
    let state: State =
        serde_json::from_str(&text).map_err(|e| resume_err(format!("{STATE_FILE}: {e}")))?;
    if state.model != model.name()
        || state.total != total
        || state.feature_dim != model.feature_dim()
    {
        return Err(resume_err(format!(
            "it holds {} features of {} images by {}, this run asks for {} of {} by {}",
            state.feature_dim,
            state.total,
            state.model,
            model.feature_dim(),
            total,
            model.name()
        )));
    }
    let skipped_at: std::collections::HashSet<usize> =
        state.skipped.iter().map(|s| s.index).collect();
    let mut seen = 0;
    let mut next = 0;
    while seen < rows && next < total {
        if !skipped_at.contains(&next) {
            seen += 1;
        }
        next += 1;
    }
    if seen < rows {
        return Err(resume_err(format!(
            "{rows} rows on disk but only {seen} extractable images"
        )));
    }
    let skipped = state
        .skipped
        .into_iter()
        .filter(|s| s.index < next)
        .collect();
    Ok((next, skipped))
}

fn save_state(dir: &Path, state: &State) -> Result<()> {
    write_json(&dir.join(STATE_FILE), state)
}

/// Writes JSON atomically, so readers never see half a file.
fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).expect("plain data serializes");
    Ok(hiercog_io::write_atomic(path, text.as_bytes())?)
}
