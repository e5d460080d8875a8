//! Weighted k-nearest-neighbour classifier on cosine similarity (DINO's `knn_classifier`): each of
//! the `k` nearest training rows votes for its class with weight `exp(sim / T)`. Solver-free, so it
//! checks the linear probe from a second angle.

use faer::MatRef;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::Samples;
use crate::error::{Error, Result};
use crate::metrics::TopK;
use crate::objective::{clear_upper_simd_state, matmul_rows};

/// k-NN settings (DINO defaults: k = 20, T = 0.07).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KnnParams {
    /// Neighbours that vote.
    pub k: usize,
    /// Softmax temperature of the vote weights.
    pub temperature: f32,
}

impl Default for KnnParams {
    fn default() -> Self {
        Self {
            k: 20,
            temperature: 0.07,
        }
    }
}

/// Similarity values per chunk of test rows: bounds the `chunk × n_train` buffer (256 MB).
const SIM_BUDGET: usize = 64 << 20;

fn inverse_norms(x: &[f32], dim: usize) -> Vec<f32> {
    x.par_chunks(dim)
        .map(|r| {
            let n = r.iter().map(|v| v * v).sum::<f32>().sqrt();
            if n > 0.0 {
                1.0 / n
            } else {
                0.0
            }
        })
        .collect()
}

impl KnnParams {
    /// Ranks classes for each row of `test_x` (row-major, `train.dim()` wide) by weighted votes;
    /// returns the top-`keep` classes per row.
    pub fn predict_topk(&self, train: Samples<'_>, test_x: &[f32], keep: usize) -> Result<TopK> {
        if self.k == 0 || self.temperature.is_nan() || self.temperature <= 0.0 {
            return Err(Error::InvalidParam {
                name: "knn",
                value: format!("k={} T={}", self.k, self.temperature),
                hint: "k must be >= 1 and the temperature > 0",
            });
        }
        let (n, d, c) = (train.rows(), train.dim(), train.num_classes());
        if test_x.len() % d != 0 || n == 0 {
            return Err(Error::InvalidData(format!(
                "k-NN needs a non-empty train set and {d}-d test rows ({} values given)",
                test_x.len()
            )));
        }
        let k = self.k.min(n);
        let inv_train = inverse_norms(train.x(), d);
        let inv_test = inverse_norms(test_x, d);
        let m = test_x.len() / d;
        let chunk = (SIM_BUDGET / n).clamp(1, m.max(1));
        let mut sims = vec![0.0f32; chunk * n];
        let mut out = Vec::with_capacity(m * keep.min(c));
        let xt = MatRef::from_row_major_slice(train.x(), n, d).transpose();
        for start in (0..m).step_by(chunk) {
            let end = (start + chunk).min(m);
            let s = &mut sims[..(end - start) * n];
            let q = MatRef::from_row_major_slice(&test_x[start * d..end * d], end - start, d);
            matmul_rows(s, q, xt, 1.0, false);
            let votes: Vec<f32> = s
                .par_chunks_mut(n)
                .zip(&inv_test[start..end])
                .flat_map_iter(|(row, &iq)| {
                    clear_upper_simd_state();
                    for (v, &it) in row.iter_mut().zip(&inv_train) {
                        *v *= iq * it;
                    }
                    let nn = TopK::from_scores(row, n, k);
                    let mut v = vec![0.0f32; c];
                    for &j in &nn.indices {
                        v[train.labels()[j as usize] as usize] +=
                            (row[j as usize] / self.temperature).exp();
                    }
                    v
                })
                .collect();
            out.extend(TopK::from_scores(&votes, c, keep).indices);
        }
        Ok(TopK {
            indices: out,
            k: keep.clamp(1, c),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn votes_follow_nearest_direction_not_norm() {
        // Class 0 points along +x, class 1 along +y; norms differ wildly (cosine ignores them).
        let x = [10.0f32, 0.1, 0.2, 0.01, 0.1, 5.0, 0.01, 0.3];
        let y = [0u32, 0, 1, 1];
        let s = Samples::new(&x, &y, 2, 2).unwrap();
        let p = KnnParams {
            k: 2,
            temperature: 0.07,
        };
        let t = p.predict_topk(s, &[1.0, 0.2, 0.1, 3.0], 2).unwrap();
        assert_eq!(t.indices, vec![0, 1, 1, 0]);
    }
}
