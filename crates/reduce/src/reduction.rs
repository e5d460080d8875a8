//! A reduction named in one string, as `hiercog run --reduce` and a run config's `[probe] reduce`
//! take it: `METHOD:DIM[,KEY=VALUE...]`.
//!
//! * `pca:64` — PCA; `pca-whiten:128` — PCA-whitening, `shrinkage=S` shrinks the variances towards
//!   their mean by S (default 0: scikit-learn's `whiten=True`);
//! * `tldr:128` — TLDR with the reference's defaults; `epochs=`, `warmup=`, `batch=`,
//!   `neighbors=`, `encoder=`, `projector=` (`none` for none), `seed=` change them.
//!
//! [`Reduction`]'s `Display` writes the canonical form (only the keys that differ from the
//! defaults, in a fixed order), which parses back to the same reduction.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use hiercog_retrieval::Rows;

use crate::error::{Error, Result};
use crate::model::Reducer;
use crate::pca::PcaParams;
use crate::tldr::{FitProgress, TldrParams};

/// An unfitted reduction: its method and parameters.
#[derive(Clone, Debug, PartialEq)]
pub enum Reduction {
    /// PCA or PCA-whitening.
    Pca(PcaParams),
    /// TLDR.
    Tldr(Box<TldrParams>),
}

impl Reduction {
    /// Output dimension.
    pub fn output_dim(&self) -> usize {
        match self {
            Reduction::Pca(p) => p.n_components,
            Reduction::Tldr(t) => t.n_components,
        }
    }

    /// Fits on the rows of `x`; TLDR checkpoints into `checkpoint` after every epoch and resumes
    /// from it ([`TldrParams::fit`]), PCA ignores both it and `progress`.
    pub fn fit(
        &self,
        x: Rows<'_>,
        checkpoint: Option<&Path>,
        progress: &(dyn Fn(FitProgress) + Sync),
    ) -> Result<Reducer> {
        Ok(match self {
            Reduction::Pca(p) => p.fit(x)?.into(),
            Reduction::Tldr(t) => t.fit(x, checkpoint, progress)?.into(),
        })
    }
}

/// The parse error of a spec, saying what to write instead.
fn bad(spec: &str, problem: impl fmt::Display) -> Error {
    Error::param(
        "reduction",
        format!("{spec:?}"),
        format!(
            "{problem}; write METHOD:DIM[,KEY=VALUE...] with METHOD pca, pca-whiten (key \
             shrinkage) or tldr (keys epochs, warmup, batch, neighbors, encoder, projector, seed), \
             e.g. tldr:128 or pca-whiten:64,shrinkage=0.1"
        ),
    )
}

impl FromStr for Reduction {
    type Err = Error;
    fn from_str(spec: &str) -> Result<Self> {
        let mut parts = spec.split(',');
        let head = parts.next().unwrap_or_default();
        let (method, dim) = head
            .split_once(':')
            .ok_or_else(|| bad(spec, "no output dimension"))?;
        let dim: usize = dim
            .trim()
            .parse()
            .map_err(|_| bad(spec, format!("the dimension {dim:?} is not a whole number")))?;
        let mut r = match method.trim() {
            "pca" => Reduction::Pca(PcaParams::new(dim)),
            "pca-whiten" => Reduction::Pca(PcaParams::whitened(dim, 0.0)),
            "tldr" => Reduction::Tldr(Box::new(TldrParams::new(dim))),
            other => return Err(bad(spec, format!("unknown method {other:?}"))),
        };
        for kv in parts {
            let (key, value) = kv
                .split_once('=')
                .ok_or_else(|| bad(spec, format!("{kv:?} is not KEY=VALUE")))?;
            let (key, value) = (key.trim(), value.trim());
            let number = || {
                value
                    .parse::<usize>()
                    .map_err(|_| bad(spec, format!("{key}={value:?} is not a whole number")))
            };
            match (&mut r, key) {
                (Reduction::Pca(p), "shrinkage") if p.whitening.is_some() => {
                    let s = value
                        .parse()
                        .map_err(|_| bad(spec, format!("shrinkage={value:?} is not a number")))?;
                    p.whitening = Some(s);
                }
                (Reduction::Tldr(t), "epochs") => t.epochs = number()?,
                (Reduction::Tldr(t), "warmup") => t.warmup_epochs = number()?,
                (Reduction::Tldr(t), "batch") => t.batch_size = number()?,
                (Reduction::Tldr(t), "neighbors") => t.n_neighbors = number()?,
                (Reduction::Tldr(t), "seed") => t.seed = number()? as u64,
                (Reduction::Tldr(t), "encoder") => {
                    t.encoder = value.parse().map_err(|e| bad(spec, e))?
                }
                (Reduction::Tldr(t), "projector") => {
                    t.projector = match value {
                        "none" => None,
                        v => Some(v.parse().map_err(|e| bad(spec, e))?),
                    }
                }
                _ => return Err(bad(spec, format!("{key:?} is not a key of {method}"))),
            }
        }
        Ok(r)
    }
}

