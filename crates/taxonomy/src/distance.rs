//! LCA-height distances between labels ("Making Better Mistakes", Bertinetto et al. 2020).

use crate::error::Result;
use crate::taxonomy::{ConceptId, Taxonomy};

/// Which LCA height to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DistanceConvention {
    /// Height of the lowest common ancestor in the hierarchy induced by the label set
    /// (labels at the bottom have height 0).
    #[default]
    LcaHeight,
    /// Every label padded down to the deepest label's depth: D - depth(LCA), the convention of
    /// the making-better-mistakes reference files.
    PaddedLcaHeight,
}

/// Symmetric n×n matrix of distances between `labels`, row-major.
#[derive(Clone, Debug)]
pub struct DistanceMatrix {
    pub labels: Vec<ConceptId>,
    data: Vec<f64>,
}

impl DistanceMatrix {
    /// Number of labels.
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    /// True when there is no label.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    /// Distance between labels `i` and `j`.
    pub fn get(&self, i: usize, j: usize) -> f64 {
        self.data[i * self.len() + j]
    }
    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f64] {
        let n = self.len();
        &self.data[i * n..(i + 1) * n]
    }
    /// Largest distance (0 for fewer than two labels).
    pub fn max(&self) -> f64 {
        self.data.iter().copied().fold(0.0, f64::max)
    }
}

/// Distance between two concepts, taking `{a, b}` as the label set.
pub fn lca_distance(
    tax: &Taxonomy,
    a: ConceptId,
    b: ConceptId,
    conv: DistanceConvention,
) -> Result<f64> {
    Ok(distance_matrix(tax, &[a, b], conv)?.get(0, 1))
}

/// All pairwise distances of `labels` under `conv`.
pub fn distance_matrix(
    tax: &Taxonomy,
    labels: &[ConceptId],
    conv: DistanceConvention,
) -> Result<DistanceMatrix> {
    let _ = (tax, labels, conv);
    todo!()
}
