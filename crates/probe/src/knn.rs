//! Weighted k-nearest-neighbour classifier on cosine similarity (DINO's `knn_classifier`): each of
//! the `k` nearest training rows votes for its class with weight `exp(sim / T)`. Solver-free, so it
//! checks the linear probe from a second angle.

use hiercog_retrieval::{
    ClassHierarchy, Evaluation, ExactIndex, Exclusion, KnnSearch, Metric, Queries, Rows,
};
use hiercog_taxonomy::DistanceMatrix;
use serde::{Deserialize, Serialize};

use crate::data::Samples;
use crate::error::{Error, Result};
use crate::metrics::TopK;

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

/// The train rows as a cosine-similarity database (`hiercog-retrieval`'s exact search).
fn cosine_index<'a>(train: Samples<'a>) -> Result<ExactIndex<'a>> {
    if train.rows() == 0 {
        return Err(Error::InvalidData(
            "the k-NN probe needs a non-empty train set".into(),
        ));
    }
    Ok(ExactIndex::new(
        Rows::new(train.x(), train.dim())?,
        Metric::Cosine,
    )?)
}

/// Test rows of `dim` values each.
fn test_rows(test_x: &[f32], dim: usize) -> Result<Rows<'_>> {
    Rows::new(test_x, dim).map_err(|_| {
        Error::InvalidData(format!(
            "k-NN needs {dim}-d test rows ({} values given)",
            test_x.len()
        ))
    })
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
        let index = cosine_index(train)?;
        let c = train.num_classes();
        let queries = test_rows(test_x, train.dim())?;
        let nn = index.search(
            queries,
            self.k.min(train.rows()),
            Exclusion::None,
            &|_, _| {},
        )?;
        let mut votes = vec![0.0f32; queries.len() * c];
        for (q, v) in votes.chunks_mut(c.max(1)).enumerate() {
            for (&j, &sim) in nn.indices(q).iter().zip(nn.scores(q)) {
                v[train.labels()[j as usize] as usize] += (sim / self.temperature).exp();
            }
        }
        Ok(TopK::from_scores(&votes, c, keep))
    }
}

/// Retrieval metrics of the test rows as queries against the train rows as database, ranked by
/// the k-NN probe's cosine similarity (percent).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetrievalScores {
    /// Mean average precision (same class = relevant).
    pub map: f64,
    /// Mean hierarchical AP (Ramzi et al., ECCV 2022), when class distances were given: the
    /// levels two classes share are the largest distance minus theirs
    /// ([`ClassHierarchy::from_distances`]).
    pub hap: Option<f64>,
}

/// mAP and H-AP of `test` (queries) against `train` (database), every query ranking the whole
/// train set by cosine similarity; the class distances `dist` (LCA heights) give the hierarchy.
pub fn retrieval_scores(
    train: Samples<'_>,
    test: Samples<'_>,
    dist: Option<&DistanceMatrix>,
) -> Result<RetrievalScores> {
    let index = cosine_index(train)?;
    let hierarchy = dist.map(ClassHierarchy::from_distances).transpose()?;
    let m = Evaluation {
        recall_at: Vec::new(),
        hierarchy: hierarchy.as_ref(),
        ..Evaluation::default()
    }
    .run(
        &index,
        train.labels(),
        Queries {
            x: test_rows(test.x(), train.dim())?,
            labels: test.labels(),
            exclusion: Exclusion::None,
        },
        &|_, _| {},
    )?;
    Ok(RetrievalScores {
        map: 100.0 * m.map,
        hap: m.hap.map(|h| 100.0 * h),
    })
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

    /// H-AP of one query by the formula, term by term: rank every train row by cosine (ties to
    /// the lower index), pop relevances, H-rank(k) = rel(k) + Σ_{j<k} min(rel(k), rel(j)).
    fn brute_force_hap(
        train: &[[f32; 2]],
        labels: &[u32],
        q: [f32; 2],
        qc: u32,
        d: &[f64],
        c: usize,
    ) -> f64 {
        let cos = |a: [f32; 2]| {
            let dot = f64::from(a[0] * q[0] + a[1] * q[1]);
            dot / (f64::from(a[0].hypot(a[1])) * f64::from(q[0].hypot(q[1])))
        };
        let mut order: Vec<usize> = (0..train.len()).collect();
        order.sort_by(|&a, &b| cos(train[b]).total_cmp(&cos(train[a])).then(a.cmp(&b)));
        let levels = d.iter().copied().fold(0.0, f64::max);
        let shared = |l: u32| levels - d[qc as usize * c + l as usize];
        let weight = |l: u32| shared(l) / (levels - 1.0);
        let rel: Vec<f64> = order
            .iter()
            .map(|&i| {
                let same = labels
                    .iter()
                    .filter(|&&o| shared(o) == shared(labels[i]))
                    .count();
                weight(labels[i]) / same as f64
            })
            .collect();
        let num: f64 = (0..rel.len())
            .map(|k| (rel[k] + (0..k).map(|j| rel[k].min(rel[j])).sum::<f64>()) / (k + 1) as f64)
            .sum();
        num / rel.iter().sum::<f64>()
    }

    #[test]
    fn retrieval_scores_equal_the_formula_on_a_tiny_case() {
        // Classes 0 and 1 are siblings (LCA height 1), class 2 meets them at the root (height 2).
        let d = [0.0, 1.0, 2.0, 1.0, 0.0, 2.0, 2.0, 2.0, 0.0];
        let dist = DistanceMatrix::from_values(d.to_vec(), 3).unwrap();
        let train = [
            [1.0, 0.0],
            [0.9, 0.5],
            [0.6, 0.8],
            [0.2, 1.0],
            [-0.5, 1.0],
            [-1.0, 0.1],
        ];
        let labels = [0u32, 1, 0, 2, 1, 2];
        let test = [[0.8, 0.6], [-0.7, 0.7], [1.0, -0.2]];
        let test_labels = [1u32, 2, 0];
        let flat = |r: &[[f32; 2]]| r.iter().flatten().copied().collect::<Vec<f32>>();
        let (tx, qx) = (flat(&train), flat(&test));
        let s = Samples::new(&tx, &labels, 2, 3).unwrap();
        let q = Samples::new(&qx, &test_labels, 2, 3).unwrap();
        let got = retrieval_scores(s, q, Some(&dist)).unwrap();
        let want = test
            .iter()
            .zip(test_labels)
            .map(|(&x, qc)| brute_force_hap(&train, &labels, x, qc, &d, 3))
            .sum::<f64>()
            / 3.0;
        let hap = got.hap.unwrap();
        assert!(
            (hap - 100.0 * want).abs() < 1e-9,
            "{hap} vs {}",
            100.0 * want
        );
        assert!(hap > 0.0 && hap < 100.0 && got.map > 0.0 && got.map < 100.0);
        // Without distances: mAP only.
        assert_eq!(retrieval_scores(s, q, None).unwrap().hap, None);
    }
}
