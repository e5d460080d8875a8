//! Checkpoint loading: safetensors, PyTorch zip `.pth` and legacy (pre-1.6) `.pth`, read
//! without executing code, with the usual wrapper prefixes removed and every key accounted for.

use crate::error::{read_err, Error, Result};
use candle_core::{DType, Device, Tensor};
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

/// A checkpoint's tensors (host, f32) being consumed by a model builder.
///
/// Builders ask for each tensor by name and shape; [`Weights::finish`] then fails with the full
/// lists of missing and unexpected keys, so a wrong `--model` or a renamed layer shows at once.
pub struct Weights {
    path: PathBuf,
    tensors: HashMap<String, Tensor>,
    used: RefCell<BTreeSet<String>>,
    missing: RefCell<Vec<String>>,
}

impl Weights {
    /// Reads a checkpoint, choosing the format from the file's first bytes.
    pub fn load(path: &Path) -> Result<Self> {
        let mut head = [0u8; 9];
        let n = std::fs::File::open(path)
            .and_then(|mut f| f.read(&mut head))
            .map_err(read_err(path))?;
        let is_safetensors = n == 9 && head[8] == b'{';
        let tensors = if is_safetensors {
            candle_core::safetensors::load(path, &Device::Cpu)
                .map_err(|e| ckpt_err(path, e))?
                .into_iter()
                .map(|(k, t)| Ok((k, t.to_dtype(DType::F32)?)))
                .collect::<Result<Vec<_>>>()?
        } else {
            let value = hiercog_pickle::load_torch(path)?;
            hiercog_pickle::state_dict(&value)
                .map_err(|e| ckpt_err(path, e))?
                .into_iter()
                .map(|(k, t)| {
                    // Integer tensors (BatchNorm's `num_batches_tracked`) are widened so that
                    // an unused one still shows up as an unexpected key.
                    let data = match t.to_f32_vec() {
                        Ok(v) => v,
                        Err(_) => t
                            .to_i64_vec()
                            .map_err(|e| ckpt_err(path, format!("{k}: {e}")))?
                            .into_iter()
                            .map(|v| v as f32)
                            .collect(),
                    };
                    let shape = t.shape.clone();
                    Ok((k, Tensor::from_vec(data, shape, &Device::Cpu)?))
                })
                .collect::<Result<Vec<_>>>()?
        };
        Ok(Self::from_tensors(path, tensors))
    }

    /// Wraps named tensors (e.g. built in memory), stripping wrapper prefixes.
    pub fn from_tensors(path: impl Into<PathBuf>, tensors: Vec<(String, Tensor)>) -> Self {
        Weights {
            path: path.into(),
            tensors: strip_wrappers(tensors).into_iter().collect(),
            used: RefCell::default(),
            missing: RefCell::default(),
        }
    }

    /// The checkpoint's keys, sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut k: Vec<_> = self.tensors.keys().cloned().collect();
        k.sort();
        k
    }

    /// Whether the checkpoint has `key` (e.g. to detect an optional classifier head).
    pub fn contains(&self, key: &str) -> bool {
        self.tensors.contains_key(key)
    }

    /// Tensor `key` with the expected shape. A missing key is recorded (and zeros returned) so
    /// that [`Weights::finish`] can report all of them together.
    pub fn get(&self, key: &str, shape: &[usize]) -> Result<Tensor> {
        match self.tensors.get(key) {
            Some(t) => {
                self.used.borrow_mut().insert(key.to_string());
                if t.dims() != shape {
                    return Err(Error::ShapeMismatch {
                        path: self.path.clone(),
                        key: key.to_string(),
                        expected: shape.to_vec(),
                        found: t.dims().to_vec(),
                    });
                }
                Ok(t.clone())
            }
            None => {
                self.missing.borrow_mut().push(key.to_string());
                Ok(Tensor::zeros(shape, DType::F32, &Device::Cpu)?)
            }
        }
    }

    /// Tensor `key` of length `len` as host floats.
    pub fn vec(&self, key: &str, len: usize) -> Result<Vec<f32>> {
        Ok(self.get(key, &[len])?.to_vec1::<f32>()?)
    }

    /// Shape of `key` if present (for builders that infer widths from the checkpoint).
    pub fn shape(&self, key: &str) -> Option<Vec<usize>> {
        self.tensors.get(key).map(|t| t.dims().to_vec())
    }

    /// Marks `key` as accounted for without reading it (e.g. BatchNorm's
    /// `num_batches_tracked` counter, which inference does not use).
    pub fn skip(&self, key: &str) {
        self.used.borrow_mut().insert(key.to_string());
    }

    /// Fails unless every requested key was present and every present key was used.
    pub fn finish(self, model: &str) -> Result<()> {
        let used = self.used.into_inner();
        let missing = self.missing.into_inner();
        let mut unexpected: Vec<String> = self
            .tensors
            .keys()
            .filter(|k| !used.contains(*k))
            .cloned()
            .collect();
        unexpected.sort();
        if missing.is_empty() && unexpected.is_empty() {
            Ok(())
        } else {
            Err(Error::KeyMismatch {
                path: self.path,
                model: model.to_string(),
                missing,
                unexpected,
            })
        }
    }

    /// Path of the checkpoint, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn ckpt_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Checkpoint {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Removes the wrappers training scripts put around a state dict: a `state_dict.`/`model.`
/// sub-dictionary (other entries such as optimizer state are dropped), then a `module.`
/// prefix from `DataParallel`/`DistributedDataParallel` when every key has it.
fn strip_wrappers(tensors: Vec<(String, Tensor)>) -> Vec<(String, Tensor)> {
    let mut tensors = tensors;
    for wrapper in ["state_dict.", "model.", "model_ema."] {
        if tensors.iter().any(|(k, _)| k.starts_with(wrapper)) {
            tensors = tensors
                .into_iter()
                .filter_map(|(k, t)| k.strip_prefix(wrapper).map(|s| (s.to_string(), t)))
                .collect();
            break;
        }
    }
    while !tensors.is_empty() && tensors.iter().all(|(k, _)| k.starts_with("module.")) {
        tensors = tensors
            .into_iter()
            .map(|(k, t)| (k["module.".len()..].to_string(), t))
            .collect();
    }
    tensors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> Tensor {
        Tensor::zeros(2, DType::F32, &Device::Cpu).unwrap()
    }

    #[test]
    fn wrappers_are_stripped() {
        let w = strip_wrappers(vec![
            ("state_dict.module.fc.weight".into(), t()),
            ("state_dict.module.fc.bias".into(), t()),
            ("optimizer.state.0".into(), t()),
        ]);
        let mut keys: Vec<_> = w.into_iter().map(|(k, _)| k).collect();
        keys.sort();
        assert_eq!(keys, ["fc.bias", "fc.weight"]);
    }

    #[test]
    fn finish_lists_missing_and_unexpected() {
        let w = Weights::from_tensors("x.pth", vec![("a".into(), t()), ("b".into(), t())]);
        w.get("a", &[2]).unwrap();
        w.get("c", &[2]).unwrap();
        match w.finish("m") {
            Err(Error::KeyMismatch {
                missing,
                unexpected,
                ..
            }) => {
                assert_eq!(missing, ["c"]);
                assert_eq!(unexpected, ["b"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn wrong_shape_is_reported() {
        let w = Weights::from_tensors("x.pth", vec![("a".into(), t())]);
        assert!(matches!(w.get("a", &[3]), Err(Error::ShapeMismatch { .. })));
    }
}
