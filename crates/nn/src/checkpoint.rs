//! Checkpoint loading: safetensors, PyTorch zip `.pth` and legacy (pre-1.6) `.pth`, read
//! without executing code, and the part of the checkpoint that holds the backbone found.
//!
//! Self-supervised repositories publish whole training states: MoCo's
//! `{"state_dict": {"module.encoder_q.conv1.weight", …, "module.encoder_k.…", "module.queue"}}`,
//! DINO's `{"teacher": {"backbone.…", "head.…"}, "student": {"module.backbone.…"}, "args": …}`,
//! SwAV's `module.` + backbone + `projection_head`/`prototypes`, BYOL's `online_encoder.net.…`,
//! SimCLR's `encoder.…` + `projector.…`, timm's `{"state_dict", "state_dict_ema"}`. A
//! [`Checkpoint`] holds every tensor of the file under its dotted path
//! ([`hiercog_pickle::Value::named_tensors`]); [`Checkpoint::fit`] finds the prefix under which the
//! model's keys are complete: it tries every prefix `P` for which `P + <the model's first key>`
//! exists, keeps those where the model finds all its tensors and nothing unexplained, and takes
//! the one that fits (copies with identical tensors, as BYOL's `net.` and `online_encoder.net.`,
//! count once). When several fit (MoCo's two encoders, DINO's teacher and student) or to
//! override, the caller names the prefix. The [`KeyReport`] says what was stripped and which
//! keys were ignored.

use crate::error::{read_err, Error, Result};
use candle_core::{DType, Device, Tensor};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Every tensor of a checkpoint file (host, f32), keyed by its dotted path in the file.
pub struct Checkpoint {
    path: PathBuf,
    tensors: BTreeMap<String, Tensor>,
}

