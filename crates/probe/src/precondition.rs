//! The data side of the softmax Hessian, as an L-BFGS preconditioner.
//!
//! For multinomial logistic regression with parameters `Θ = [W; bᵀ]` ((D+1) × C) and augmented rows
//! `x̃ = [x, 1]`, the Hessian is `(1/N) Σᵢ x̃ᵢx̃ᵢᵀ ⊗ (diag(pᵢ) − pᵢpᵢᵀ) + λ·I`. Replacing the class
//! factor by a scalar curvature `s·I` (K-FAC's Kronecker approximation, exact in its data factor)
//! gives `H ≈ (s·A + λI) ⊗ I` with `A = X̃ᵀX̃/N`, whose inverse is cheap once `A = QΛQᵀ` is known:
//! `H⁻¹v = Q·diag(1/(sΛ + λ))·Qᵀ·V`. Real features are strongly anisotropic (a large common mean,
//! a decaying spectrum), which is exactly what slows plain L-BFGS down; with this `H₀` the solver
//! sees a nearly isotropic problem. Applying it costs two (D+1)²×C GEMMs, about `(D+1)/N` of an
//! iteration's data GEMMs; building it costs one `X̃ᵀX̃` and a symmetric eigendecomposition, once per
//! data set (the protocol shares it across the whole regularisation path).

use faer::diag::Diag;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::evd;
use faer::{Mat, MatRef, Par};

use crate::data::Samples;
use crate::error::{Error, Result};
use crate::objective::{clear_upper_simd_state, data_column_sums, matmul_rows, second_moment};

/// `Q` and `Λ` of the augmented second-moment matrix `A = X̃ᵀX̃/N` of one data set.
#[derive(Clone, Debug)]
pub struct CovariancePreconditioner {
    /// Augmented dimension D + 1.
    size: usize,
    /// Eigenvectors, row-major `size × size` (column j is the j-th eigenvector).
    q: Vec<f32>,
    /// Eigenvalues, ascending, clamped at 0.
    eigenvalues: Vec<f64>,
}

impl CovariancePreconditioner {
    /// Whether preconditioning pays for itself on `rows × dim` features with `classes` classes.
    /// Applying it costs `(D+1)/N` of an iteration's data GEMMs, so N must be well above D; building
    /// it costs about `N·D² + 10·D³` FLOP, which must be won back within a few of the iterations it
    /// saves (each `4·N·D·C`), hence C not far below D/10. Below that (few-shot sets, small label
    /// sets) plain L-BFGS is cheap anyway.
    pub fn pays_off(rows: usize, dim: usize, classes: usize) -> bool {
        rows >= 4 * (dim + 1) && 10 * classes >= dim
    }

    /// Computes `A = X̃ᵀX̃/N` and its eigendecomposition.
    pub fn fit(data: Samples<'_>) -> Result<Self> {
        let (n, d) = (data.rows(), data.dim());
        if n == 0 {
            return Err(Error::InvalidData(
                "cannot build a preconditioner from zero rows".into(),
            ));
        }
        let size = d + 1;
        let xtx = second_moment(data);
        let means: Vec<f64> = data_column_sums(data)
            .into_iter()
            .map(|s| s / n as f64)
            .collect();
        let a = Mat::<f64>::from_fn(size, size, |i, j| match (i < d, j < d) {
            (true, true) => xtx[i * d + j] as f64 / n as f64,
            (true, false) => means[i],
            (false, true) => means[j],
            (false, false) => 1.0,
        });
        // Sequential on purpose: faer's parallel EVD may split its reductions by thread count,
        // and the preconditioner must not depend on it (it costs ~10·D³ once per data set).
        let (mut u, mut s) = (Mat::<f64>::zeros(size, size), Diag::<f64>::zeros(size));
        let scratch = evd::self_adjoint_evd_scratch::<f64>(
            size,
            evd::ComputeEigenvectors::Yes,
            Par::Seq,
            Default::default(),
        );
        evd::self_adjoint_evd(
            a.as_ref(),
            s.as_mut(),
            Some(u.as_mut()),
            Par::Seq,
            MemStack::new(&mut MemBuffer::new(scratch)),
            Default::default(),
        )
        .map_err(|e| {
            Error::InvalidData(format!(
                "eigendecomposition of the {size}x{size} feature second-moment matrix failed \
                 ({e:?}); check the features for huge values"
            ))
        })?;
        clear_upper_simd_state();
        let mut q = vec![0.0f32; size * size];
        for i in 0..size {
            for j in 0..size {
                q[i * size + j] = u[(i, j)] as f32;
            }
        }
        let s = s.column_vector();
        let eigenvalues = (0..size).map(|j| s[j].max(0.0)).collect();
        Ok(Self {
            size,
            q,
            eigenvalues,
        })
    }

