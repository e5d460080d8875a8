//! What the trainer learns from ([`TrainSet`]: images, or pre-extracted feature views) and the
//! loader that makes its batches on worker threads while the network computes.
//!
//! Determinism: the sample order of an epoch is a permutation keyed by (seed, epoch) and every
//! augmentation choice by (seed, epoch, sample index) ([`SampleRng`]); batch `b` is made by worker
//! `b mod W` and consumed in order, so the batches are the same whatever the number of workers.

use crate::augment::{Augmentation, SampleRng};
use crate::error::{Error, Result};
use crate::views::FeatureViews;
use hiercog_nn::preprocess::{decode_rgb, Preprocess};
use rand::seq::SliceRandom;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::mpsc::sync_channel;

/// Where the inputs come from.
pub enum Source {
    /// Image files, decoded and augmented by the loader every epoch; `norm` gives the
    /// normalisation (its mean/std; sizes come from the augmentation).
    Images {
        /// The image files, in label order of [`TrainSet::labels`].
        paths: Vec<PathBuf>,
        /// Normalisation after cropping (the crop sizes come from the augmentation).
        norm: Preprocess,
    },
    /// Feature vectors of augmented views, extracted once by a frozen backbone.
    Views(FeatureViews),
}

/// Labelled training inputs.
pub struct TrainSet {
    /// The inputs: images, or feature views of them.
    pub source: Source,
    /// `labels[i]` is the class of input `i`.
    pub labels: Vec<u32>,
    /// Class names (wnids), in label order.
    pub classes: Vec<String>,
}

/// One batch ready for the device: per view group, `(data, shape)` with the views crop-major
/// (all samples' first view, then all samples' second view, …), and the labels of the samples.
pub struct Batch {
    /// Per view group, the values and the tensor shape (`(views·B, 3, H, W)` or `(views·B, D)`).
    pub groups: Vec<(Vec<f32>, Vec<usize>)>,
    /// The class of each sample, in batch order.
    pub labels: Vec<u32>,
}

impl TrainSet {
    /// Images `(path, label)` with class names; every file's header is read now, so that an
    /// unreadable file is reported (by name) before training starts.
    pub fn images(
        items: &[(PathBuf, u32)],
        classes: Vec<String>,
        norm: Preprocess,
    ) -> Result<Self> {
        let mut bad = Vec::new();
        for (p, _) in items {
            let header = image::ImageReader::open(p)
                .and_then(|r| r.with_guessed_format())
                .map_err(|e| e.to_string())
                .and_then(|r| r.into_dimensions().map_err(|e| e.to_string()));
            if let Err(e) = header {
                bad.push(format!("{} ({e})", p.display()));
            }
        }
        if !bad.is_empty() {
            let first = items
                .iter()
                .map(|(p, _)| p)
                .find(|p| bad[0].starts_with(&p.display().to_string()))
                .cloned()
                .unwrap_or_default();
            let more = if bad.len() > 1 {
                format!(
                    "; {} unreadable image(s) in all: {}",
                    bad.len(),
                    bad.join(", ")
                )
            } else {
                String::new()
            };
            return Err(Error::Data {
                path: first,
                reason: format!(
                    "not a readable JPEG/PNG image{more}; remove or replace the file(s) and re-run"
                ),
            });
        }
        let set = TrainSet {
            source: Source::Images {
                paths: items.iter().map(|(p, _)| p.clone()).collect(),
                norm,
            },
            labels: items.iter().map(|(_, l)| *l).collect(),
            classes,
        };
        set.check_labels()?;
        Ok(set)
    }

    /// Pre-extracted feature views (see [`crate::views::extract_views`]).
    pub fn views(views: FeatureViews, labels: Vec<u32>, classes: Vec<String>) -> Result<Self> {
        if views.rows != labels.len() {
            return Err(Error::Setting {
                name: "labels",
                value: labels.len().to_string(),
                reason: format!("the feature views have {} rows", views.rows),
            });
        }
        let set = TrainSet {
            source: Source::Views(views),
            labels,
            classes,
        };
        set.check_labels()?;
        Ok(set)
    }

    fn check_labels(&self) -> Result<()> {
        let c = self.classes.len();
        if self.labels.is_empty() {
            return Err(Error::Setting {
                name: "training set",
                value: "0 items".into(),
                reason: "nothing to train on".into(),
            });
        }
        if let Some((i, l)) = self
            .labels
            .iter()
            .enumerate()
            .find(|(_, &l)| l as usize >= c)
        {
            return Err(Error::Setting {
                name: "labels",
                value: format!("label {l} of item {i}"),
                reason: format!("only {c} class names are given"),
            });
        }
        Ok(())
    }