impl Checkpoint {
    /// Reads a checkpoint, choosing the format from the file's first bytes.
    pub fn read(path: &Path) -> Result<Self> {
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
            value
                .named_tensors()
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
                    Ok((k, Tensor::from_vec(data, t.shape.clone(), &Device::Cpu)?))
                })
                .collect::<Result<Vec<_>>>()?
        };
        if tensors.is_empty() {
            return Err(ckpt_err(path, "it holds no tensors"));
        }
        Ok(Self::from_tensors(path, tensors))
    }

    /// Named tensors built in memory; `path` names them in messages.
    pub fn from_tensors(path: impl Into<PathBuf>, tensors: Vec<(String, Tensor)>) -> Self {
        Checkpoint {
            path: path.into(),
            tensors: tensors.into_iter().collect(),
        }
    }

    /// Path of the checkpoint, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The keys, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// Builds `model` with `build` from the part of the checkpoint that holds it; `anchor` is a
    /// key every checkpoint of the model has (its first layer's weight). `prefix` names the part
    /// (`encoder_q.`, `teacher`: whole key components; the wrappers around them, such as
    /// `state_dict.module.` or `.backbone.`, may be left out; empty: no prefix); `None` finds it.
    /// The model must find all its tensors; unused keys are ignored only outside the modules it
    /// uses (heads, projectors, other networks, optimizer state).
    pub fn fit<T>(
        &self,
        model: &'static str,
        anchor: &str,
        prefix: Option<&str>,
        build: impl Fn(&Weights) -> Result<T>,
    ) -> Result<(T, KeyReport)> {
        let holding = self.prefixes_holding(anchor);
        let candidates = match prefix {
            None if holding.is_empty() => vec![String::new()],
            None => holding.clone(),
            // Named as empty: the keys as they are, without any prefix.
            Some("") => vec![String::new()],
            Some(p) => {
                let p = normalize_prefix(p);
                let named: Vec<String> = holding
                    .iter()
                    .filter(|h| names_part(h, &p))
                    .cloned()
                    .collect();
                if !named.is_empty() {
                    named
                } else if self.keys().any(|k| k.starts_with(&p)) {
                    vec![p]
                } else {
                    return Err(Error::PrefixNotFound {
                        path: self.path.clone(),
                        model,
                        prefix: p,
                        holding: holding.clone(),
                    });
                }
            }
        };
        let mut fitting: Vec<(T, Accounted)> = Vec::new();
        // The most telling failure: a build error (a wrong shape), else the fewest misfits.
        let mut closest: Option<(usize, Error)> = None;
        for candidate in candidates {
            let w = Weights::new(self, &candidate);
            let built = build(&w);
            let keys = w.account();
            let net = match built {
                Ok(net) => net,
                Err(e) => {
                    if closest.as_ref().is_none_or(|(rank, _)| *rank > 0) {
                        closest = Some((0, e));
                    }
                    continue;
                }
            };
            let misfit = keys.missing.len() + keys.unexplained;
            if misfit == 0 {
                // Copies with identical tensors count once; the shortest prefix is kept.
                match fitting
                    .iter_mut()
                    .find(|(_, f)| self.same_tensors(f, &keys))
                {
                    Some(kept) if keys.prefix.len() < kept.1.prefix.len() => *kept = (net, keys),
                    Some(_) => {}
                    None => fitting.push((net, keys)),
                }
            } else if closest.as_ref().is_none_or(|(rank, _)| misfit < *rank) {
                let e = Error::KeyMismatch {
                    path: self.path.clone(),
                    model,
                    prefix: keys.prefix,
                    missing: keys.missing,
                    unexpected: keys.unused,
                };
                closest = Some((misfit, e));
            }
        }
        match fitting.len() {
            0 => Err(closest.expect("at least one candidate was tried").1),
            1 => {
                let (net, keys) = fitting.pop().expect("one");
                Ok((net, self.report(keys)))
            }
            _ => Err(Error::AmbiguousPrefix {
                path: self.path.clone(),
                model,
                prefixes: fitting.into_iter().map(|(_, k)| k.prefix).collect(),
            }),
        }
    }

    /// Whether two fitting candidates read the same values.
    fn same_tensors(&self, a: &Accounted, b: &Accounted) -> bool {
        a.used.len() == b.used.len()
            && a.used.iter().zip(&b.used).all(|(ka, kb)| {
                ka.strip_prefix(&a.prefix) == kb.strip_prefix(&b.prefix)
                    && match (self.tensors.get(ka), self.tensors.get(kb)) {
                        (Some(x), Some(y)) => {
                            x.dims() == y.dims()
                                && x.flatten_all().and_then(|x| x.to_vec1::<f32>()).ok()
                                    == y.flatten_all().and_then(|y| y.to_vec1::<f32>()).ok()
                        }
                        _ => false,
                    }
            })
    }

    fn report(&self, keys: Accounted) -> KeyReport {
        let ignored = self
            .tensors
            .keys()
            .filter(|k| !keys.used.contains(*k))
            .cloned()
            .collect();
        KeyReport {
            prefix: keys.prefix,
            used: keys.used.len(),
            ignored,
        }
    }

    /// Every `P` (empty, or ending in `.`) such that `P + anchor` is a key, sorted.
    fn prefixes_holding(&self, anchor: &str) -> Vec<String> {
        self.keys()
            .filter_map(|k| k.strip_suffix(anchor))
            .filter(|p| p.is_empty() || p.ends_with('.'))
            .map(str::to_string)
            .collect()
    }
}

/// `teacher` → `teacher.`; an empty prefix stays empty.
fn normalize_prefix(p: &str) -> String {
    if p.is_empty() || p.ends_with('.') {
        p.to_string()
    } else {
        format!("{p}.")
    }
}

/// Whether `named` is a run of whole components of the full prefix `full`: wrappers before and
/// after it may be left out (`encoder_q.` and `module.encoder_q.` name
/// `state_dict.module.encoder_q.`; `teacher.` names `teacher.backbone.`).
fn names_part(full: &str, named: &str) -> bool {
    std::iter::once(0)
        .chain(full.match_indices('.').map(|(i, _)| i + 1))
        .any(|start| full[start..].starts_with(named))
}

/// What a model took from a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyReport {
    /// The prefix stripped from the keys the model uses (empty when none).
    pub prefix: String,
    /// How many tensors the model uses.
    pub used: usize,
    /// Keys the model does not use, sorted: other networks (MoCo's key encoder, DINO's
    /// student), heads and projectors it has no place for, optimizer state.
    pub ignored: Vec<String>,
}

