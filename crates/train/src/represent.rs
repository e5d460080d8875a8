//! The trained representation applied to evaluation data, ready for the CoG probe: a feature set
//! of a frozen backbone through a trained MLP trunk ([`transform_features`]), or images through a
//! trained ResNet ([`image_features`], decoding on worker threads while the network runs).

use crate::data::pipelined;
use crate::error::{Error, Result};
use candle_core::{Device, Tensor};
use hiercog_features::FeatureSet;
use hiercog_nn::preprocess::Preprocess;
use hiercog_nn::trainable::TrainedBackbone;
use std::path::PathBuf;

/// `set` (features of the frozen backbone the model was trained on) through the model, in
/// evaluation mode, `batch` rows at a time; labels and class names are kept.
pub fn transform_features(
    model: &TrainedBackbone,
    set: &FeatureSet,
    device: &Device,
    batch: usize,
) -> Result<FeatureSet> {
    let (rows, dim) = (set.rows(), set.dim());
    let mut out = Vec::with_capacity(rows * model.feature_dim());
    for start in (0..rows).step_by(batch.max(1)) {
        let n = batch.max(1).min(rows - start);
        let x = Tensor::from_slice(&set.x()[start * dim..(start + n) * dim], (n, dim), device)?;
        out.extend(rows_of(&model.features(&x)?)?);
    }
    feature_set(out, model, set.labels.clone(), set.class_names.clone())
}

/// Features of images `(path, label)` by an image model, with the evaluation preprocessing of
/// its card (resize, center crop, normalise); `classes` are stored with the set.
pub fn image_features(
    model: &TrainedBackbone,
    items: &[(PathBuf, u32)],
    classes: Option<Vec<String>>,
    device: &Device,
    batch: usize,
    workers: usize,
) -> Result<FeatureSet> {
    let pre: &Preprocess = model
        .card()
        .preprocess
        .as_ref()
        .ok_or_else(|| Error::Setting {
            name: "model",
            value: model.card().architecture.name(),
            reason: "it reads features, not images; use transform_features".into(),
        })?;
    let side = pre.crop as usize;
    let chunks: Vec<&[(PathBuf, u32)]> = items.chunks(batch.max(1)).collect();
    let mut out = Vec::with_capacity(items.len() * model.feature_dim());
    pipelined(
        chunks.len(),
        workers,
        2,
        |c| {
            let mut data = Vec::with_capacity(chunks[c].len() * 3 * side * side);
            for (p, _) in chunks[c] {
                data.extend(pre.load(p)?);
            }
            Ok(data)
        },
        |c, data| {
            let x = Tensor::from_vec(data, (chunks[c].len(), 3, side, side), device)?;
            out.extend(rows_of(&model.features(&x)?)?);
            Ok(true)
        },
    )?;
    feature_set(out, model, items.iter().map(|(_, l)| *l).collect(), classes)
}

fn rows_of(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.to_device(&Device::Cpu)?.flatten_all()?.to_vec1::<f32>()?)
}

fn feature_set(
    x: Vec<f32>,
    model: &TrainedBackbone,
    labels: Vec<u32>,
    classes: Option<Vec<String>>,
) -> Result<FeatureSet> {
    FeatureSet::from_vec(x, model.feature_dim(), labels, classes).map_err(|e| Error::Setting {
        name: "features",
        value: model.card().architecture.name(),
        reason: e.to_string(),
    })
}
