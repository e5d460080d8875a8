//! Augmentation for training on frozen features ("depth (a)"): a frozen backbone cannot see a new
//! crop each step cheaply, so [`extract_views`] runs it once over a fixed number of augmented
//! views of every image (random-resized crops + flips; a global and a local group for t-ReX's
//! multi-crop), and training samples views among them: each step, each image shows `count` of
//! its stored views, drawn by (seed, epoch, index). With 8 stored views and 30 epochs an image is
//! seen in each view ≈4 times, instead of once per epoch in a fresh crop: the augmentation is
//! real but finite, the price of not running the backbone every step.
//!
//! Extraction is resumable: each pass (one view of every image) is its own file, written
//! atomically in the cache directory, and a re-run skips the passes already there.

use crate::augment::{Augmentation, CropSpec, SampleRng};
use crate::data::pipelined;
use crate::error::{Error, Result};
use candle_core::{Device, Tensor};
use hiercog_nn::preprocess::decode_rgb;
use hiercog_nn::Backbone;
use rand::seq::index::sample;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Stored views of one group: `views` of every row, `data[v][row][dim]` flattened.
pub struct StoredViews {
    /// Views stored per row.
    pub views: usize,
    /// `views × rows × dim` values.
    pub data: Vec<f32>,
}

/// Features of augmented views of every training input, group by group.
pub struct FeatureViews {
    /// The frozen model that made the features (recorded with the trained model).
    pub model: String,
    /// Training inputs (images) the views were made of.
    pub rows: usize,
    /// Width of the features.
    pub dim: usize,
    /// One entry per stored group, in the order of the [`ViewSpec`].
    pub groups: Vec<StoredViews>,
}

/// How many views of which crop to store per group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredGroup {
    /// Views extracted per image.
    pub views: usize,
    /// How each is cropped before the frozen backbone.
    pub crop: CropSpec,
}

/// What to extract: the stored view groups and the seed of their crops.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViewSpec {
    /// The groups, the global one first.
    pub groups: Vec<StoredGroup>,
    /// Seed of every crop: view `v` of image `i` is the same whatever the batch or thread count.
    pub seed: u64,
}

impl ViewSpec {
    /// t-ReX's multi-crop: `global` views at `global_size` of scale (0.25, 1) and `local` views
    /// at `local_size` of scale (0.05, 0.25). Plain recipes train on the global group alone, so
    /// one extraction serves every recipe.
    pub fn multi_crop(
        global: usize,
        global_size: u32,
        local: usize,
        local_size: u32,
        seed: u64,
    ) -> Self {
        let aug = Augmentation::multi_crop(global, global_size, local, local_size);
        ViewSpec {
            groups: aug
                .groups
                .into_iter()
                .map(|g| StoredGroup {
                    views: g.count,
                    crop: g.crop,
                })
                .collect(),
            seed,
        }
    }

    /// `views` MoCo-v2 views of every image at `size` (crop scale (0.2, 1), colour jitter,
    /// grayscale, blur, flip): MoCo on frozen features draws two distinct ones per step as query
    /// and key.
    pub fn moco_v2(views: usize, size: u32, seed: u64) -> Self {
        ViewSpec {
            groups: vec![StoredGroup {
                views,
                crop: CropSpec::moco_v2(size),
            }],
            seed,
        }
    }

    /// `views` random-resized crops (scale (0.25, 1), ratio (3/4, 4/3), flip) of every image at
    /// `size` (the frozen backbone's input size) — the depth (a) default is 8 at 224 px. The
    /// scale range is milder than the usual (0.08, 1): a frozen backbone's features of tiny
    /// crops carry little of the class.
    pub fn single(views: usize, size: u32, seed: u64) -> Self {
        ViewSpec {
            groups: vec![StoredGroup {
                views,
                crop: CropSpec::with_scale(size, (0.25, 1.0)),
            }],
            seed,
        }
    }
}

/// How [`extract_views`] runs (not part of the result).
#[derive(Debug, Clone, Copy)]
pub struct ViewOptions {
    /// Images per forward pass.
    pub batch_size: usize,
    /// Threads decoding and cropping ahead of the backbone.
    pub workers: usize,
}

impl Default for ViewOptions {
    fn default() -> Self {
        ViewOptions {
            batch_size: 32,
            workers: 2,
        }
    }
}

/// Progress of [`extract_views`].
#[derive(Debug, Clone)]
pub struct ViewProgress {
    /// Passes (view × group) finished, of `passes`.
    pub pass: usize,
    /// Passes in all.
    pub passes: usize,
    /// Images of the current pass done, of `total`.
    pub done: usize,
    /// Images of a pass.
    pub total: usize,
}

