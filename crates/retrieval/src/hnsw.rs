//! Approximate k-NN search for large databases: an HNSW graph (Malkov & Yashunin) from the
//! `instant-distance` crate — pure Rust (no C++ or system library to build), a handful of small
//! dependencies, and a seeded construction. Its recall against [`ExactIndex`](crate::ExactIndex)
//! is measured with [`knn_recall`].
//!
//! Determinism: the graph is built on a single thread (the crate's parallel construction inserts
//! points in an order that depends on thread timing), so the same seed gives the same graph on any
//! machine; queries then run in parallel, each on its own.

use std::sync::Arc;

use instant_distance::{Builder, HnswMap, Point, Search};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::exact::{
    check_finite, check_k, check_queries, Exclusion, KnnSearch, Metric, Neighbors, Progress, Rows,
};

/// HNSW settings (the `instant-distance` defaults; M = 32 is fixed by that crate).
#[derive(Clone, Debug, PartialEq)]
pub struct HnswParams {
    /// Candidate list size while building (larger: better graph, slower build).
    pub ef_construction: usize,
    /// Candidate list size while searching; must be at least the k asked for (plus one when
    /// the query itself is excluded).
    pub ef_search: usize,
    /// Seed of the random layer assignment.
    pub seed: u64,
}

impl Default for HnswParams {
    fn default() -> Self {
        HnswParams {
            ef_construction: 100,
            ef_search: 100,
            seed: 0,
        }
    }
}

/// One row of a shared store, as `instant-distance` wants its points: cheap to clone.
#[derive(Clone)]
struct Row {
    store: Arc<[f32]>,
    start: usize,
    dim: usize,
    metric: Metric,
}

impl Row {
    fn values(&self) -> &[f32] {
        &self.store[self.start..self.start + self.dim]
    }
}

/// Σ f(a_i, b_i) in 8 independent lanes, so that the compiler vectorises it (a single running
/// f32 sum cannot be reordered); the graph search spends its time here.
fn lane_sum(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(&x, &y)| f(x, y))
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            lanes[i] += f(x[i], y[i]);
        }
    }
    lanes.iter().sum::<f32>() + tail
}

impl Point for Row {
    /// Smaller is nearer: 1 − cosine (rows stored normalised), −inner product, squared L2.
    fn distance(&self, other: &Self) -> f32 {
        let (a, b) = (self.values(), other.values());
        match self.metric {
            Metric::L2 => lane_sum(a, b, |x, y| (x - y) * (x - y)),
            Metric::Cosine => 1.0 - lane_sum(a, b, |x, y| x * y),
            Metric::InnerProduct => -lane_sum(a, b, |x, y| x * y),
        }
    }
}

/// Copies `rows` into a shared store, L2-normalising them for cosine.
fn store(rows: Rows<'_>, metric: Metric) -> Arc<[f32]> {
    let mut v = rows.data().to_vec();
    if metric == Metric::Cosine {
        v.par_chunks_mut(rows.dim()).for_each(|r| {
            let n = r.iter().map(|x| x * x).sum::<f32>().sqrt();
            if n > 0.0 {
                r.iter_mut().for_each(|x| *x /= n);
            }
        });
    }
    v.into()
}

/// An HNSW graph over a database (it keeps its own copy of the rows).
pub struct HnswIndex {
    map: HnswMap<Row, u32>,
    rows: usize,
    dim: usize,
    metric: Metric,
    ef_search: usize,
}

impl HnswParams {
    /// Builds the graph over `database` (single-threaded, see the module documentation).
    pub fn build(&self, database: Rows<'_>, metric: Metric) -> Result<HnswIndex> {
        if self.ef_search == 0 || self.ef_construction == 0 {
            return Err(Error::InvalidParam {
                name: "ef",
                value: format!(
                    "ef_construction={} ef_search={}",
                    self.ef_construction, self.ef_search
                ),
                hint: "both candidate list sizes must be >= 1",
            });
        }
        check_finite("database", database)?;
        let (n, dim) = (database.len(), database.dim());
        let shared = store(database, metric);
        let points: Vec<Row> = (0..n)
            .map(|i| Row {
                store: shared.clone(),
                start: i * dim,
                dim,
                metric,
            })
            .collect();
        let values: Vec<u32> = (0..n as u32).collect();
        let builder = Builder::default()
            .ef_construction(self.ef_construction)
            .ef_search(self.ef_search)
            .seed(self.seed);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .map_err(|e| Error::InvalidParam {
                name: "threads",
                value: e.to_string(),
                hint: "the single-threaded build pool could not start",
            })?;
        let map = pool.install(|| builder.build(points, values));
        Ok(HnswIndex {
            map,
            rows: n,
            dim,
            metric,
            ef_search: self.ef_search,
        })
    }
}

impl HnswIndex {
    /// Number of database rows.
    pub fn len(&self) -> usize {
        self.rows
    }
    /// True when the graph holds no row.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }
}

