//! The cost model of the probe protocol: core-seconds of one run of the fast protocol
//! ([`run_protocol`](crate::run_protocol)), its k-NN probe and its retrieval metrics, from the
//! run's shape — what `hiercog plan --estimate` adds up over a configured run.
//!
//! Each part is a sum of work terms with non-negative coefficients fitted to measured runs
//! (`benches/cost_model.sh`: the full protocol on a grid of synthetic shapes, one thread, CPU
//! seconds), so the model grows with every one of N, D and C:
//! * the linear probe: the L-BFGS iterations' GEMMs over the fit rows (`fit_rows·D·C`, one
//!   coefficient where the preconditioner is built and one where it is not, which takes more
//!   iterations), the
//!   validation passes of the λ path (`val_rows·D·C`), the softmax passes (`fit_rows·C`), the
//!   preconditioner's second-moment matrix (`search_rows·(D+1)²`) and eigendecomposition
//!   (`(D+1)³`) where it is built, and a constant;
//! * the k-NN probe: the test × train similarity GEMM (`test·train·D`), its top-k scan
//!   (`test·train`) and a constant;
//! * the retrieval metrics: the same GEMM and the ranking of the train set for every test row
//!   (`test·train·log₂ train`).
//!
//! Iteration counts depend on the data (how separable its classes are), which no shape tells:
//! the coefficients average over the grid's noise levels, and the fit's error on held-out shapes
//! is written beside them (`data/cost_model.tsv`).

use crate::error::{Error, Result};
use crate::precondition::CovariancePreconditioner;

/// The shape of one protocol run: what its cost depends on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProbeShape {
    /// Rows of the train set (all of it, also for a few-shot run: the validation split is drawn
    /// from it).
    pub train_rows: usize,
    /// Rows of the test set.
    pub test_rows: usize,
    /// Feature dimension D.
    pub dim: usize,
    /// Classes C.
    pub classes: usize,
    /// Training rows per class of a few-shot run; `None` for all data.
    pub shots: Option<usize>,
}

/// The validation share of the protocol's search split ([`ProtocolConfig::val_fraction`](crate::ProtocolConfig)).
const VAL_FRACTION: f64 = 0.2;

impl ProbeShape {
    /// Rows of the validation split (the protocol's 20 % of every class).
    pub fn val_rows(&self) -> usize {
        (VAL_FRACTION * self.train_rows as f64) as usize
    }

    /// Rows the search fits train on: the rest of the split, or the shots drawn from it.
    pub fn search_rows(&self) -> usize {
        let rest = self.train_rows - self.val_rows();
        self.shots.map_or(rest, |s| (s * self.classes).min(rest))
    }

    /// Rows of the final fit (and of the k-NN probe's database).
    pub fn fit_rows(&self) -> usize {
        self.shots
            .map_or(self.train_rows, |s| (s * self.classes).min(self.train_rows))
    }

    /// The linear probe's work terms, in the order of [`LINEAR_TERMS`].
    pub fn linear_terms(&self) -> Vec<f64> {
        let (d, c) = (self.dim as f64, self.classes as f64);
        let (fit, val, search) = (
            self.fit_rows() as f64,
            self.val_rows() as f64,
            self.search_rows() as f64,
        );
        let pre = CovariancePreconditioner::pays_off(self.search_rows(), self.dim, self.classes);
        let (pre, plain) = if pre { (1.0, 0.0) } else { (0.0, 1.0) };
        vec![
            pre * fit * d * c,
            plain * fit * d * c,
            val * d * c,
            fit * c,
            pre * search * (d + 1.0).powi(2),
            pre * (d + 1.0).powi(3),
            1.0,
        ]
    }

    /// The k-NN probe's work terms ([`KNN_TERMS`]): the test rows against the fit rows.
    pub fn knn_terms(&self) -> Vec<f64> {
        let pairs = self.test_rows as f64 * self.fit_rows() as f64;
        vec![pairs * self.dim as f64, pairs, 1.0]
    }

    /// The retrieval metrics' work terms ([`RETRIEVAL_TERMS`]).
    pub fn retrieval_terms(&self) -> Vec<f64> {
        let n = self.fit_rows() as f64;
        let pairs = self.test_rows as f64 * n;
        vec![pairs * self.dim as f64, pairs * n.max(2.0).log2(), 1.0]
    }
}

