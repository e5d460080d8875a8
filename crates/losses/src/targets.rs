//! The hierarchy as plain arrays: soft-label targets, HXE edge weights and path coefficients,
//! and the leaf-to-ancestor matrix. The losses are built from them, and they are what another
//! framework (numpy, PyTorch) needs to compute the same losses.

use candle_core::{Device, Tensor};
use hiercog_taxonomy::DistanceConvention;

use crate::error::Result;
use crate::spec::{check_alpha, check_beta, HxeWeighting};
use crate::tree::LabelTree;

/// A dense, row-major `f32` array with its shape: how hierarchy tensors leave the crate.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// `shape.iter().product()` values, row-major.
    pub data: Vec<f32>,
}

impl Array {
    /// Rounds `f64` values (computed in double precision) to an array.
    pub(crate) fn from_f64(shape: Vec<usize>, data: &[f64]) -> Array {
        Array {
            shape,
            data: data.iter().map(|&v| v as f32).collect(),
        }
    }

    /// The array as a tensor on `device`.
    pub fn to_tensor(&self, device: &Device) -> candle_core::Result<Tensor> {
        Tensor::from_slice(&self.data, self.shape.as_slice(), device)
    }
}

impl LabelTree {
    /// Soft-label targets of hardness `beta` (> 0): a `[C, C]` array whose row `t` is the target
    /// distribution for true class `t`, y_A = exp(−β·d(A, t)/d_max) / Σ_B exp(−β·d(B, t)/d_max),
    /// with d the class distances in `convention` and d_max their largest value
    /// (fiveai/making-better-mistakes `labels.py: make_all_soft_labels`).
    pub fn soft_labels(&self, beta: f64, convention: DistanceConvention) -> Result<Array> {
        let c = self.num_classes();
        Ok(Array::from_f64(
            vec![c, c],
            &self.soft_labels_f64(beta, convention)?,
        ))
    }

    pub(crate) fn soft_labels_f64(
        &self,
        beta: f64,
        convention: DistanceConvention,
    ) -> Result<Vec<f64>> {
        check_beta(beta)?;
        let d = self.distances(convention)?;
        // At least two leaves of one tree: the largest distance is finite and >= 1.
        let scale = beta / d.max();
        let mut y = Vec::with_capacity(d.len() * d.len());
        for t in 0..d.len() {
            let row: Vec<f64> = d.row(t).iter().map(|&v| (-scale * v).exp()).collect();
            let total: f64 = row.iter().sum();
            y.extend(row.iter().map(|v| v / total));
        }
        Ok(y)
    }

    /// HXE edge weights: a `[N]` array with, for each node, the weight of the edge above it
    /// (0 for the root, which has none). `alpha` must be ≥ 0. See [`HxeWeighting`] for the two
    /// forms.
    pub fn hxe_edge_weights(&self, alpha: f64, weighting: HxeWeighting) -> Result<Array> {
        Ok(Array::from_f64(
            vec![self.num_nodes()],
            &self.hxe_edge_weights_f64(alpha, weighting)?,
        ))
    }

    fn hxe_edge_weights_f64(&self, alpha: f64, weighting: HxeWeighting) -> Result<Vec<f64>> {
        check_alpha(alpha)?;
        let n = self.num_nodes();
        let mut w: Vec<f64> = match weighting {
            HxeWeighting::Reference => {
                let raw: Vec<f64> = (0..n)
                    .map(|v| (-alpha * self.depth(v) as f64).exp())
                    .collect();
                // The reference normalises over every node, the root's weight 1 included.
                let total: f64 = raw.iter().sum();
                raw.iter().map(|v| v / total).collect()
            }
            HxeWeighting::Paper => (0..n)
                .map(|v| (-alpha * self.height(v) as f64).exp())
                .collect(),
        };
        w[self.root()] = 0.0;
        Ok(w)
    }

    /// HXE path coefficients: a `[C, N]` array K such that, for true class t and node
    /// probabilities P (P(n) = the summed softmax of the leaves under n),
    /// HXE = Σ_n K[t, n]·log P(n) = −Σ_l w(C_l)·log(P(C_l) / P(C_l+1)) along t's path
    /// C_0 = t, …, C_h = root, w the [`LabelTree::hxe_edge_weights`].
    pub fn hxe_path_coefficients(&self, alpha: f64, weighting: HxeWeighting) -> Result<Array> {
        let w = self.hxe_edge_weights_f64(alpha, weighting)?;
        let n = self.num_nodes();
        let mut k = vec![0.0; self.num_classes() * n];
        for (class, row) in k.chunks_mut(n).enumerate() {
            let path = self.path_to_root(class);
            for pair in path.windows(2) {
                let (child, parent) = (pair[0], pair[1]);
                row[child] -= w[child];
                row[parent] += w[child];
            }
        }
        Ok(Array::from_f64(vec![self.num_classes(), n], &k))
    }

    /// The leaf-to-ancestor matrix: a `[C, N]` 0/1 array with M[t, n] = 1 when node n is class
    /// t's leaf or one of its ancestors (root included), so that softmax · M gives the node
    /// probabilities P.
    pub fn leaf_ancestor_matrix(&self) -> Array {
        let n = self.num_nodes();
        let mut m = vec![0.0f32; self.num_classes() * n];
        for (class, row) in m.chunks_mut(n).enumerate() {
            for node in self.path_to_root(class) {
                row[node] = 1.0;
            }
        }
        Array {
            shape: vec![self.num_classes(), n],
            data: m,
        }
    }
}