    /// Feature dimension D it was built for.
    pub fn dim(&self) -> usize {
        self.size - 1
    }

    /// `out = Q·diag(1/(curvature·Λ + l2))·Qᵀ·v` for `v` laid out like the parameters (D × C weights,
    /// row-major, then C biases: one row-major (D+1) × C matrix). `tmp` is scratch of the same size.
    pub(crate) fn apply(
        &self,
        v: &[f32],
        curvature: f64,
        l2: f64,
        out: &mut [f32],
        tmp: &mut [f32],
    ) {
        let c = v.len() / self.size;
        let qm = MatRef::from_row_major_slice(&self.q, self.size, self.size);
        let vm = MatRef::from_row_major_slice(v, self.size, c);
        matmul_rows(tmp, qm.transpose(), vm, 1.0, false);
        for (row, &e) in tmp.chunks_exact_mut(c).zip(&self.eigenvalues) {
            let scale = (1.0 / (curvature * e + l2).max(f64::MIN_POSITIVE)) as f32;
            for t in row {
                *t *= scale;
            }
        }
        let tm = MatRef::from_row_major_slice(tmp, self.size, c);
        matmul_rows(out, qm, tm, 1.0, false);
    }

    /// `‖X̃·v‖²/N = Σⱼ λⱼ‖(Qᵀv)ⱼ‖²` for `v` laid out like the parameters: the data-side energy of
    /// a direction, without touching the data. `tmp` is scratch of `v`'s size.
    pub(crate) fn energy(&self, v: &[f32], tmp: &mut [f32]) -> f64 {
        let c = v.len() / self.size;
        let qm = MatRef::from_row_major_slice(&self.q, self.size, self.size);
        let vm = MatRef::from_row_major_slice(v, self.size, c);
        matmul_rows(tmp, qm.transpose(), vm, 1.0, false);
        tmp.chunks_exact(c)
            .zip(&self.eigenvalues)
            .map(|(row, &e)| e * row.iter().map(|&t| t as f64 * t as f64).sum::<f64>())
            .sum()
    }

    /// Checks that it was built for `dim`-d features.
    pub(crate) fn check_dim(&self, dim: usize) -> Result<()> {
        if self.dim() == dim {
            Ok(())
        } else {
            Err(Error::InvalidData(format!(
                "the preconditioner was built for {}-d features but the data is {dim}-d",
                self.dim()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_inverts_the_damped_second_moment() {
        // Rows with a large common mean and unequal spreads: an ill-conditioned A.
        let (n, d, c) = (40, 3, 2);
        let x: Vec<f32> = (0..n * d)
            .map(|i| 5.0 + ((i * 7919) % 13) as f32 * [0.01f32, 1.0, 0.1][i % d])
            .collect();
        let labels: Vec<u32> = (0..n as u32).map(|i| i % 2).collect();
        let s = Samples::new(&x, &labels, d, c).unwrap();
        let p = CovariancePreconditioner::fit(s).unwrap();
        let (lo, hi) = (p.eigenvalues[0], p.eigenvalues[d]);
        assert!(hi > 100.0 * lo, "eigenvalues {lo} .. {hi}");
        let (curv, l2) = (0.5, 1e-3);
        let v: Vec<f32> = (0..(d + 1) * c).map(|i| (i as f32 * 0.7).sin()).collect();
        let (mut out, mut tmp) = (vec![0.0; v.len()], vec![0.0; v.len()]);
        p.apply(&v, curv, l2, &mut out, &mut tmp);
        // (curv·A + l2·I)·out must give v back, with A built naively in f64.
        let aug = |r: usize, j: usize| if j < d { x[r * d + j] as f64 } else { 1.0 };
        for i in 0..=d {
            for k in 0..c {
                let mut acc = l2 * out[i * c + k] as f64;
                for j in 0..=d {
                    let a: f64 = (0..n).map(|r| aug(r, i) * aug(r, j)).sum::<f64>() / n as f64;
                    acc += curv * a * out[j * c + k] as f64;
                }
                let want = v[i * c + k] as f64;
                assert!(
                    (acc - want).abs() < 2e-2 * want.abs().max(0.1),
                    "{acc} vs {want}"
                );
            }
        }
    }
}
