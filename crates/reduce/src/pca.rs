//! PCA and PCA-whitening, as scikit-learn's `PCA(n_components, whiten)` computes them: centre on
//! the training mean, project on the leading eigenvectors of the covariance (divisor n − 1), signs
//! fixed so that each component's largest-magnitude coordinate is positive (`svd_flip` on the
//! rows of Vᵀ), and for whitening divide by the square root of the component's variance.
//!
//! Whitening with shrinkage (the retrieval habit of regularising small eigenvalues): the variances
//! λᵢ are replaced by (1 − s)·λᵢ + s·λ̄ before the division, λ̄ = the mean of all D eigenvalues
//! (the trace over D): s = 0 is scikit-learn's whitening, s = 1 a plain rotation scaled by 1/√λ̄.
//!
//! The covariance is accumulated in f64 over row chunks, one rayon task per column block with a
//! sequential GEMM inside, so the result does not depend on the thread count.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Par, Side};
use hiercog_retrieval::Rows;
use rayon::prelude::*;

use crate::data::{check_fit_input, check_transform_input, l2_normalize_rows};
use crate::error::{Error, Result};

/// Rows per chunk of the covariance accumulation.
const COV_CHUNK: usize = 2048;
/// Covariance columns per rayon task.
const COV_BLOCK: usize = 128;
/// Rows per rayon task when projecting.
const TRANSFORM_BLOCK: usize = 1024;

/// PCA hyper-parameters (checked when fitting).
#[derive(Clone, Debug, PartialEq)]
pub struct PcaParams {
    /// Output dimension d (< input dimension, ≤ number of rows).
    pub n_components: usize,
    /// `Some(s)`: whiten, variances shrunk towards their mean by s ∈ [0, 1]; `None`: no whitening.
    pub whitening: Option<f64>,
}

impl PcaParams {
    /// Plain PCA to `n_components` dimensions.
    pub fn new(n_components: usize) -> Self {
        PcaParams {
            n_components,
            whitening: None,
        }
    }

    /// PCA-whitening with variance shrinkage `s` (0: scikit-learn's `whiten=True`).
    pub fn whitened(n_components: usize, shrinkage: f64) -> Self {
        PcaParams {
            n_components,
            whitening: Some(shrinkage),
        }
    }

    /// Fits on the rows of `x`.
    pub fn fit(&self, x: Rows<'_>) -> Result<FittedPca> {
        let (n, dim) = (x.len(), x.dim());
        check_fit_input(x, self.n_components)?;
        if self.n_components > n {
            return Err(Error::param(
                "n_components",
                self.n_components,
                format!("at most the number of training rows ({n})"),
            ));
        }
        if let Some(s) = self.whitening {
            if !(0.0..=1.0).contains(&s) {
                return Err(Error::param("shrinkage", s, "a value in [0, 1]"));
            }
        }
        let mean = column_means(x);
        let cov = covariance(x, &mean);
        let evd = cov.self_adjoint_eigen(Side::Lower).map_err(|e| {
            Error::Data(format!(
                "the eigendecomposition of the {dim}x{dim} covariance failed ({e:?}); check the features for huge values"
            ))
        })?;
        let (u, s) = (evd.U(), evd.S());
        let trace_mean = (0..dim).map(|j| s[j].max(0.0)).sum::<f64>() / dim as f64;
        let d = self.n_components;
        let mut components = vec![0.0f32; d * dim];
        let mut explained_variance = Vec::with_capacity(d);
        for (c, row) in components.chunks_mut(dim).enumerate() {
            // Eigenvalues come in ascending order: component c is column dim − 1 − c.
            let col = dim - 1 - c;
            let v: Vec<f64> = (0..dim).map(|i| u[(i, col)]).collect();
            let top = (0..dim).fold(0, |b, i| if v[i].abs() > v[b].abs() { i } else { b });
            let sign = if v[top] < 0.0 { -1.0 } else { 1.0 };
            for (o, x) in row.iter_mut().zip(&v) {
                *o = (sign * x) as f32;
            }
            explained_variance.push(s[col].max(0.0));
        }
        let scale = match self.whitening {
            None => vec![1.0f32; d],
            Some(shrink) => {
                let mut out = Vec::with_capacity(d);
                for (c, &var) in explained_variance.iter().enumerate() {
                    let shrunk = (1.0 - shrink) * var + shrink * trace_mean;
                    if shrunk <= 0.0 {
                        return Err(Error::Data(format!(
                            "component {c} has zero variance: whitening would divide by zero; use a shrinkage > 0 or fewer components"
                        )));
                    }
                    out.push((1.0 / shrunk.sqrt()) as f32);
                }
                out
            }
        };
        Ok(FittedPca {
            params: self.clone(),
            mean,
            components,
            explained_variance,
            scale,
        })
    }
}

