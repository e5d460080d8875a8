//! LCA-height distances between labels ("Making Better Mistakes", Bertinetto et al. 2020), for
//! mistake severity and hierarchical distance@k.
//!
//! WordNet is a DAG, the paper's hierarchy a tree over the label set; hiercog defines the distance
//! on the hierarchy *induced by the label set*: the labels and all their ancestors, with the
//! taxonomy's is-a edges between them (chains are kept, not collapsed). In it:
//!
//! - height h(x) = 0 for a label with no label below it, else 1 + the largest height among its
//!   children in the induced hierarchy (the longest downward path to a label);
//! - [`DistanceConvention::LcaHeight`]: d(A, B) = min over common ancestors x of h(x), which is
//!   the height of the lowest common ancestor (h grows strictly upwards, so the minimum sits at a
//!   lowest one); in a tree whose leaves are the labels this is exactly the paper's h(LCA);
//! - [`DistanceConvention::PaddedLcaHeight`]: d(A, B) = D - max over common ancestors x of
//!   max_depth(x), D = the largest max_depth of a label: the LCA height once every label is padded
//!   down to depth D, the convention of the fiveai/making-better-mistakes distance files;
//! - d(A, A) = 0 in both conventions, and a pair without a common ancestor gets +infinity.

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::taxonomy::{ConceptId, Taxonomy};

/// Which LCA height to use (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DistanceConvention {
    /// Height of the lowest common ancestor in the hierarchy induced by the label set.
    #[default]
    LcaHeight,
    /// D - depth(LCA), D = deepest label depth: every label padded to the same depth.
    PaddedLcaHeight,
}

impl std::str::FromStr for DistanceConvention {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "height" | "lca" | "lca-height" => Ok(DistanceConvention::LcaHeight),
            "padded" | "padded-lca-height" => Ok(DistanceConvention::PaddedLcaHeight),
            _ => Err(format!(
                "unknown distance convention {s:?}: use `height` (also `lca`) or `padded`"
            )),
        }
    }
}

/// Symmetric n×n matrix of distances between `labels`, row-major.
#[derive(Clone, Debug)]
pub struct DistanceMatrix {
    /// The concepts of the rows and columns, in order; empty for a matrix made
    /// [`from_values`](DistanceMatrix::from_values).
    pub labels: Vec<ConceptId>,
    n: usize,
    data: Vec<f64>,
}

impl DistanceMatrix {
    /// A matrix of class distances given as values (row-major `n × n`, e.g. a user's own, or one
    /// computed elsewhere), checked: symmetric, zero on the diagonal, every value ≥ 0 (+∞ allowed:
    /// no common ancestor); the first offending entry is named.
    pub fn from_values(values: Vec<f64>, n: usize) -> Result<DistanceMatrix> {
        let bad = |message: String| Err(Error::BadDistances(message));
        if values.len() != n * n {
            return bad(format!(
                "{} values do not form a {n}×{n} matrix",
                values.len()
            ));
        }
        for i in 0..n {
            for j in 0..n {
                let v = values[i * n + j];
                if v.is_nan() || v < 0.0 {
                    return bad(format!("entry ({i}, {j}) is {v}; distances must be >= 0"));
                }
                if i == j && v != 0.0 {
                    return bad(format!("entry ({i}, {i}) is {v}; the diagonal must be 0"));
                }
                if v != values[j * n + i] {
                    return bad(format!(
                        "entry ({i}, {j}) is {v} but ({j}, {i}) is {}; the matrix must be symmetric",
                        values[j * n + i]
                    ));
                }
            }
        }
        Ok(DistanceMatrix {
            labels: Vec::new(),
            n,
            data: values,
        })
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.n
    }

    /// All distances, row-major.
    pub fn values(&self) -> &[f64] {
        &self.data
    }

    /// All distances, row-major, without a copy.
    pub fn into_values(self) -> Vec<f64> {
        self.data
    }
    /// True when there is no label.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    /// Distance between labels `i` and `j`.
    pub fn get(&self, i: usize, j: usize) -> f64 {
        self.data[i * self.len() + j]
    }
    /// Row `i`: distances from label `i` to every label.
    pub fn row(&self, i: usize) -> &[f64] {
        let n = self.len();
        &self.data[i * n..(i + 1) * n]
    }
    /// Largest finite distance (0 for fewer than two labels): the normaliser of soft labels.
    pub fn max(&self) -> f64 {
        self.data
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .fold(0.0, f64::max)
    }
}

