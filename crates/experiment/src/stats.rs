//! The paired comparison of two recipes over training seeds: Student's paired t-test
//! (`scipy.stats.ttest_rel`, two-sided), with the t distribution's tail from the regularised
//! incomplete beta function. Checked against SciPy by `tests/fixtures/make_fixtures.py`.

use serde::{Deserialize, Serialize};

/// A paired t-test of `a − b` over matched pairs (the same training seed for both recipes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairedTest {
    /// Number of pairs.
    pub pairs: usize,
    /// Mean of the differences `a − b`.
    pub mean_diff: f64,
    /// Sample standard deviation of the differences (n − 1 in the denominator).
    pub sd_diff: f64,
    /// t statistic, `mean / (sd / √n)`; ±∞ when every difference is equal and non-zero.
    pub t: f64,
    /// Two-sided p-value with n − 1 degrees of freedom; 1 when all differences are 0.
    pub p: f64,
}

/// Student's paired t-test of `a` against `b` (`a[i]` and `b[i]` paired); `None` with fewer than
/// two pairs or unequal lengths.
pub fn paired_t_test(a: &[f64], b: &[f64]) -> Option<PairedTest> {
    if a.len() != b.len() || a.len() < 2 {
        return None;
    }
    let n = a.len() as f64;
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let mean = d.iter().sum::<f64>() / n;
    let var = d.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0);
    let sd = var.sqrt();
    let (t, p) = if sd == 0.0 {
        if mean == 0.0 {
            (0.0, 1.0)
        } else {
            (f64::INFINITY.copysign(mean), 0.0)
        }
    } else {
        let t = mean / (sd / n.sqrt());
        (t, student_t_two_sided(t, n - 1.0))
    };
    Some(PairedTest {
        pairs: a.len(),
        mean_diff: mean,
        sd_diff: sd,
        t,
        p,
    })
}

/// P(|T| ≥ |t|) for Student's t with `dof` degrees of freedom: I_{ν/(ν+t²)}(ν/2, 1/2).
pub fn student_t_two_sided(t: f64, dof: f64) -> f64 {
    let x = dof / (dof + t * t);
    regularized_incomplete_beta(x, dof / 2.0, 0.5)
}

/// I_x(a, b), by the continued fraction of Numerical Recipes (§6.4, modified Lentz), using the
/// symmetry I_x(a, b) = 1 − I_{1−x}(b, a) where the fraction converges slowly.
fn regularized_incomplete_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front.exp() * beta_fraction(x, a, b) / a
    } else {
        1.0 - ln_front.exp() * beta_fraction(1.0 - x, b, a) / b
    }
}

fn beta_fraction(x: f64, a: f64, b: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let floor = |v: f64| if v.abs() < TINY { TINY } else { v };
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 / floor(1.0 - qab * x / qap);
    let mut h = d;
    // One modified-Lentz step with coefficient `aa`; returns the factor applied to h.
    let mut step = |aa: f64| {
        d = 1.0 / floor(1.0 + aa * d);
        c = floor(1.0 + aa / c);
        let del = d * c;
        h *= del;
        del
    };
    for m in 1..=300 {
        let m = m as f64;
        let m2 = 2.0 * m;
        step(m * (b - m) * x / ((qam + m2) * (a + m2)));
        let del = step(-(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)));
        if (del - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms: ≈1e-15 relative).
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const COEF: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x)Γ(1−x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut sum = COEF[0];
    for (i, c) in COEF.iter().enumerate().skip(1) {
        sum += c / (x + i as f64);
    }
    let t = x + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_gamma_at_known_points() {
        // Γ(1) = Γ(2) = 1, Γ(1/2) = √π, Γ(5) = 24.
        assert!(ln_gamma(1.0).abs() < 1e-14);
        assert!(ln_gamma(2.0).abs() < 1e-14);
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-14);
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-13);
    }

    #[test]
    fn degenerate_pairs() {
        assert_eq!(paired_t_test(&[1.0], &[0.0]), None);
        assert_eq!(paired_t_test(&[1.0, 2.0], &[0.0]), None);
        let same = paired_t_test(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]).unwrap();
        assert_eq!((same.t, same.p), (0.0, 1.0));
        let shifted = paired_t_test(&[2.0, 3.0, 4.0], &[1.0, 2.0, 3.0]).unwrap();
        assert_eq!(
            (shifted.t, shifted.p, shifted.mean_diff),
            (f64::INFINITY, 0.0, 1.0)
        );
    }
}