impl FeatureViews {
    /// Plain (un-augmented) features `x` (`rows × dim`, row-major) by `model`, as a single
    /// stored view.
    pub fn plain(model: &str, x: Vec<f32>, rows: usize, dim: usize) -> Self {
        assert_eq!(x.len(), rows * dim, "x must hold rows × dim values");
        FeatureViews {
            model: model.to_string(),
            rows,
            dim,
            groups: vec![StoredViews { views: 1, data: x }],
        }
    }

    pub(crate) fn hash_into(&self, h: &mut Sha256) {
        h.update(self.model.as_bytes());
        h.update((self.rows as u64).to_le_bytes());
        h.update((self.dim as u64).to_le_bytes());
        // The same bytes as one update per value, in blocks (one call per value cost more than
        // a training epoch of the MLP).
        let mut block = Vec::with_capacity(4 * 4096);
        for g in &self.groups {
            h.update((g.views as u64).to_le_bytes());
            for chunk in g.data.chunks(4096) {
                block.clear();
                block.extend(chunk.iter().flat_map(|v| v.to_le_bytes()));
                h.update(&block);
            }
        }
    }

    /// The rows `indices` of a step: per group of `aug`, `count` distinct stored views of each
    /// row, crop-major (the crops in `aug` are ignored: the views were cropped at extraction; `aug`
    /// may use fewer groups than are stored: the first ones).
    pub(crate) fn batch(
        &self,
        aug: &Augmentation,
        seed: u64,
        epoch: usize,
        indices: &[usize],
    ) -> Result<Vec<(Vec<f32>, Vec<usize>)>> {
        if aug.groups.len() > self.groups.len() {
            return Err(Error::Setting {
                name: "view groups",
                value: aug.groups.len().to_string(),
                reason: format!("the feature views have {} group(s)", self.groups.len()),
            });
        }
        let b = indices.len();
        let d = self.dim;
        let mut out: Vec<(Vec<f32>, Vec<usize>)> = aug
            .groups
            .iter()
            .map(|g| (vec![0f32; g.count * b * d], vec![g.count * b, d]))
            .collect();
        for (slot, &i) in indices.iter().enumerate() {
            let mut rng = SampleRng::new("views", seed, epoch, i);
            for (g, (group, stored)) in aug.groups.iter().zip(&self.groups).enumerate() {
                if group.count > stored.views {
                    return Err(Error::Setting {
                        name: "views per step",
                        value: group.count.to_string(),
                        reason: format!("only {} views are stored in group {g}", stored.views),
                    });
                }
                let chosen = sample(rng.rng(), stored.views, group.count);
                for (c, v) in chosen.iter().enumerate() {
                    let src = &stored.data[(v * self.rows + i) * d..][..d];
                    out[g].0[(c * b + slot) * d..][..d].copy_from_slice(src);
                }
            }
        }
        Ok(out)
    }
}

/// Manifest of a view cache: what the passes were made from.
#[derive(Serialize, Deserialize, PartialEq)]
struct Manifest {
    key: String,
    model: String,
    rows: usize,
    dim: usize,
    groups: Vec<StoredGroup>,
    seed: u64,
}

const MANIFEST: &str = "views.json";

fn pass_file(dir: &Path, g: usize, v: usize) -> PathBuf {
    dir.join(format!("group{g}-view{v}.safetensors"))
}