/// Distance between two concepts, taking `{a, b}` as the label set (for a fixed label set,
/// whose heights depend on all its labels, use [`distance_matrix`]).
pub fn lca_distance(
    tax: &Taxonomy,
    a: ConceptId,
    b: ConceptId,
    conv: DistanceConvention,
) -> Result<f64> {
    Ok(distance_matrix(tax, &[a, b], conv)?.get(0, 1))
}

/// All pairwise distances of `labels` under `conv` (rows in parallel), in the hierarchy induced
/// by `labels` themselves.
pub fn distance_matrix(
    tax: &Taxonomy,
    labels: &[ConceptId],
    conv: DistanceConvention,
) -> Result<DistanceMatrix> {
    distance_matrix_within(tax, labels, &[], conv)
}

/// All pairwise distances of `labels` under `conv`, in the hierarchy induced by `labels` and
/// `hierarchy` together: datasets that each hold a part of one benchmark's concepts measure their
/// distances in one shared hierarchy (the whole benchmark's), so that their values compare.
pub fn distance_matrix_within(
    tax: &Taxonomy,
    labels: &[ConceptId],
    hierarchy: &[ConceptId],
    conv: DistanceConvention,
) -> Result<DistanceMatrix> {
    if labels.is_empty() {
        return Err(Error::Empty("the label set"));
    }
    if let Some(c) = labels
        .iter()
        .chain(hierarchy)
        .find(|c| c.index() >= tax.len())
    {
        return Err(Error::BadConceptId(c.0));
    }
    let n = tax.len();
    let mut induced = vec![false; n];
    for &l in labels.iter().chain(hierarchy) {
        for a in tax.ancestors(l) {
            induced[a.index()] = true;
        }
    }
    // Value minimised over common ancestors: h(x) or D - max_depth(x).
    let key: Vec<f64> = match conv {
        DistanceConvention::LcaHeight => {
            let mut h = vec![0u32; n];
            for &x in tax.topological_order().iter().rev() {
                if induced[x.index()] {
                    h[x.index()] = tax
                        .children(x)
                        .iter()
                        .filter(|y| induced[y.index()])
                        .map(|y| h[y.index()] + 1)
                        .max()
                        .unwrap_or(0);
                }
            }
            h.into_iter().map(f64::from).collect()
        }
        DistanceConvention::PaddedLcaHeight => {
            let d = labels
                .iter()
                .chain(hierarchy)
                .map(|&l| tax.max_depth(l))
                .max()
                .unwrap_or(0) as f64;
            tax.all().map(|x| d - tax.max_depth(x) as f64).collect()
        }
    };
    let ancestors: Vec<Vec<ConceptId>> = labels.par_iter().map(|&l| tax.ancestors(l)).collect();
    let m = labels.len();
    let mut data = vec![0.0; m * m];
    data.par_chunks_mut(m).enumerate().for_each(|(i, row)| {
        for (j, out) in row.iter_mut().enumerate() {
            if labels[i] == labels[j] {
                continue;
            }
            let mut best = f64::INFINITY;
            let (x, y) = (&ancestors[i], &ancestors[j]);
            let (mut p, mut q) = (0, 0);
            while p < x.len() && q < y.len() {
                match x[p].cmp(&y[q]) {
                    std::cmp::Ordering::Less => p += 1,
                    std::cmp::Ordering::Greater => q += 1,
                    std::cmp::Ordering::Equal => {
                        best = best.min(key[x[p].index()]);
                        p += 1;
                        q += 1;
                    }
                }
            }
            *out = best;
        }
    });
    Ok(DistanceMatrix {
        labels: labels.to_vec(),
        n: m,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_matrix_from_values_is_checked() {
        let m = DistanceMatrix::from_values(vec![0.0, 2.0, 2.0, 0.0], 2).unwrap();
        assert_eq!((m.len(), m.get(0, 1), m.max()), (2, 2.0, 2.0));
        assert!(m.labels.is_empty());
        let err = |v: Vec<f64>, n| DistanceMatrix::from_values(v, n).unwrap_err().to_string();
        assert!(err(vec![0.0; 3], 2).contains("3 values do not form a 2×2 matrix"));
        assert!(err(vec![0.0, 1.0, 2.0, 0.0], 2).contains("(0, 1) is 1 but (1, 0) is 2"));
        assert!(err(vec![1.0, 0.0, 0.0, 0.0], 2).contains("the diagonal must be 0"));
        assert!(err(vec![0.0, f64::NAN, f64::NAN, 0.0], 2).contains("(0, 1) is NaN"));
        let inf = DistanceMatrix::from_values(vec![0.0, f64::INFINITY, f64::INFINITY, 0.0], 2);
        assert_eq!(inf.unwrap().into_values()[1], f64::INFINITY);
    }
}
