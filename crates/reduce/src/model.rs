//! A fitted reduction of any method, saved as a directory: `model.json` (method, dimensions,
//! hyper-parameters) and `weights.safetensors` (the arrays, with the same description in its
//! metadata), both written atomically.

use std::collections::BTreeMap;
use std::path::Path;

use hiercog_retrieval::Rows;
use serde_json::json;

use crate::error::{Error, Result};
use crate::pca::{FittedPca, PcaParams};
use crate::tldr::{FittedTldr, TldrParams};
use crate::weights::{self, Array};

/// File of the description inside a model directory.
pub const MODEL_JSON: &str = "model.json";
/// File of the arrays inside a model directory.
pub const MODEL_WEIGHTS: &str = "weights.safetensors";
/// Version of the directory format.
const FORMAT_VERSION: u64 = 1;

/// A fitted reduction: what `hiercog reduce fit` writes and `transform` applies.
pub enum Reducer {
    /// PCA or PCA-whitening.
    Pca(FittedPca),
    /// A TLDR encoder.
    Tldr(FittedTldr),
}

impl From<FittedPca> for Reducer {
    fn from(p: FittedPca) -> Self {
        Reducer::Pca(p)
    }
}

impl From<FittedTldr> for Reducer {
    fn from(t: FittedTldr) -> Self {
        Reducer::Tldr(t)
    }
}

impl Reducer {
    /// "pca", "pca-whiten" or "tldr".
    pub fn method(&self) -> &'static str {
        match self {
            Reducer::Pca(p) if p.params().whitening.is_some() => "pca-whiten",
            Reducer::Pca(_) => "pca",
            Reducer::Tldr(_) => "tldr",
        }
    }
    /// Input dimension D.
    pub fn input_dim(&self) -> usize {
        match self {
            Reducer::Pca(p) => p.input_dim(),
            Reducer::Tldr(t) => t.input_dim(),
        }
    }
    /// Output dimension d.
    pub fn output_dim(&self) -> usize {
        match self {
            Reducer::Pca(p) => p.params().n_components,
            Reducer::Tldr(t) => t.params().n_components,
        }
    }

    /// Reduces the rows of `x` (`n × output_dim`), L2-normalising the outputs when `l2_norm`.
    pub fn transform(&self, x: Rows<'_>, l2_norm: bool) -> Result<Vec<f32>> {
        match self {
            Reducer::Pca(p) => p.transform(x, l2_norm),
            Reducer::Tldr(t) => t.transform(x, l2_norm),
        }
    }

    fn description(&self) -> serde_json::Value {
        let params = match self {
            Reducer::Pca(p) => json!({
                "n_components": p.params().n_components,
                "whitening_shrinkage": p.params().whitening,
            }),
            Reducer::Tldr(t) => serde_json::to_value(t.params()).expect("serialisable"),
        };
        json!({
            "format": "hiercog-reduce",
            "version": FORMAT_VERSION,
            "method": self.method(),
            "input_dim": self.input_dim(),
            "output_dim": self.output_dim(),
            "params": params,
        })
    }

    /// Writes the model into `dir` (created if needed).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let meta = self.description();
        let arrays = match self {
            Reducer::Pca(p) => {
                let (d, dim) = (p.params().n_components, p.input_dim());
                BTreeMap::from([
                    (
                        "mean".to_string(),
                        Array {
                            shape: vec![dim],
                            data: p.mean.clone(),
                        },
                    ),
                    (
                        "components".to_string(),
                        Array {
                            shape: vec![d, dim],
                            data: p.components.clone(),
                        },
                    ),
                    (
                        "explained_variance".to_string(),
                        Array {
                            shape: vec![d],
                            data: p.explained_variance.iter().map(|&v| v as f32).collect(),
                        },
                    ),
                    (
                        "scale".to_string(),
                        Array {
                            shape: vec![d],
                            data: p.scale.clone(),
                        },
                    ),
                ])
            }
            Reducer::Tldr(t) => t.state(),
        };
        weights::save(&dir.join(MODEL_WEIGHTS), &arrays, &meta)?;
        let text = serde_json::to_string_pretty(&meta).expect("serialisable") + "\n";
        Ok(hiercog_io::write_atomic(
            &dir.join(MODEL_JSON),
            text.as_bytes(),
        )?)
    }

    /// Reads a model directory written by [`Reducer::save`].
    pub fn load(dir: &Path) -> Result<Reducer> {
        let path = dir.join(MODEL_WEIGHTS);
        let (arrays, meta) = weights::load(&path)?;
        let bad = |message: String| Error::Format {
            path: path.clone(),
            message,
        };
        if meta["format"] != "hiercog-reduce" || meta["version"] != FORMAT_VERSION {
            return Err(bad(format!(
                "format {} version {}: this hiercog reads hiercog-reduce version {FORMAT_VERSION}; refit the model",
                meta["format"], meta["version"]
            )));
        }
        let dim = meta["input_dim"]
            .as_u64()
            .ok_or_else(|| bad("no input_dim".into()))? as usize;
        let get = |name: &str| {
            arrays
                .get(name)
                .map(|a| a.data.clone())
                .ok_or_else(|| bad(format!("no array `{name}`")))
        };
        match meta["method"].as_str() {
            Some("pca") | Some("pca-whiten") => {
                let d = meta["output_dim"]
                    .as_u64()
                    .ok_or_else(|| bad("no output_dim".into()))? as usize;
                let params = PcaParams {
                    n_components: d,
                    whitening: meta["params"]["whitening_shrinkage"].as_f64(),
                };
                let fitted = FittedPca {
                    params,
                    mean: get("mean")?,
                    components: get("components")?,
                    explained_variance: get("explained_variance")?
                        .into_iter()
                        .map(f64::from)
                        .collect(),
                    scale: get("scale")?,
                };
                if fitted.mean.len() != dim
                    || fitted.components.len() != d * dim
                    || fitted.scale.len() != d
                {
                    return Err(bad("array sizes do not match input_dim/output_dim".into()));
                }
                Ok(Reducer::Pca(fitted))
            }
            Some("tldr") => {
                let params: TldrParams = serde_json::from_value(meta["params"].clone())
                    .map_err(|e| bad(format!("bad TLDR parameters: {e}")))?;
                Ok(Reducer::Tldr(FittedTldr::from_state(params, dim, &arrays)?))
            }
            other => Err(bad(format!("unknown method {other:?}"))),
        }
    }
}
