//! Comparing two benchmarks level by level: overlap (Jaccard), rank agreement of the similarities
//! (Spearman), and where the common concepts land (level confusion matrix).

use std::collections::HashMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::benchmark::Benchmark;

/// How level i of A compares with level i of B.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LevelComparison {
    /// Level name (of A).
    pub level: String,
    /// Concepts in A's level.
    pub size_a: usize,
    /// Concepts in B's level.
    pub size_b: usize,
    /// Concepts in both.
    pub common: usize,
    /// |A ∩ B| / |A ∪ B|.
    pub jaccard: f64,
    /// Spearman's rho between A's and B's similarities of the common concepts (tie-averaged ranks);
    /// `None` with fewer than 2 common concepts or constant similarities.
    pub spearman: Option<f64>,
}

/// Result of [`compare`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    /// Level-by-level comparison, for the levels both have (matched by position: L1 with L1).
    pub levels: Vec<LevelComparison>,
    /// Concepts in the levels of A.
    pub size_a: usize,
    /// Concepts in the levels of B.
    pub size_b: usize,
    /// Concepts in some level of A and some level of B.
    pub common: usize,
    /// Jaccard index of all level concepts of A and of B.
    pub jaccard: f64,
    /// Of those, how many are in the same level in both.
    pub same_level: usize,
    /// Spearman's rho of the similarities over all common concepts.
    pub spearman: Option<f64>,
    /// `confusion[i][j]`: common concepts in A's level i and B's level j.
    pub confusion: Vec<Vec<usize>>,
    /// A's level names.
    pub levels_a: Vec<String>,
    /// B's level names.
    pub levels_b: Vec<String>,
}

/// Compares the levels of `a` and `b`.
pub fn compare(a: &Benchmark, b: &Benchmark) -> Comparison {
    let (ia, ib) = (level_index(a), level_index(b));
    let (ka, kb) = (a.levels().len(), b.levels().len());
    let mut confusion = vec![vec![0usize; kb]; ka];
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    let mut per_level: Vec<(Vec<f64>, Vec<f64>)> = vec![(Vec::new(), Vec::new()); ka.min(kb)];
    for (w, &(la, sa)) in &ia {
        if let Some(&(lb, sb)) = ib.get(w) {
            confusion[la][lb] += 1;
            xs.push(sa);
            ys.push(sb);
            if la == lb {
                per_level[la].0.push(sa);
                per_level[la].1.push(sb);
            }
        }
    }
    let levels = per_level
        .iter()
        .enumerate()
        .map(|(i, (x, y))| {
            let (na, nb) = (a.levels()[i].concepts.len(), b.levels()[i].concepts.len());
            let union = na + nb - x.len();
            LevelComparison {
                level: a.levels()[i].name.clone(),
                size_a: na,
                size_b: nb,
                common: x.len(),
                jaccard: if union == 0 {
                    1.0
                } else {
                    x.len() as f64 / union as f64
                },
                spearman: spearman(x, y),
            }
        })
        .collect();
    let union = ia.len() + ib.len() - xs.len();
    Comparison {
        levels,
        size_a: ia.len(),
        size_b: ib.len(),
        common: xs.len(),
        jaccard: if union == 0 {
            1.0
        } else {
            xs.len() as f64 / union as f64
        },
        same_level: (0..ka.min(kb)).map(|i| confusion[i][i]).sum(),
        spearman: spearman(&xs, &ys),
        confusion,
        levels_a: a.levels().iter().map(|l| l.name.clone()).collect(),
        levels_b: b.levels().iter().map(|l| l.name.clone()).collect(),
    }
}

/// wnid -> (level index, similarity) over every level.
fn level_index(bm: &Benchmark) -> HashMap<&str, (usize, f64)> {
    bm.levels()
        .iter()
        .enumerate()
        .flat_map(|(i, l)| {
            l.concepts
                .iter()
                .map(move |c| (c.wnid.as_str(), (i, c.similarity)))
        })
        .collect()
}

impl Comparison {
    /// Markdown tables: per level, then the confusion matrix.
    pub fn to_markdown(&self) -> String {
        let f = |x: Option<f64>| x.map_or("n/a".to_string(), |v| format!("{v:.4}"));
        let mut rows: Vec<Vec<String>> = self
            .levels
            .iter()
            .map(|l| {
                vec![
                    l.level.clone(),
                    l.size_a.to_string(),
                    l.size_b.to_string(),
                    l.common.to_string(),
                    format!("{:.4}", l.jaccard),
                    f(l.spearman),
                ]
            })
            .collect();
        rows.push(vec![
            "all".into(),
            self.size_a.to_string(),
            self.size_b.to_string(),
            self.common.to_string(),
            format!("{:.4}", self.jaccard),
            f(self.spearman),
        ]);
        let mut out = crate::summary::table(
            &["level", "A", "B", "common", "Jaccard", "Spearman rho"],
            &rows,
        );
        let same = if self.common == 0 {
            0.0
        } else {
            self.same_level as f64 / self.common as f64
        };
        let _ = writeln!(
            out,
            "\n{} of the {} common concepts ({:.2}%) are in the same level in A and B.",
            self.same_level,
            self.common,
            100.0 * same
        );
        let mut header = vec!["A \\ B".to_string()];
        header.extend(self.levels_b.iter().cloned());
        let rows: Vec<Vec<String>> = self
            .confusion
            .iter()
            .zip(&self.levels_a)
            .map(|(r, n)| {
                std::iter::once(n.clone())
                    .chain(r.iter().map(|v| v.to_string()))
                    .collect()
            })
            .collect();
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        let _ = write!(
            out,
            "\nWhere the common concepts land (rows: A's level, columns: B's level):\n\n{}",
            crate::summary::table(&header, &rows)
        );
        out
    }
}

/// Spearman's rank correlation with tie-averaged ranks (as scipy.stats.spearmanr): Pearson's r of
/// the ranks. `None` for fewer than 2 pairs or a constant input.
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    assert_eq!(x.len(), y.len(), "spearman needs paired samples");
    if x.len() < 2 {
        return None;
    }
    let (rx, ry) = (ranks(x), ranks(y));
    let n = x.len() as f64;
    let (mx, my) = (rx.iter().sum::<f64>() / n, ry.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in rx.iter().zip(&ry) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

/// 1-based ranks, ties sharing their average rank.
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && v[order[j + 1]] == v[order[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        order[i..=j].iter().for_each(|&k| r[k] = avg);
        i = j + 1;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_average_ties() {
        assert_eq!(ranks(&[0.5, 0.1, 0.5, 0.9]), [2.5, 1.0, 2.5, 4.0]);
    }

    #[test]
    fn spearman_limits() {
        assert_eq!(spearman(&[1.0, 2.0, 3.0], &[10.0, 20.0, 35.0]), Some(1.0));
        assert_eq!(spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), Some(-1.0));
        assert_eq!(spearman(&[1.0], &[1.0]), None);
        assert_eq!(spearman(&[1.0, 1.0], &[1.0, 2.0]), None);
    }
}
