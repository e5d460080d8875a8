//! Retrieval evaluation: every query ranks the whole gallery (exact search), then mAP, recall@k
//! and, given a class hierarchy, H-AP — the metrics of the authors' `AccuracyCalculator`
//! (HAPPIER/SupRank): AP and R@k on the class label (level 0), H-AP on all levels.

use crate::error::{Error, Result};
use crate::exact::{ExactIndex, Exclusion, Progress, Rows};
use crate::hierarchy::{hierarchical_average_precision, pop_relevances, ClassHierarchy};

/// Average precision of one ranking: `relevant[k]` says whether the item at rank `k + 1` is
/// relevant. `None` when nothing is relevant.
pub fn average_precision(relevant: impl IntoIterator<Item = bool>) -> Option<f64> {
    let (mut hits, mut sum) = (0usize, 0.0f64);
    for (k, r) in relevant.into_iter().enumerate() {
        if r {
            hits += 1;
            sum += hits as f64 / (k + 1) as f64;
        }
    }
    (hits > 0).then(|| sum / hits as f64)
}

/// Query rows with their class labels, and whether they are the gallery itself.
#[derive(Clone, Copy, Debug)]
pub struct Queries<'a> {
    /// Query features.
    pub x: Rows<'a>,
    /// Class of each query row.
    pub labels: &'a [u32],
    /// [`Exclusion::SelfMatch`] for leave-one-out evaluation of a single set.
    pub exclusion: Exclusion,
}

/// What to report besides mAP.
#[derive(Clone, Debug)]
pub struct Evaluation<'a> {
    /// The `k` of recall@k (the fraction of queries with a same-class item among the first k).
    pub recall_at: Vec<usize>,
    /// Levels shared by the classes: enables H-AP.
    pub hierarchy: Option<&'a ClassHierarchy>,
    /// Exponent α of the H-AP level weights (the authors use 1).
    pub relevance_exponent: f64,
}

impl Default for Evaluation<'_> {
    fn default() -> Self {
        Evaluation {
            recall_at: vec![1, 5, 10],
            hierarchy: None,
            relevance_exponent: 1.0,
        }
    }
}

/// Mean retrieval metrics over the queries (each in [0, 1]).
#[derive(Clone, Debug, PartialEq)]
pub struct RetrievalMetrics {
    /// Number of queries.
    pub queries: usize,
    /// Mean average precision (same class = relevant).
    pub map: f64,
    /// (k, recall@k) for each requested k.
    pub recall_at: Vec<(usize, f64)>,
    /// Mean hierarchical AP, when a hierarchy was given.
    pub hap: Option<f64>,
}

/// One query's values: AP, rank of the first relevant item, H-AP.
struct PerQuery {
    ap: f64,
    first_hit: usize,
    hap: Option<f64>,
}

fn check_labels(what: &'static str, labels: &[u32], rows: usize, classes: usize) -> Result<()> {
    if labels.len() != rows {
        return Err(Error::Labels {
            what,
            problem: format!("{} labels for {rows} rows", labels.len()),
        });
    }
    if let Some((i, l)) = labels
        .iter()
        .enumerate()
        .find(|(_, &l)| l as usize >= classes)
    {
        return Err(Error::Labels {
            what,
            problem: format!("row {i} has class {l} but the class hierarchy has {classes} classes"),
        });
    }
    Ok(())
}