/// Features by the frozen `backbone` of the augmented views `spec` of every image in `paths`,
/// cached in `cache_dir` (reused when made from the same model, images, views and seed). Images
/// are decoded and cropped on worker threads while the backbone runs.
pub fn extract_views(
    backbone: &Backbone,
    paths: &[PathBuf],
    spec: &ViewSpec,
    cache_dir: &Path,
    options: &ViewOptions,
    progress: &dyn Fn(ViewProgress),
) -> Result<FeatureViews> {
    let (groups, seed) = (&spec.groups, spec.seed);
    let (batch_size, workers) = (options.batch_size.max(1), options.workers);
    let rows = paths.len();
    let dim = backbone.feature_dim();
    let mut h = Sha256::new();
    h.update(backbone.name().as_bytes());
    for p in paths {
        h.update(p.to_string_lossy().as_bytes());
        h.update([0]);
    }
    h.update(serde_json::to_vec(groups).expect("plain data"));
    h.update(seed.to_le_bytes());
    let manifest = Manifest {
        key: h.finalize().iter().map(|b| format!("{b:02x}")).collect(),
        model: backbone.name().to_string(),
        rows,
        dim,
        groups: groups.to_vec(),
        seed,
    };
    let manifest_path = cache_dir.join(MANIFEST);
    let same = std::fs::read(&manifest_path)
        .ok()
        .and_then(|b| serde_json::from_slice::<Manifest>(&b).ok())
        .is_some_and(|m| m == manifest);
    if !same {
        // Passes of another extraction are stale: remove them before writing the new manifest.
        for (g, group) in groups.iter().enumerate() {
            for v in 0..group.views {
                let _ = std::fs::remove_file(pass_file(cache_dir, g, v));
            }
        }
        hiercog_io::write_atomic(
            &manifest_path,
            &serde_json::to_vec_pretty(&manifest).expect("plain data"),
        )?;
    }
    let norm = backbone.preprocess().clone();
    let passes: usize = groups.iter().map(|g| g.views).sum();
    let mut pass = 0;
    let mut out = Vec::new();
    for (g, group) in groups.iter().enumerate() {
        let mut data = Vec::with_capacity(group.views * rows * dim);
        for v in 0..group.views {
            let file = pass_file(cache_dir, g, v);
            let x = match read_pass(&file, rows, dim)? {
                Some(x) => x,
                None => {
                    let this = Pass {
                        crop: &group.crop,
                        seed,
                        group: g,
                        view: v,
                        batch_size,
                        workers,
                    };
                    let x = extract_pass(backbone, paths, &norm, &this, &|done| {
                        progress(ViewProgress {
                            pass,
                            passes,
                            done,
                            total: rows,
                        })
                    })?;
                    let t = Tensor::from_slice(&x, (rows, dim), &Device::Cpu)?;
                    let bytes = safetensors::serialize([("x", &t)], None).map_err(|e| {
                        Error::Checkpoint {
                            path: file.clone(),
                            reason: e.to_string(),
                        }
                    })?;
                    hiercog_io::write_atomic(&file, &bytes)?;
                    x
                }
            };
            data.extend_from_slice(&x);
            pass += 1;
            progress(ViewProgress {
                pass,
                passes,
                done: rows,
                total: rows,
            });
        }
        out.push(StoredViews {
            views: group.views,
            data,
        });
    }
    Ok(FeatureViews {
        model: manifest.model,
        rows,
        dim,
        groups: out,
    })
}

/// The features of a finished pass, if its file is there and complete.
fn read_pass(file: &Path, rows: usize, dim: usize) -> Result<Option<Vec<f32>>> {
    if !file.exists() {
        return Ok(None);
    }
    let mut t: HashMap<String, Tensor> = candle_core::safetensors::load(file, &Device::Cpu)
        .map_err(|e| Error::Checkpoint {
            path: file.to_path_buf(),
            reason: format!("{e}; delete the file to extract it again"),
        })?;
    match t.remove("x") {
        Some(x) if x.dims() == [rows, dim] => Ok(Some(x.flatten_all()?.to_vec1::<f32>()?)),
        _ => Ok(None),
    }
}

/// One pass: view `view` of group `group` of every image.
struct Pass<'a> {
    crop: &'a CropSpec,
    seed: u64,
    group: usize,
    view: usize,
    batch_size: usize,
    workers: usize,
}

/// One view of every image through the backbone, in image order.
fn extract_pass(
    backbone: &Backbone,
    paths: &[PathBuf],
    norm: &hiercog_nn::Preprocess,
    pass: &Pass,
    progress: &dyn Fn(usize),
) -> Result<Vec<f32>> {
    let Pass {
        crop,
        seed,
        group: g,
        view: v,
        batch_size,
        workers,
    } = *pass;
    let purpose = format!("view-group{g}");
    let chunks: Vec<&[PathBuf]> = paths.chunks(batch_size).collect();
    let mut x = Vec::with_capacity(paths.len() * backbone.feature_dim());
    let side = crop.size as usize;
    pipelined(
        chunks.len(),
        workers,
        2,
        |c| {
            let first = c * batch_size;
            let mut data = Vec::with_capacity(chunks[c].len() * 3 * side * side);
            for (k, p) in chunks[c].iter().enumerate() {
                let img = decode_rgb(p)?;
                let mut rng = SampleRng::new(&purpose, seed, v, first + k);
                data.extend(norm.normalize(&crop.apply(&img, rng.rng())));
            }
            Ok((data, chunks[c].len()))
        },
        |c, (data, n)| {
            let t = Tensor::from_vec(data, (n, 3, side, side), backbone.device())?;
            let f = backbone.forward(&t)?.features;
            x.extend(f.to_device(&Device::Cpu)?.flatten_all()?.to_vec1::<f32>()?);
            progress((c * batch_size + n).min(paths.len()));
            Ok(true)
        },
    )?;
    Ok(x)
}