/// Names of the linear probe's terms, as in `data/cost_model.tsv`.
pub const LINEAR_TERMS: [&str; 7] = [
    "fit_rows*D*C[preconditioned]",
    "fit_rows*D*C[plain]",
    "val_rows*D*C",
    "fit_rows*C",
    "search_rows*(D+1)^2[preconditioned]",
    "(D+1)^3[preconditioned]",
    "1",
];
/// Names of the k-NN probe's terms.
pub const KNN_TERMS: [&str; 3] = ["test*train*D", "test*train", "1"];
/// Names of the retrieval metrics' terms.
pub const RETRIEVAL_TERMS: [&str; 3] = ["test*train*D", "test*train*log2(train)", "1"];

/// Fitted coefficients (core-seconds per unit of each term) of the three parts of a protocol run.
#[derive(Clone, Debug, PartialEq)]
pub struct CostModel {
    /// The linear probe ([`LINEAR_TERMS`]).
    pub linear: Vec<f64>,
    /// The k-NN probe ([`KNN_TERMS`]).
    pub knn: Vec<f64>,
    /// The retrieval metrics ([`RETRIEVAL_TERMS`]).
    pub retrieval: Vec<f64>,
    /// The `#` lines of the coefficients file: where, when and how they were measured, and the
    /// held-out error.
    pub provenance: Vec<String>,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl CostModel {
    /// The model fitted by `benches/cost_model.sh`, compiled in from `data/cost_model.tsv`.
    pub fn fitted() -> CostModel {
        CostModel::parse(include_str!("../data/cost_model.tsv"))
            .expect("data/cost_model.tsv is written by benches/cost_model.sh and tested")
    }

    /// Reads a coefficients file: `#` lines, then `part<TAB>term<TAB>coefficient` lines with
    /// every term of every part, in order.
    pub fn parse(text: &str) -> Result<CostModel> {
        let mut model = CostModel {
            linear: Vec::new(),
            knn: Vec::new(),
            retrieval: Vec::new(),
            provenance: Vec::new(),
        };
        for (i, line) in text.lines().enumerate() {
            let bad = |why: String| Error::InvalidData(format!("cost model line {}: {why}", i + 1));
            if let Some(comment) = line.strip_prefix('#') {
                model.provenance.push(comment.trim().to_string());
                continue;
            }
            if line.trim().is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split('\t').collect();
            let [part, term, value] = fields[..] else {
                return Err(bad(format!(
                    "expected part, term and coefficient, got {line:?}"
                )));
            };
            let (names, into) = match part {
                "linear" => (&LINEAR_TERMS[..], &mut model.linear),
                "knn" => (&KNN_TERMS[..], &mut model.knn),
                "retrieval" => (&RETRIEVAL_TERMS[..], &mut model.retrieval),
                other => return Err(bad(format!("unknown part {other:?}"))),
            };
            if names.get(into.len()) != Some(&term) {
                return Err(bad(format!(
                    "term {term:?} out of order: {part} has {names:?}"
                )));
            }
            let v: f64 = value
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| bad(format!("{value:?} is not a non-negative number")))?;
            into.push(v);
        }
        for (part, got, want) in [
            ("linear", model.linear.len(), LINEAR_TERMS.len()),
            ("knn", model.knn.len(), KNN_TERMS.len()),
            ("retrieval", model.retrieval.len(), RETRIEVAL_TERMS.len()),
        ] {
            if got != want {
                return Err(Error::InvalidData(format!(
                    "cost model: {part} has {got} of its {want} terms"
                )));
            }
        }
        Ok(model)
    }

    /// The coefficients file: `provenance` as `#` lines, then one line per term.
    pub fn to_tsv(&self) -> String {
        let mut s: String = self.provenance.iter().map(|l| format!("# {l}\n")).collect();
        for (part, names, values) in [
            ("linear", &LINEAR_TERMS[..], &self.linear),
            ("knn", &KNN_TERMS[..], &self.knn),
            ("retrieval", &RETRIEVAL_TERMS[..], &self.retrieval),
        ] {
            for (n, v) in names.iter().zip(values) {
                s.push_str(&format!("{part}\t{n}\t{v:.6e}\n"));
            }
        }
        s
    }

    /// Core-seconds of the linear probe of one protocol run (search and final fit, one thread).
    pub fn linear_seconds(&self, shape: &ProbeShape) -> f64 {
        dot(&self.linear, &shape.linear_terms())
    }

    /// Core-seconds of the k-NN probe of one run.
    pub fn knn_seconds(&self, shape: &ProbeShape) -> f64 {
        dot(&self.knn, &shape.knn_terms())
    }