impl Evaluation<'_> {
    /// Ranks the gallery for every query and averages the metrics. Fails when a query's class
    /// has no other item in the gallery (its AP is undefined).
    pub fn run(
        &self,
        gallery: &ExactIndex<'_>,
        gallery_labels: &[u32],
        queries: Queries<'_>,
        progress: Progress<'_>,
    ) -> Result<RetrievalMetrics> {
        let seen = gallery_labels
            .iter()
            .chain(queries.labels)
            .map(|&l| l as usize + 1)
            .max()
            .unwrap_or(0);
        let classes = self.hierarchy.map_or(seen, |h| h.classes());
        check_labels(
            "gallery labels",
            gallery_labels,
            gallery.rows().len(),
            classes,
        )?;
        check_labels("query labels", queries.labels, queries.x.len(), classes)?;
        if let Some(&k) = self.recall_at.iter().find(|&&k| k == 0) {
            return Err(Error::InvalidParam {
                name: "recall_at",
                value: k.to_string(),
                hint: "recall@k needs k >= 1",
            });
        }
        let mut per_class = vec![0usize; classes];
        for &l in gallery_labels {
            per_class[l as usize] += 1;
        }
        let own = usize::from(queries.exclusion == Exclusion::SelfMatch);
        let lacking: Vec<usize> = (0..queries.labels.len())
            .filter(|&q| per_class[queries.labels[q] as usize] <= own)
            .collect();
        if let Some(&first) = lacking.first() {
            return Err(Error::NoRelevantItem {
                count: lacking.len(),
                first,
                class: queries.labels[first],
            });
        }
        // Relevance of each level per query class (the query left out of its own population).
        let relevance: Option<Vec<Vec<f64>>> = self.hierarchy.map(|h| {
            (0..classes as u32)
                .map(|qc| {
                    let mut counts = vec![0usize; h.levels() as usize + 1];
                    for (gc, &n) in per_class.iter().enumerate() {
                        counts[h.shared(qc, gc as u32) as usize] += n;
                    }
                    counts[h.levels() as usize] -= own.min(counts[h.levels() as usize]);
                    pop_relevances(&counts, self.relevance_exponent)
                })
                .collect()
        });
        let per_query =
            gallery.for_each_ranking(queries.x, queries.exclusion, progress, |q, ranking| {
                let qc = queries.labels[q];
                let ap =
                    average_precision(ranking.iter().map(|&g| gallery_labels[g as usize] == qc))
                        .expect("every query class is in the gallery (checked)");
                let first_hit = ranking
                    .iter()
                    .position(|&g| gallery_labels[g as usize] == qc)
                    .expect("checked");
                let hap = match (self.hierarchy, &relevance) {
                    (Some(h), Some(rel)) => {
                        let levels: Vec<u32> = ranking
                            .iter()
                            .map(|&g| h.shared(qc, gallery_labels[g as usize]))
                            .collect();
                        hierarchical_average_precision(&levels, &rel[qc as usize])
                    }
                    _ => None,
                };
                PerQuery { ap, first_hit, hap }
            })?;
        let m = per_query.len().max(1) as f64;
        Ok(RetrievalMetrics {
            queries: per_query.len(),
            map: per_query.iter().map(|p| p.ap).sum::<f64>() / m,
            recall_at: self
                .recall_at
                .iter()
                .map(|&k| {
                    let hits = per_query.iter().filter(|p| p.first_hit < k).count();
                    (k, hits as f64 / m)
                })
                .collect(),
            hap: self
                .hierarchy
                .map(|_| per_query.iter().map(|p| p.hap.unwrap_or(0.0)).sum::<f64>() / m),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Metric;

    fn no_progress(_: usize, _: usize) {}

    #[test]
    fn ap_by_hand() {
        assert_eq!(
            average_precision([true, false, true]),
            Some((1.0 + 2.0 / 3.0) / 2.0)
        );
        assert_eq!(average_precision([false, false]), None);
    }

    #[test]
    fn evaluation_on_a_line() {
        // Gallery on a line: classes 0,0,1,1 at x = 0, 1, 10, 11; queries at 0.4 (class 0) and
        // 10.4 (class 1), L2. Rankings: [0,1,2,3] and [2,3,1,0]: AP 1 each, R@1 = 1.
        let g = [0.0f32, 1.0, 10.0, 11.0];
        let q = [0.4f32, 10.4];
        let idx = ExactIndex::new(Rows::new(&g, 1).unwrap(), Metric::L2).unwrap();
        let h = ClassHierarchy::new(2, 2, vec![2, 1, 1, 2]).unwrap();
        let eval = Evaluation {
            recall_at: vec![1],
            hierarchy: Some(&h),
            relevance_exponent: 1.0,
        };
        let queries = Queries {
            x: Rows::new(&q, 1).unwrap(),
            labels: &[0, 1],
            exclusion: Exclusion::None,
        };
        let r = eval
            .run(&idx, &[0, 0, 1, 1], queries, &no_progress)
            .unwrap();
        assert_eq!(r.map, 1.0);
        assert_eq!(r.recall_at, vec![(1, 1.0)]);
        assert!((r.hap.unwrap() - 1.0).abs() < 1e-15);
        // Query 0 now has class 1: its ranking [0,1,2,3] puts its class last.
        let queries = Queries {
            labels: &[1, 1],
            ..queries
        };
        let r = eval
            .run(&idx, &[0, 0, 1, 1], queries, &no_progress)
            .unwrap();
        let ap0 = (1.0 / 3.0 + 2.0 / 4.0) / 2.0;
        assert!((r.map - (ap0 + 1.0) / 2.0).abs() < 1e-15);
        assert_eq!(r.recall_at, vec![(1, 0.5)]);
        // H-AP of query 0: levels [1,1,2,2], rel = [0, 1/2, 2/2]: H-ranks .5, 1, 2, 3.
        let hap0 = (0.5 / 1.0 + 1.0 / 2.0 + 2.0 / 3.0 + 3.0 / 4.0) / 3.0;
        assert!((r.hap.unwrap() - (hap0 + 1.0) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn a_query_class_missing_from_the_gallery_is_an_error() {
        let g = [0.0f32, 1.0];
        let idx = ExactIndex::new(Rows::new(&g, 1).unwrap(), Metric::L2).unwrap();
        let queries = Queries {
            x: Rows::new(&g, 1).unwrap(),
            labels: &[0, 1],
            exclusion: Exclusion::SelfMatch,
        };
        let e = Evaluation::default()
            .run(&idx, &[0, 1], queries, &no_progress)
            .unwrap_err();
        assert!(e.to_string().contains("2 queries have no item"), "{e}");
    }
}