impl KnnSearch for HnswIndex {
    /// The approximately nearest rows (see [`knn_recall`] for how close to exact).
    fn search(
        &self,
        queries: Rows<'_>,
        k: usize,
        exclusion: Exclusion,
        progress: Progress<'_>,
    ) -> Result<Neighbors> {
        check_queries(self.dim, queries)?;
        check_k(k, self.rows, exclusion)?;
        let extra = usize::from(exclusion == Exclusion::SelfMatch);
        if k + extra > self.ef_search {
            return Err(Error::InvalidParam {
                name: "ef_search",
                value: self.ef_search.to_string(),
                hint: "ef_search must be at least k (k + 1 when the query itself is excluded); rebuild the index with a larger ef_search",
            });
        }
        let m = queries.len();
        let q_store = store(queries, self.metric);
        let done = std::sync::atomic::AtomicUsize::new(0);
        let per_query: Vec<Vec<(u32, f32)>> = (0..m)
            .into_par_iter()
            .map_init(Search::default, |search, i| {
                let point = Row {
                    store: q_store.clone(),
                    start: i * self.dim,
                    dim: self.dim,
                    metric: self.metric,
                };
                let found: Vec<(u32, f32)> = self
                    .map
                    .search(&point, search)
                    .filter(|item| exclusion == Exclusion::None || *item.value as usize != i)
                    .take(k)
                    .map(|item| {
                        let score = match self.metric {
                            Metric::L2 => item.distance,
                            Metric::Cosine => 1.0 - item.distance,
                            Metric::InnerProduct => -item.distance,
                        };
                        (*item.value, score)
                    })
                    .collect();
                let now = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if now.is_multiple_of(1024) || now == m {
                    progress(now, m);
                }
                found
            })
            .collect();
        let mut indices = Vec::with_capacity(m * k);
        let mut scores = Vec::with_capacity(m * k);
        for found in per_query {
            if found.len() < k {
                return Err(Error::InvalidParam {
                    name: "ef_search",
                    value: self.ef_search.to_string(),
                    hint: "the graph returned fewer than k neighbours for a query; rebuild with a larger ef_construction / ef_search",
                });
            }
            for (idx, s) in found {
                indices.push(idx);
                scores.push(s);
            }
        }
        Ok(Neighbors::from_parts(k, indices, scores))
    }
}

/// Fraction of the exact `k` nearest neighbours that the approximate search found (recall@k of
/// an approximate index, averaged over queries): 1.0 when every true neighbour was returned.
pub fn knn_recall(approximate: &Neighbors, exact: &Neighbors) -> Result<f64> {
    if approximate.len() != exact.len() || approximate.k() != exact.k() {
        return Err(Error::InvalidParam {
            name: "neighbors",
            value: format!(
                "{}x{} vs {}x{}",
                approximate.len(),
                approximate.k(),
                exact.len(),
                exact.k()
            ),
            hint: "compare results of the same queries and the same k",
        });
    }
    if exact.is_empty() {
        return Ok(1.0);
    }
    let found: usize = (0..exact.len())
        .map(|q| {
            let a = approximate.indices(q);
            exact.indices(q).iter().filter(|i| a.contains(i)).count()
        })
        .sum();
    Ok(found as f64 / (exact.len() * exact.k()) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ExactIndex;
    use crate::KnnSearch;
    use rand::{Rng, SeedableRng};

    fn no_progress(_: usize, _: usize) {}

    #[test]
    fn recall_against_exact_is_high_and_the_graph_reproducible() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let (n, dim, k) = (600, 8, 10);
        let db: Vec<f32> = (0..n * dim).map(|_| rng.random::<f32>() - 0.5).collect();
        let rows = Rows::new(&db, dim).unwrap();
        for metric in [Metric::Cosine, Metric::L2] {
            let exact = ExactIndex::new(rows, metric)
                .unwrap()
                .search(rows, k, Exclusion::SelfMatch, &no_progress)
                .unwrap();
            let params = HnswParams::default();
            let a = params.build(rows, metric).unwrap();
            let approx = a
                .search(rows, k, Exclusion::SelfMatch, &no_progress)
                .unwrap();
            let recall = knn_recall(&approx, &exact).unwrap();
            assert!(recall > 0.9, "{metric}: recall {recall}");
            let again = rayon::ThreadPoolBuilder::new()
                .num_threads(3)
                .build()
                .unwrap()
                .install(|| a.search(rows, k, Exclusion::SelfMatch, &no_progress))
                .unwrap();
            assert_eq!(approx, again);
            for q in 0..n {
                assert!(!approx.indices(q).contains(&(q as u32)));
            }
        }
        // Same seed, same graph: identical results from a second build.
        let params = HnswParams::default();
        let build = || {
            params
                .build(rows, Metric::L2)
                .unwrap()
                .search(rows, k, Exclusion::None, &no_progress)
                .unwrap()
        };
        assert_eq!(build(), build());
    }

    #[test]
    fn k_above_ef_is_refused() {
        let db = vec![0.5f32; 40];
        let rows = Rows::new(&db, 2).unwrap();
        let idx = HnswParams {
            ef_search: 3,
            ..Default::default()
        }
        .build(rows, Metric::L2)
        .unwrap();
        let e = idx
            .search(rows, 3, Exclusion::SelfMatch, &no_progress)
            .unwrap_err();
        assert!(e.to_string().contains("ef_search"), "{e}");
    }
}