/// A fitted PCA: `transform(x) = ((x − mean) · componentsᵀ) ⊙ scale`.
#[derive(Clone, Debug, PartialEq)]
pub struct FittedPca {
    pub(crate) params: PcaParams,
    pub(crate) mean: Vec<f32>,
    /// `n_components × input_dim`, row-major.
    pub(crate) components: Vec<f32>,
    pub(crate) explained_variance: Vec<f64>,
    /// Per component: 1, or 1/√(shrunk variance) when whitening.
    pub(crate) scale: Vec<f32>,
}

impl FittedPca {
    /// The hyper-parameters it was fitted with.
    pub fn params(&self) -> &PcaParams {
        &self.params
    }
    /// Input dimension D.
    pub fn input_dim(&self) -> usize {
        self.mean.len()
    }
    /// The training mean.
    pub fn mean(&self) -> &[f32] {
        &self.mean
    }
    /// The principal axes, `n_components × D` row-major (scikit-learn's `components_`).
    pub fn components(&self) -> &[f32] {
        &self.components
    }
    /// Variance along each component (scikit-learn's `explained_variance_`).
    pub fn explained_variance(&self) -> &[f64] {
        &self.explained_variance
    }

    /// Projects the rows of `x` (`n × n_components`, row-major), L2-normalising each output row
    /// when `l2_norm`.
    pub fn transform(&self, x: Rows<'_>, l2_norm: bool) -> Result<Vec<f32>> {
        let dim = self.input_dim();
        check_transform_input(x, dim)?;
        let d = self.params.n_components;
        let mut out = vec![0.0f32; x.len() * d];
        let comps = MatRef::from_row_major_slice(&self.components, d, dim);
        out.par_chunks_mut(TRANSFORM_BLOCK * d)
            .zip(x.data().par_chunks(TRANSFORM_BLOCK * dim))
            .for_each(|(o, rows)| {
                let m = rows.len() / dim;
                let mut centred = rows.to_vec();
                for r in centred.chunks_mut(dim) {
                    for (v, mu) in r.iter_mut().zip(&self.mean) {
                        *v -= mu;
                    }
                }
                matmul(
                    MatMut::from_row_major_slice_mut(o, m, d),
                    Accum::Replace,
                    MatRef::from_row_major_slice(&centred, m, dim),
                    comps.transpose(),
                    1.0f32,
                    Par::Seq,
                );
                for r in o.chunks_mut(d) {
                    for (v, s) in r.iter_mut().zip(&self.scale) {
                        *v *= s;
                    }
                }
            });
        if l2_norm {
            l2_normalize_rows(&mut out, d);
        }
        Ok(out)
    }
}

/// Column means in f64.
fn column_means(x: Rows<'_>) -> Vec<f32> {
    let dim = x.dim();
    let sums = x
        .data()
        .par_chunks(COV_CHUNK * dim)
        .map(|chunk| {
            let mut s = vec![0.0f64; dim];
            for r in chunk.chunks(dim) {
                for (a, v) in s.iter_mut().zip(r) {
                    *a += *v as f64;
                }
            }
            s
        })
        .collect::<Vec<_>>();
    let mut total = vec![0.0f64; dim];
    for s in sums {
        for (t, v) in total.iter_mut().zip(s) {
            *t += v;
        }
    }
    total
        .into_iter()
        .map(|t| (t / x.len() as f64) as f32)
        .collect()
}

