//! The Barlow Twins loss (Zbontar et al. 2021) as TLDR uses it, and its gradient: on
//! batch-normalised projector outputs z₁, z₂ (batch B, width p), c = z₁ᵀz₂ / B and
//! L = scale · [Σᵢ (cᵢᵢ − 1)² + λ Σ_{i≠j} cᵢⱼ²].
//!
//! With G = ∂L/∂c = 2·scale·(λc + diag(δ)), δᵢ = (1 − λ)cᵢᵢ − 1, the gradients are
//! ∂L/∂z₁ = z₂Gᵀ/B and ∂L/∂z₂ = z₁G/B. When B < p (the default: 1024 rows, 2048 outputs) the p × p
//! matrix c is never formed: Σcᵢⱼ² = ⟨K₁, K₂⟩/B² and z₂cᵀ = K₂z₁/B with the B × B Gram matrices
//! Kₖ = zₖzₖᵀ, which costs 4 GEMMs of B²p instead of 3 of Bp².

use faer::MatRef;

use super::net::{column_sums, for_each_row, gemm};

/// The products the loss and its gradient are computed from.
enum Products {
    /// The B × B Gram matrices z₁z₁ᵀ and z₂z₂ᵀ (when B < p).
    Gram(Vec<f32>, Vec<f32>),
    /// The p × p cross-correlation c = z₁ᵀz₂/B.
    Cross(Vec<f32>),
}