impl fmt::Display for Reduction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reduction::Pca(p) => match p.whitening {
                None => write!(f, "pca:{}", p.n_components),
                Some(s) => {
                    write!(f, "pca-whiten:{}", p.n_components)?;
                    if s != 0.0 {
                        write!(f, ",shrinkage={s}")?;
                    }
                    Ok(())
                }
            },
            Reduction::Tldr(t) => {
                let d = TldrParams::new(t.n_components);
                write!(f, "tldr:{}", t.n_components)?;
                for (key, value, default) in [
                    ("epochs", t.epochs, d.epochs),
                    ("warmup", t.warmup_epochs, d.warmup_epochs),
                    ("batch", t.batch_size, d.batch_size),
                    ("neighbors", t.n_neighbors, d.n_neighbors),
                ] {
                    if value != default {
                        write!(f, ",{key}={value}")?;
                    }
                }
                if t.encoder != d.encoder {
                    write!(f, ",encoder={}", t.encoder)?;
                }
                if t.projector != d.projector {
                    match &t.projector {
                        Some(p) => write!(f, ",projector={p}")?,
                        None => write!(f, ",projector=none")?,
                    }
                }
                if t.seed != d.seed {
                    write!(f, ",seed={}", t.seed)?;
                }
                Ok(())
            }
        }
    }
}

impl serde::Serialize for Reduction {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Reduction {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_print_back() {
        for spec in [
            "pca:16",
            "pca-whiten:128",
            "pca-whiten:64,shrinkage=0.1",
            "tldr:128",
            "tldr:32,epochs=20,warmup=2,projector=none,seed=3",
            "tldr:64,encoder=mlp-1-512,projector=mlp-2-256",
        ] {
            let r: Reduction = spec.parse().unwrap();
            assert_eq!(r.to_string(), spec);
            assert_eq!(r.to_string().parse::<Reduction>().unwrap(), r);
        }
        let r: Reduction = "tldr:128, epochs=20".parse().unwrap();
        let Reduction::Tldr(t) = &r else {
            panic!("tldr")
        };
        assert_eq!((t.n_components, t.epochs, t.warmup_epochs), (128, 20, 10));
        assert_eq!(
            "pca-whiten:8".parse::<Reduction>().unwrap(),
            Reduction::Pca(PcaParams::whitened(8, 0.0))
        );
    }

    #[test]
    fn bad_specs_say_what_to_write() {
        for (spec, says) in [
            ("tldr", "no output dimension"),
            ("pca:x", "not a whole number"),
            ("umap:8", "unknown method \"umap\""),
            ("pca:8,shrinkage=0.1", "not a key of pca"),
            ("tldr:8,epochs", "not KEY=VALUE"),
        ] {
            let e = spec.parse::<Reduction>().unwrap_err().to_string();
            assert!(
                e.contains(says) && e.contains("e.g. tldr:128"),
                "{spec}: {e}"
            );
        }
    }
}
