//! Feature preprocessing fitted on the training set and applied to both sets.

use std::str::FromStr;

use crate::{FeatureView, Result};

/// How features are normalized before the probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preprocess {
    /// Each row divided by its Euclidean norm (the naver/cog reference; zero rows stay zero).
    L2,
    /// Each dimension shifted and scaled by the train set's mean and standard deviation (a constant
    /// dimension keeps scale 1): seed 004's "batch-normalize the probe's input", which makes the probe
    /// far less sensitive to its hyper-parameters.
    Standardize,
    /// The features as extracted.
    None,
}

impl FromStr for Preprocess {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "l2" => Ok(Preprocess::L2),
            "standardize" => Ok(Preprocess::Standardize),
            "none" => Ok(Preprocess::None),
            _ => Err(format!(
                "unknown preprocessing {s:?}: use l2, standardize or none"
            )),
        }
    }
}

impl std::fmt::Display for Preprocess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Preprocess::L2 => "l2",
            Preprocess::Standardize => "standardize",
            Preprocess::None => "none",
        })
    }
}

/// A preprocessing with its train statistics.
#[derive(Clone, Debug, PartialEq)]
pub enum FittedPreprocess {
    /// Rows scaled to unit L2 norm (no statistics).
    L2,
    /// Per-dimension standardisation with the train set's statistics.
    Standardize {
        /// Per-dimension mean.
        mean: Vec<f32>,
        /// Per-dimension factor (1 / standard deviation).
        scale: Vec<f32>,
    },
    /// Features used as they are.
    None,
}

impl Preprocess {
    /// Fits the preprocessing on `train`, a [`FeatureSet`](crate::FeatureSet) or a
    /// [`FeatureView`] (statistics in f64 for accuracy on large sets).
    pub fn fit<'a>(self, train: impl Into<FeatureView<'a>>) -> Result<FittedPreprocess> {
        let train = train.into();
        Ok(match self {
            Preprocess::L2 => FittedPreprocess::L2,
            Preprocess::None => FittedPreprocess::None,
            Preprocess::Standardize => {
                let (n, d) = (train.rows().max(1) as f64, train.dim());
                let mut sum = vec![0f64; d];
                let mut sq = vec![0f64; d];
                for row in train.x().chunks_exact(d) {
                    for (j, &v) in row.iter().enumerate() {
                        sum[j] += v as f64;
                        sq[j] += (v as f64) * (v as f64);
                    }
                }
                let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
                let scale = sq
                    .iter()
                    .zip(&mean)
                    .map(|(s, m)| {
                        let std = (s / n - m * m).max(0.0).sqrt();
                        if std > 1e-12 {
                            (1.0 / std) as f32
                        } else {
                            1.0
                        }
                    })
                    .collect();
                FittedPreprocess::Standardize {
                    mean: mean.iter().map(|&m| m as f32).collect(),
                    scale,
                }
            }
        })
    }
}

impl FittedPreprocess {
    /// The preprocessed matrix of `set`, a [`FeatureSet`](crate::FeatureSet) or a
    /// [`FeatureView`] (a new row-major vector).
    pub fn transform<'a>(&self, set: impl Into<FeatureView<'a>>) -> Vec<f32> {
        let set = set.into();
        let mut out = set.x().to_vec();
        self.transform_in_place(&mut out, set.dim());
        out
    }

    /// Preprocesses the row-major matrix `x` of rows of `dim` values in place (no second copy of
    /// a large matrix; see [`FeatureSet::into_matrix_and_labels`](crate::FeatureSet::into_matrix_and_labels)).
    pub fn transform_in_place(&self, x: &mut [f32], dim: usize) {
        match self {
            FittedPreprocess::None => {}
            FittedPreprocess::L2 => {
                for row in x.chunks_exact_mut(dim.max(1)) {
                    let norm = row
                        .iter()
                        .map(|v| (*v as f64) * (*v as f64))
                        .sum::<f64>()
                        .sqrt();
                    if norm > 0.0 {
                        let inv = (1.0 / norm) as f32;
                        row.iter_mut().for_each(|v| *v *= inv);
                    }
                }
            }
            FittedPreprocess::Standardize { mean, scale } => {
                for row in x.chunks_exact_mut(dim.max(1)) {
                    for ((v, m), s) in row.iter_mut().zip(mean).zip(scale) {
                        *v = (*v - m) * s;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FeatureSet;

    #[test]
    fn l2_standardize_none() {
        let train =
            FeatureSet::from_vec(vec![3.0, 4.0, 0.0, 0.0, 1.0, 2.0], 2, vec![0, 1, 0], None)
                .unwrap();
        let l2 = Preprocess::L2.fit(&train).unwrap().transform(&train);
        assert_eq!(&l2[..4], &[0.6, 0.8, 0.0, 0.0]);
        let st = Preprocess::Standardize.fit(&train).unwrap();
        let z = st.transform(&train);
        for j in 0..2 {
            let col: Vec<f64> = (0..3).map(|i| z[i * 2 + j] as f64).collect();
            let mean = col.iter().sum::<f64>() / 3.0;
            let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 3.0;
            assert!(mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-5, "{col:?}");
        }
        let constant = FeatureSet::from_vec(vec![5.0, 1.0, 5.0, 2.0], 2, vec![0, 1], None).unwrap();
        let z = Preprocess::Standardize
            .fit(&constant)
            .unwrap()
            .transform(&constant);
        assert_eq!((z[0], z[2]), (0.0, 0.0));
        assert_eq!(
            Preprocess::None.fit(&train).unwrap().transform(&train),
            train.x()
        );
        assert!("l1"
            .parse::<Preprocess>()
            .unwrap_err()
            .contains("l2, standardize or none"));
    }
}