/// Covariance (divisor n − 1) of the rows of `x` around `mean`, in f64.
fn covariance(x: Rows<'_>, mean: &[f32]) -> Mat<f64> {
    let (n, dim) = (x.len(), x.dim());
    let blocks: Vec<(usize, usize)> = (0..dim)
        .step_by(COV_BLOCK)
        .map(|s| (s, (s + COV_BLOCK).min(dim)))
        .collect();
    let mut parts: Vec<Mat<f64>> = blocks
        .iter()
        .map(|&(s, e)| Mat::zeros(dim, e - s))
        .collect();
    let mut centred = vec![0.0f64; COV_CHUNK.min(n) * dim];
    for chunk in x.data().chunks(COV_CHUNK * dim) {
        let m = chunk.len() / dim;
        let c = &mut centred[..m * dim];
        c.par_chunks_mut(dim)
            .zip(chunk.par_chunks(dim))
            .for_each(|(o, r)| {
                for ((o, v), mu) in o.iter_mut().zip(r).zip(mean) {
                    *o = (*v - *mu) as f64;
                }
            });
        let cm = MatRef::from_row_major_slice(c, m, dim);
        parts
            .par_iter_mut()
            .zip(&blocks)
            .for_each(|(part, &(s, e))| {
                matmul(
                    part.as_mut(),
                    Accum::Add,
                    cm.transpose(),
                    cm.subcols(s, e - s),
                    1.0f64,
                    Par::Seq,
                );
            });
    }
    let denom = (n.max(2) - 1) as f64;
    Mat::from_fn(dim, dim, |i, j| {
        let b = j / COV_BLOCK;
        parts[b][(i, j - blocks[b].0)] / denom
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_axes_and_variances_of_a_stretched_cloud() {
        // Points on the x axis (spread 10) plus small y noise; 3rd coordinate constant.
        let x: Vec<f32> = (0..100)
            .flat_map(|i| {
                let t = i as f32 - 49.5;
                [t, 0.01 * (i % 7) as f32, 5.0]
            })
            .collect();
        let rows = Rows::new(&x, 3).unwrap();
        let pca = PcaParams::new(2).fit(rows).unwrap();
        assert!((pca.components()[0] - 1.0).abs() < 1e-6);
        let var_x: f64 = (0..100).map(|i| (i as f64 - 49.5).powi(2)).sum::<f64>() / 99.0;
        assert!((pca.explained_variance()[0] - var_x).abs() < 1e-6 * var_x);
        let z = PcaParams::whitened(1, 0.0)
            .fit(rows)
            .unwrap()
            .transform(rows, false)
            .unwrap();
        let var: f32 = z.iter().map(|v| v * v).sum::<f32>() / 99.0;
        assert!((var - 1.0).abs() < 1e-4, "{var}");
    }

    #[test]
    fn same_model_whatever_the_thread_count() {
        let (n, dim) = (3000, 260);
        let x: Vec<f32> = (0..n * dim)
            .map(|i| ((i * 7919 % 1009) as f32 / 1009.0) * (1.0 + (i % dim) as f32 / 50.0))
            .collect();
        let rows = Rows::new(&x, dim).unwrap();
        let fit = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| PcaParams::whitened(8, 0.1).fit(rows).unwrap())
        };
        assert_eq!(fit(1), fit(3));
    }

    #[test]
    fn bad_parameters_are_named() {
        let x = vec![1.0f32; 12];
        let rows = Rows::new(&x, 3).unwrap();
        let e = PcaParams::new(3).fit(rows).unwrap_err();
        assert!(e.to_string().contains("n_components"), "{e}");
        let two_rows = vec![1.0f32, 2.0, 3.0, 4.0, 0.0, 1.0, 0.0, 1.0];
        let e = PcaParams::new(3)
            .fit(Rows::new(&two_rows, 4).unwrap())
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("at most the number of training rows"),
            "{e}"
        );
        let x = vec![1.0f32; 30];
        let rows = Rows::new(&x, 3).unwrap();
        let e = PcaParams::whitened(2, 0.0).fit(rows).unwrap_err();
        assert!(e.to_string().contains("zero variance"), "{e}");
        let pca = PcaParams::new(2).fit(rows).unwrap();
        let e = pca.transform(Rows::new(&x, 5).unwrap(), true).unwrap_err();
        assert!(e.to_string().contains("3-dimensional features"), "{e}");
    }
}