impl KeyReport {
    /// Whether the model took the checkpoint as it is: no prefix stripped, no key ignored.
    pub fn as_is(&self) -> bool {
        self.prefix.is_empty() && self.ignored.is_empty()
    }
}

impl std::fmt::Display for KeyReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.prefix.as_str() {
            "" => write!(f, "{} tensors", self.used)?,
            p => write!(f, "{} tensors under `{p}` (prefix stripped)", self.used)?,
        }
        if !self.ignored.is_empty() {
            write!(
                f,
                "; {} key(s) ignored: {}",
                self.ignored.len(),
                crate::error::preview(&self.ignored)
            )?;
        }
        Ok(())
    }
}

/// The keys one build asked for, under one prefix.
struct Accounted {
    prefix: String,
    /// Full keys (prefix included) the model read.
    used: BTreeSet<String>,
    /// Keys (prefix stripped) the model needs and did not find.
    missing: Vec<String>,
    /// Keys (prefix stripped) under the prefix that the model did not read.
    unused: Vec<String>,
    /// How many of them are in modules the model uses (a deeper or wider network than the
    /// model), which a fit may not have; the others are heads and projectors.
    unexplained: usize,
}

/// A view of a [`Checkpoint`] under a prefix, being consumed by a model builder.
///
/// Builders ask for each tensor by name (without the prefix) and shape; a missing key is
/// recorded and zeros returned, so that all missing keys are reported together.
pub struct Weights<'a> {
    checkpoint: &'a Checkpoint,
    prefix: &'a str,
    used: RefCell<BTreeSet<String>>,
    missing: RefCell<Vec<String>>,
}

impl<'a> Weights<'a> {
    fn new(checkpoint: &'a Checkpoint, prefix: &'a str) -> Self {
        Weights {
            checkpoint,
            prefix,
            used: RefCell::default(),
            missing: RefCell::default(),
        }
    }

