//! Flat and hierarchical classification metrics over top-k predictions.
//!
//! Hierarchical metrics follow Bertinetto et al. ("Making Better Mistakes", CVPR 2020): with `d` the
//! LCA-height distance between classes (from `hiercog_taxonomy::distance_matrix`, in the convention
//! the caller chose), *mistake severity* is the mean `d(prediction, truth)` over top-1 mistakes and
//! *average hierarchical distance@k* is the mean over samples of the mean `d` over the top-k
//! predictions. Training code reuses these functions, so the probe and training report the same numbers.

use hiercog_taxonomy::DistanceMatrix;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The `k` best classes of each row (row-major `rows × k`, best first).
#[derive(Clone, Debug, PartialEq)]
pub struct TopK {
    /// Class indices, `k` per row.
    pub indices: Vec<u32>,
    /// Predictions kept per row.
    pub k: usize,
}

impl TopK {
    /// Selects the `k` largest scores of each row of a row-major `rows × c` matrix. Ties go to the
    /// lower class index; NaN scores rank last, so a diverged classifier still yields predictions.
    pub fn from_scores(scores: &[f32], c: usize, k: usize) -> TopK {
        let k = k.clamp(1, c.max(1));
        let mut indices = Vec::with_capacity(scores.len() / c.max(1) * k);
        let key = |v: f32| if v.is_nan() { f32::NEG_INFINITY } else { v };
        let mut best: Vec<(f32, u32)> = Vec::with_capacity(k + 1);
        for row in scores.chunks_exact(c) {
            best.clear();
            for (j, &v) in row.iter().enumerate() {
                let v = key(v);
                if best.len() == k && v <= best[k - 1].0 {
                    continue;
                }
                let pos = best.partition_point(|&(b, _)| b >= v);
                best.insert(pos, (v, j as u32));
                best.truncate(k);
            }
            indices.extend(best.iter().map(|&(_, j)| j));
        }
        TopK { indices, k }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.indices.len() / self.k
    }

    /// Predictions of row `i`, best first.
    pub fn row(&self, i: usize) -> &[u32] {
        &self.indices[i * self.k..(i + 1) * self.k]
    }

    /// Top-`k` accuracy in percent (`k` is capped by the predictions kept).
    pub fn accuracy(&self, labels: &[u32], k: usize) -> f64 {
        let k = k.min(self.k);
        let hits = (0..self.rows())
            .filter(|&i| self.row(i)[..k].contains(&labels[i]))
            .count();
        100.0 * hits as f64 / self.rows().max(1) as f64
    }
}

/// Hierarchical metrics of one evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HierarchicalMetrics {
    /// Mean distance of top-1 mistakes; `None` when there is no mistake.
    pub mistake_severity: Option<f64>,
    /// Average hierarchical distance@1.
    pub hdist_at_1: f64,
    /// Average hierarchical distance@5 (@C when there are fewer than 5 classes).
    pub hdist_at_5: f64,
}

fn check(topk: &TopK, labels: &[u32], dist: &DistanceMatrix) -> Result<()> {
    if topk.rows() != labels.len() {
        return Err(Error::InvalidData(format!(
            "{} prediction rows for {} labels",
            topk.rows(),
            labels.len()
        )));
    }
    let c = dist.len();
    if let Some(&bad) = topk
        .indices
        .iter()
        .chain(labels)
        .find(|&&j| j as usize >= c)
    {
        return Err(Error::DistanceShape {
            got: c,
            expected: bad as usize + 1,
        });
    }
    Ok(())
}

/// Mean `d(top-1 prediction, truth)` over the mistaken rows; `None` when every row is right.
pub fn mistake_severity(topk: &TopK, labels: &[u32], dist: &DistanceMatrix) -> Result<Option<f64>> {
    check(topk, labels, dist)?;
    let (sum, n) = (0..topk.rows())
        .map(|i| (topk.row(i)[0], labels[i]))
        .filter(|(p, y)| p != y)
        .fold((0.0, 0usize), |(s, n), (p, y)| {
            (s + dist.get(p as usize, y as usize), n + 1)
        });
    Ok((n > 0).then(|| sum / n as f64))
}

/// Mean over rows of the mean `d(prediction, truth)` over the top-`k` predictions.
pub fn average_hierarchical_distance(
    topk: &TopK,
    labels: &[u32],
    dist: &DistanceMatrix,
    k: usize,
) -> Result<f64> {
    check(topk, labels, dist)?;
    let k = k.clamp(1, topk.k);
    let total: f64 = (0..topk.rows())
        .map(|i| {
            topk.row(i)[..k]
                .iter()
                .map(|&p| dist.get(p as usize, labels[i] as usize))
                .sum::<f64>()
                / k as f64
        })
        .sum();
    Ok(total / topk.rows().max(1) as f64)
}

/// All hierarchical metrics at once.
pub fn hierarchical_metrics(
    topk: &TopK,
    labels: &[u32],
    dist: &DistanceMatrix,
) -> Result<HierarchicalMetrics> {
    Ok(HierarchicalMetrics {
        mistake_severity: mistake_severity(topk, labels, dist)?,
        hdist_at_1: average_hierarchical_distance(topk, labels, dist, 1)?,
        hdist_at_5: average_hierarchical_distance(topk, labels, dist, 5)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topk_orders_and_breaks_ties_by_index() {
        let t = TopK::from_scores(&[0.1, 0.9, 0.9, f32::NAN, 0.5, 0.2], 3, 2);
        assert_eq!(t.indices, vec![1, 2, 1, 2]);
        assert_eq!(t.accuracy(&[2, 0], 1), 0.0);
        assert_eq!(t.accuracy(&[2, 2], 2), 100.0);
    }
}