    /// Core-seconds of the retrieval metrics (mAP) of one run.
    pub fn retrieval_seconds(&self, shape: &ProbeShape) -> f64 {
        dot(&self.retrieval, &shape.retrieval_terms())
    }
}

/// Least squares in relative error with non-negative coefficients: the `β ≥ 0` minimising
/// `Σᵢ ((xᵢ·β − yᵢ) / yᵢ)²`, so that small and large runs weigh alike and every term can only
/// add cost. Exact: the best least-squares solution over every subset of the terms whose
/// coefficients all come out non-negative (there are few terms).
pub fn fit_nonnegative(rows: &[Vec<f64>], y: &[f64]) -> Result<Vec<f64>> {
    let k = rows.first().map_or(0, Vec::len);
    if rows.len() != y.len() || rows.iter().any(|r| r.len() != k) || k == 0 || k > 16 {
        return Err(Error::InvalidData(format!(
            "cost fit: {} rows of terms for {} measurements, {k} terms (1 to 16, the same in every row)",
            rows.len(),
            y.len()
        )));
    }
    if let Some(bad) = y.iter().find(|v| !(v.is_finite() && **v > 0.0)) {
        return Err(Error::InvalidData(format!(
            "cost fit: measurement {bad} is not a positive number of seconds"
        )));
    }
    // Rows divided by their measurement: ordinary least squares towards 1.
    let scaled: Vec<Vec<f64>> = rows
        .iter()
        .zip(y)
        .map(|(r, yi)| r.iter().map(|v| v / yi).collect())
        .collect();
    let mut best: Option<(f64, Vec<f64>)> = None;
    for mask in 1u32..(1 << k) {
        let cols: Vec<usize> = (0..k).filter(|j| mask >> j & 1 == 1).collect();
        let Some(beta) = least_squares(&scaled, &cols) else {
            continue;
        };
        if beta.iter().any(|&b| b < 0.0) {
            continue;
        }
        let mut full = vec![0.0; k];
        for (&j, b) in cols.iter().zip(&beta) {
            full[j] = *b;
        }
        let residual: f64 = scaled.iter().map(|r| (dot(r, &full) - 1.0).powi(2)).sum();
        if best.as_ref().is_none_or(|(r, _)| residual < *r) {
            best = Some((residual, full));
        }
    }
    best.map(|(_, b)| b)
        .ok_or_else(|| Error::InvalidData("cost fit: no term explains the measurements".into()))
}