/// The loss of the batch-normalised outputs `z1`, `z2` (row-major B × `p`) and, when `grads` is
/// given, its gradients with respect to them (written there).
pub(crate) fn barlow_twins(
    z1: &[f32],
    z2: &[f32],
    p: usize,
    scale: f64,
    lambda: f64,
    grads: Option<(&mut [f32], &mut [f32])>,
) -> f64 {
    let b = z1.len() / p;
    let inv_b = 1.0 / b as f64;
    let diag: Vec<f64> = column_sums(b, p, |r, c| z1[r * p + c] as f64 * z2[r * p + c] as f64)
        .into_iter()
        .map(|s| s * inv_b)
        .collect();
    let m1 = MatRef::from_row_major_slice(z1, b, p);
    let m2 = MatRef::from_row_major_slice(z2, b, p);
    // Σ_ij cᵢⱼ², and what the gradient needs: the Gram matrices, or c itself.
    let (sum_sq, products) = if b < p {
        let mut k1 = vec![0.0f32; b * b];
        let mut k2 = vec![0.0f32; b * b];
        gemm(&mut k1, m1, m1.transpose(), 1.0, false);
        gemm(&mut k2, m2, m2.transpose(), 1.0, false);
        let dot: f64 = k1.iter().zip(&k2).map(|(&x, &y)| x as f64 * y as f64).sum();
        (dot * inv_b * inv_b, Products::Gram(k1, k2))
    } else {
        let mut c = vec![0.0f32; p * p];
        gemm(&mut c, m1.transpose(), m2, inv_b as f32, false);
        let sum_sq: f64 = c.iter().map(|&x| x as f64 * x as f64).sum();
        (sum_sq, Products::Cross(c))
    };
    let on_diag: f64 = diag.iter().map(|d| (d - 1.0) * (d - 1.0)).sum();
    let diag_sq: f64 = diag.iter().map(|d| d * d).sum();
    let loss = scale * (on_diag + lambda * (sum_sq - diag_sq));
    let Some((d1, d2)) = grads else {
        return loss;
    };
    let two_s = 2.0 * scale;
    match &products {
        Products::Gram(k1, k2) => {
            // dz₁ = 2s/B·(λ/B·K₂z₁ + z₂·diag δ); dz₂ = 2s/B·(λ/B·K₁z₂ + z₁·diag δ)
            let alpha = (two_s * lambda * inv_b * inv_b) as f32;
            gemm(d1, MatRef::from_row_major_slice(k2, b, b), m1, alpha, false);
            gemm(d2, MatRef::from_row_major_slice(k1, b, b), m2, alpha, false);
        }
        Products::Cross(c) => {
            // G = 2s·(λc + diag δ); dz₁ = z₂Gᵀ/B = 2sλ/B·z₂cᵀ + …; dz₂ = z₁G/B = 2sλ/B·z₁c + …
            let alpha = (two_s * lambda * inv_b) as f32;
            let cm = MatRef::from_row_major_slice(c, p, p);
            gemm(d1, m2, cm.transpose(), alpha, false);
            gemm(d2, m1, cm, alpha, false);
        }
    }
    // + z·diag(2s·δ/B) with δᵢ = (1 − λ)cᵢᵢ − 1
    let diag_coef: Vec<f32> = diag
        .iter()
        .map(|&d| (two_s * ((1.0 - lambda) * d - 1.0) * inv_b) as f32)
        .collect();
    for (d, other) in [(d1, z2), (d2, z1)] {
        for_each_row(d, p, |r, row| {
            let o = &other[r * p..(r + 1) * p];
            for ((v, &x), &k) in row.iter_mut().zip(o).zip(&diag_coef) {
                *v += x * k;
            }
        });
    }
    loss
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The loss and gradients from the definition, in f64 (c formed, finite differences of
    /// nothing: the analytic formulas of the module doc, computed naively).
    fn naive(z1: &[f32], z2: &[f32], p: usize, s: f64, l: f64) -> (f64, Vec<f64>, Vec<f64>) {
        let b = z1.len() / p;
        let c = |i: usize, j: usize| {
            (0..b)
                .map(|r| z1[r * p + i] as f64 * z2[r * p + j] as f64)
                .sum::<f64>()
                / b as f64
        };
        let cm: Vec<f64> = (0..p * p).map(|k| c(k / p, k % p)).collect();
        let mut loss = 0.0;
        let mut g = vec![0.0; p * p];
        for i in 0..p {
            for j in 0..p {
                let v = cm[i * p + j];
                if i == j {
                    loss += (v - 1.0) * (v - 1.0);
                    g[i * p + j] = 2.0 * s * (v - 1.0);
                } else {
                    loss += l * v * v;
                    g[i * p + j] = 2.0 * s * l * v;
                }
            }
        }
        let mut d1 = vec![0.0; b * p];
        let mut d2 = vec![0.0; b * p];
        for r in 0..b {
            for i in 0..p {
                for j in 0..p {
                    d1[r * p + i] += z2[r * p + j] as f64 * g[i * p + j] / b as f64;
                    d2[r * p + j] += z1[r * p + i] as f64 * g[i * p + j] / b as f64;
                }
            }
        }
        (s * loss, d1, d2)
    }

    #[test]
    fn both_paths_equal_the_definition() {
        // B > p takes the p × p path, B < p the Gram path.
        for (b, p) in [(12, 5), (5, 12)] {
            let z1: Vec<f32> = (0..b * p)
                .map(|i| ((i * 37 % 23) as f32 / 7.0 - 1.5).sin())
                .collect();
            let z2: Vec<f32> = (0..b * p)
                .map(|i| ((i * 29 % 31) as f32 / 9.0 - 1.0).cos())
                .collect();
            let (want, w1, w2) = naive(&z1, &z2, p, 1.0 / 32.0, 3.9e-3);
            let (mut d1, mut d2) = (vec![0.0f32; b * p], vec![0.0f32; b * p]);
            let got = barlow_twins(&z1, &z2, p, 1.0 / 32.0, 3.9e-3, Some((&mut d1, &mut d2)));
            assert!(
                (got - want).abs() <= 1e-6 * want.abs(),
                "{b}x{p}: {got} vs {want}"
            );
            assert_eq!(barlow_twins(&z1, &z2, p, 1.0 / 32.0, 3.9e-3, None), got);
            for (g, w) in d1.iter().zip(&w1).chain(d2.iter().zip(&w2)) {
                assert!((*g as f64 - w).abs() <= 1e-6, "{b}x{p}: {g} vs {w}");
            }
        }
    }
}