    /// Number of training inputs.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// A fingerprint of the inputs and labels (file names for images, values for views).
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        for l in &self.labels {
            h.update(l.to_le_bytes());
        }
        h.update(self.classes.join("\n").as_bytes());
        match &self.source {
            Source::Images { paths, norm } => {
                for p in paths {
                    h.update(p.to_string_lossy().as_bytes());
                    h.update([0]);
                }
                h.update(format!("{norm:?}").as_bytes());
            }
            Source::Views(v) => v.hash_into(&mut h),
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The sample order of `epoch`, cut into batches of `batch_size` (the last, incomplete
    /// batch is dropped when there is more than one batch, so BatchNorm never sees a tiny one).
    pub fn epoch_batches(&self, seed: u64, epoch: usize, batch_size: usize) -> Vec<Vec<usize>> {
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.shuffle(SampleRng::new("order", seed, epoch, 0).rng());
        let mut batches: Vec<Vec<usize>> =
            order.chunks(batch_size).map(<[usize]>::to_vec).collect();
        if batches.len() > 1 && batches.last().is_some_and(|b| b.len() < batch_size) {
            batches.pop();
        }
        batches
    }

    /// The batch of samples `indices` in `epoch`, augmented by `aug`.
    pub fn make_batch(
        &self,
        aug: &Augmentation,
        seed: u64,
        epoch: usize,
        indices: &[usize],
    ) -> Result<Batch> {
        let labels: Vec<u32> = indices.iter().map(|&i| self.labels[i]).collect();
        let b = indices.len();
        let groups = match &self.source {
            Source::Images { paths, norm } => {
                let mut groups: Vec<Vec<Vec<f32>>> = aug
                    .groups
                    .iter()
                    .map(|g| vec![Vec::new(); g.count * b])
                    .collect();
                for (slot, &i) in indices.iter().enumerate() {
                    let img = decode_rgb(&paths[i]).map_err(|e| Error::Data {
                        path: paths[i].clone(),
                        reason: format!("cannot decode the image during training: {e}"),
                    })?;
                    let views =
                        aug.views(&img, norm, SampleRng::new("augment", seed, epoch, i).rng());
                    for (g, group_views) in views.into_iter().enumerate() {
                        for (c, v) in group_views.into_iter().enumerate() {
                            groups[g][c * b + slot] = v;
                        }
                    }
                }
                groups
                    .into_iter()
                    .zip(&aug.groups)
                    .map(|(views, g)| {
                        let s = g.crop.size as usize;
                        let shape = vec![views.len(), 3, s, s];
                        (views.concat(), shape)
                    })
                    .collect()
            }
            Source::Views(v) => v.batch(aug, seed, epoch, indices)?,
        };
        Ok(Batch { groups, labels })
    }
}

/// Makes items `0..n` with `make` on `workers` threads (item `b` on worker `b mod workers`, at
/// most `depth` items ahead each) and hands them to `consume` in order. `consume` returns
/// `false` to stop early; the first error of either side is returned.
pub fn pipelined<T: Send>(
    n: usize,
    workers: usize,
    depth: usize,
    make: impl Fn(usize) -> Result<T> + Sync,
    mut consume: impl FnMut(usize, T) -> Result<bool>,
) -> Result<()> {
    let workers = workers.max(1).min(n.max(1));
    std::thread::scope(|scope| {
        let mut inboxes = Vec::with_capacity(workers);
        for w in 0..workers {
            let (tx, rx) = sync_channel::<Result<T>>(depth.max(1));
            inboxes.push(rx);
            let make = &make;
            scope.spawn(move || {
                for b in (w..n).step_by(workers) {
                    if tx.send(make(b)).is_err() {
                        break; // the consumer stopped
                    }
                }
            });
        }
        for b in 0..n {
            let item = inboxes[b % workers]
                .recv()
                .expect("a worker sends every item it is given")?;
            if !consume(b, item)? {
                break;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipelined_order_does_not_depend_on_workers() {
        for w in [1, 2, 3, 8] {
            let mut seen = Vec::new();
            pipelined(
                10,
                w,
                2,
                |b| Ok(b * b),
                |b, v| {
                    seen.push((b, v));
                    Ok(true)
                },
            )
            .unwrap();
            assert_eq!(seen, (0..10).map(|b| (b, b * b)).collect::<Vec<_>>());
        }
        // Early stop and errors end every worker.
        let mut count = 0;
        pipelined(100, 3, 1, Ok, |_, _| {
            count += 1;
            Ok(count < 5)
        })
        .unwrap();
        assert_eq!(count, 5);
        let r = pipelined(
            100,
            2,
            1,
            |b| {
                if b == 7 {
                    Err(Error::Setting {
                        name: "x",
                        value: "7".into(),
                        reason: "test".into(),
                    })
                } else {
                    Ok(b)
                }
            },
            |_, _| Ok(true),
        );
        assert!(r.unwrap_err().to_string().contains("x = 7"));
    }
}