    fn lookup(&self, key: &str) -> Option<&'a Tensor> {
        self.checkpoint
            .tensors
            .get(&format!("{}{key}", self.prefix))
    }

    /// Whether the checkpoint has `key` (e.g. to detect an optional classifier head).
    pub fn contains(&self, key: &str) -> bool {
        self.lookup(key).is_some()
    }

    /// Tensor `key` with the expected shape. A missing key is recorded (and zeros returned).
    pub fn get(&self, key: &str, shape: &[usize]) -> Result<Tensor> {
        match self.lookup(key) {
            Some(t) => {
                self.skip(key);
                if t.dims() != shape {
                    return Err(Error::ShapeMismatch {
                        path: self.checkpoint.path.clone(),
                        key: format!("{}{key}", self.prefix),
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
        self.lookup(key).map(|t| t.dims().to_vec())
    }

    /// Marks `key`, if present, as accounted for without reading it (e.g. BatchNorm's
    /// `num_batches_tracked` counter, which inference does not use).
    pub fn skip(&self, key: &str) {
        let full = format!("{}{key}", self.prefix);
        if self.checkpoint.tensors.contains_key(&full) {
            self.used.borrow_mut().insert(full);
        }
    }

    /// Path of the checkpoint, for messages.
    pub fn path(&self) -> &Path {
        &self.checkpoint.path
    }

    /// Which keys the build used, missed, and left unexplained.
    fn account(self) -> Accounted {
        let used = self.used.into_inner();
        let module = |k: &str| k.split('.').next().unwrap_or(k).to_string();
        let modules: BTreeSet<String> = used
            .iter()
            .map(|k| module(&k[self.prefix.len()..]))
            .collect();
        let unused: Vec<String> = self
            .checkpoint
            .keys()
            .filter(|k| !used.contains(*k))
            .filter_map(|k| k.strip_prefix(self.prefix))
            .map(str::to_string)
            .collect();
        let unexplained = unused
            .iter()
            .filter(|k| modules.contains(&module(k)))
            .count();
        Accounted {
            prefix: self.prefix.to_string(),
            used,
            missing: self.missing.into_inner(),
            unused,
            unexplained,
        }
    }
}

fn ckpt_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Checkpoint {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> Tensor {
        Tensor::zeros(2, DType::F32, &Device::Cpu).unwrap()
    }

    fn checkpoint(keys: &[&str]) -> Checkpoint {
        Checkpoint::from_tensors("x.pth", keys.iter().map(|k| (k.to_string(), t())).collect())
    }

    /// A two-layer "model" reading `a.weight` and `b.weight`, with an optional `head.weight`.
    fn build(w: &Weights) -> Result<()> {
        w.get("a.weight", &[2])?;
        w.get("b.weight", &[2])?;
        if w.contains("head.weight") {
            w.get("head.weight", &[2])?;
        }
        Ok(())
    }

    fn fit(c: &Checkpoint, prefix: Option<&str>) -> Result<KeyReport> {
        c.fit("m", "a.weight", prefix, build).map(|((), r)| r)
    }

    #[test]
    fn the_one_prefix_that_fits_is_found_and_the_rest_ignored() {
        let c = checkpoint(&[
            "state_dict.module.encoder_q.a.weight",
            "state_dict.module.encoder_q.b.weight",
            "state_dict.module.encoder_q.fc.0.weight",
            "state_dict.module.queue",
            "optimizer.state.0.momentum_buffer",
        ]);
        let r = fit(&c, None).unwrap();
        assert_eq!(r.prefix, "state_dict.module.encoder_q.");
        assert_eq!(r.used, 2);
        assert_eq!(
            r.ignored,
            [
                "optimizer.state.0.momentum_buffer",
                "state_dict.module.encoder_q.fc.0.weight",
                "state_dict.module.queue"
            ]
        );
    }

    #[test]
    fn a_prefix_with_an_incomplete_model_does_not_fit() {
        // encoder_k lacks b.weight: only encoder_q fits.
        let c = checkpoint(&["q.a.weight", "q.b.weight", "k.a.weight"]);
        assert_eq!(fit(&c, None).unwrap().prefix, "q.");
    }

    #[test]
    fn several_fitting_prefixes_need_a_name() {
        let c = checkpoint(&["q.a.weight", "q.b.weight", "k.a.weight", "k.b.weight"]);
        // Identical copies count once (the shortest prefix is kept).
        let r = fit(&c, None).unwrap();
        assert_eq!(r.prefix, "k.");
        let ones = Tensor::ones(2, DType::F32, &Device::Cpu).unwrap();
        let mut tensors: Vec<_> = ["q.a.weight", "q.b.weight", "k.a.weight"]
            .iter()
            .map(|k| (k.to_string(), t()))
            .collect();
        tensors.push(("k.b.weight".into(), ones));
        let c = Checkpoint::from_tensors("x.pth", tensors);
        match fit(&c, None) {
            Err(Error::AmbiguousPrefix { prefixes, .. }) => assert_eq!(prefixes, ["k.", "q."]),
            other => panic!("{other:?}"),
        }
        assert_eq!(fit(&c, Some("q")).unwrap().prefix, "q.");
        assert!(matches!(
            fit(&c, Some("v.")),
            Err(Error::PrefixNotFound { .. })
        ));
        // An empty name means the keys as they are: here nothing fits without a prefix.
        assert!(matches!(
            fit(&c, Some("")),
            Err(Error::KeyMismatch { prefix, .. }) if prefix.is_empty()
        ));
    }

    #[test]
    fn a_deeper_network_is_not_silently_truncated() {
        // b.weight is used, so b.extra in the same module is unexplained; proj.* is ignored.
        let c = checkpoint(&["a.weight", "b.weight", "b.extra", "proj.weight"]);
        match fit(&c, None) {
            Err(Error::KeyMismatch {
                missing,
                unexpected,
                ..
            }) => {
                assert!(missing.is_empty());
                assert_eq!(unexpected, ["b.extra", "proj.weight"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn missing_keys_are_listed() {
        let c = checkpoint(&["a.weight", "c.weight"]);
        match fit(&c, None) {
            Err(Error::KeyMismatch { missing, .. }) => assert_eq!(missing, ["b.weight"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn wrong_shape_is_reported() {
        let c = Checkpoint::from_tensors(
            "x.pth",
            vec![(
                "a.weight".into(),
                Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap(),
            )],
        );
        assert!(matches!(fit(&c, None), Err(Error::ShapeMismatch { .. })));
    }
}