/// Least squares `min ‖A[:, cols]·β − 1‖` by Householder QR on columns scaled to unit norm
/// (the terms span twelve orders of magnitude); `None` when the columns are dependent.
fn least_squares(a: &[Vec<f64>], cols: &[usize]) -> Option<Vec<f64>> {
    let (m, k) = (a.len(), cols.len());
    if m < k {
        return None;
    }
    let norms: Vec<f64> = cols
        .iter()
        .map(|&j| a.iter().map(|r| r[j] * r[j]).sum::<f64>().sqrt())
        .collect();
    if norms.contains(&0.0) {
        return None;
    }
    // Column-major copy of the scaled columns, and the right-hand side.
    let mut q: Vec<Vec<f64>> = cols
        .iter()
        .zip(&norms)
        .map(|(&j, n)| a.iter().map(|r| r[j] / n).collect())
        .collect();
    let mut rhs = vec![1.0; m];
    for j in 0..k {
        let norm = q[j][j..].iter().map(|v| v * v).sum::<f64>().sqrt();
        if norm < 1e-10 {
            return None;
        }
        let alpha = if q[j][j] > 0.0 { -norm } else { norm };
        let mut v: Vec<f64> = q[j][j..].to_vec();
        v[0] -= alpha;
        let vv: f64 = v.iter().map(|x| x * x).sum();
        let reflect = |col: &mut [f64]| {
            let f = 2.0 * dot(&v, col) / vv;
            for (c, vi) in col.iter_mut().zip(&v) {
                *c -= f * vi;
            }
        };
        for col in q.iter_mut().skip(j) {
            reflect(&mut col[j..]);
        }
        reflect(&mut rhs[j..]);
    }
    // Back substitution on R (q[j][i] for i <= j).
    let mut beta = vec![0.0; k];
    for i in (0..k).rev() {
        let s: f64 = (i + 1..k).map(|j| q[j][i] * beta[j]).sum();
        beta[i] = (rhs[i] - s) / q[i][i];
    }
    Some(beta.iter().zip(&norms).map(|(b, n)| b / n).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic spread of shapes over the grid's range.
    fn shapes() -> Vec<ProbeShape> {
        let mut out = Vec::new();
        for (i, n) in [2000, 5000, 10000, 20000, 40000].into_iter().enumerate() {
            for (j, d) in [64, 256, 1024].into_iter().enumerate() {
                for (l, c) in [10, 100, 300].into_iter().enumerate() {
                    let shots = [None, Some(1), Some(16)][(i + j + l) % 3];
                    out.push(ProbeShape {
                        train_rows: n,
                        test_rows: n / 4,
                        dim: d,
                        classes: c,
                        shots,
                    });
                }
            }
        }
        out
    }

    #[test]
    fn the_fit_recovers_known_coefficients() {
        let truth = [2e-11, 6e-11, 5e-11, 3e-9, 1e-11, 4e-10, 0.05];
        let shapes = shapes();
        let rows: Vec<Vec<f64>> = shapes.iter().map(ProbeShape::linear_terms).collect();
        // ±1 % multiplicative noise, alternating: no term may absorb it.
        let y: Vec<f64> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| dot(r, &truth) * if i % 2 == 0 { 1.01 } else { 0.99 })
            .collect();
        let beta = fit_nonnegative(&rows, &y).unwrap();
        for (b, t) in beta.iter().zip(truth) {
            assert!((b - t).abs() <= 0.05 * t + 1e-15, "{beta:?} vs {truth:?}");
        }
        // Exact data: exact coefficients.
        let exact: Vec<f64> = rows.iter().map(|r| dot(r, &truth)).collect();
        let beta = fit_nonnegative(&rows, &exact).unwrap();
        for (b, t) in beta.iter().zip(truth) {
            assert!((b - t).abs() <= 1e-6 * t + 1e-18, "{beta:?} vs {truth:?}");
        }
    }

    #[test]
    fn a_term_that_would_come_out_negative_is_dropped() {
        // y = 2x₁ exactly, x₂ = x₁ + small wiggle anti-correlated with nothing useful.
        let rows: Vec<Vec<f64>> = (1..20)
            .map(|i| vec![i as f64, i as f64 + (i % 3) as f64])
            .collect();
        let y: Vec<f64> = rows.iter().map(|r| 2.0 * r[0]).collect();
        let beta = fit_nonnegative(&rows, &y).unwrap();
        assert!(beta.iter().all(|&b| b >= 0.0), "{beta:?}");
        assert!((beta[0] - 2.0).abs() < 1e-9 && beta[1] == 0.0, "{beta:?}");
    }

    #[test]
    fn bad_measurements_are_refused() {
        let rows = vec![vec![1.0], vec![2.0]];
        assert!(fit_nonnegative(&rows, &[1.0]).is_err());
        let err = fit_nonnegative(&rows, &[1.0, 0.0]).unwrap_err();
        assert!(err.to_string().contains("not a positive number"), "{err}");
    }

    #[test]
    fn the_committed_model_reads_back_and_grows_with_every_dimension() {
        let m = CostModel::fitted();
        assert_eq!(CostModel::parse(&m.to_tsv()).unwrap(), m);
        assert!(m.provenance.iter().any(|l| l.contains("cost_model.sh")));
        let base = ProbeShape {
            train_rows: 20000,
            test_rows: 5000,
            dim: 512,
            classes: 100,
            shots: None,
        };
        let total =
            |s: &ProbeShape| m.linear_seconds(s) + m.knn_seconds(s) + m.retrieval_seconds(s);
        let t0 = total(&base);
        assert!(t0 > 0.0);
        for bigger in [
            ProbeShape {
                train_rows: 40000,
                ..base
            },
            ProbeShape { dim: 1024, ..base },
            ProbeShape {
                classes: 200,
                ..base
            },
            ProbeShape {
                test_rows: 10000,
                ..base
            },
        ] {
            assert!(total(&bigger) > t0, "{bigger:?}");
        }
        // A few-shot run costs less than the all-data run, and more shots cost more.
        let shots = |s| {
            m.linear_seconds(&ProbeShape {
                shots: Some(s),
                ..base
            })
        };
        assert!(shots(1) < shots(16) && shots(16) < m.linear_seconds(&base));
    }

    #[test]
    fn a_broken_coefficients_file_says_where() {
        let first = LINEAR_TERMS[0];
        let err = CostModel::parse(&format!("# x\nlinear\t{first}\t-1\n")).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        let err = CostModel::parse(&format!("linear\t{first}\t1\n")).unwrap_err();
        assert!(err.to_string().contains("1 of its 7"), "{err}");
    }
}
