//! Exact k-NN search: blocked GEMM (faer) between a block of queries and a block of database rows,
//! then partial selection of the best `k` per query (a bounded heap).
//!
//! Determinism: each query block is one rayon task, and inside it every GEMM runs sequentially on a
//! fixed tiling, so a score never depends on how many threads ran; ties are broken by the lower
//! database index. Same inputs, same neighbours and scores, whatever the thread count.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};

use faer::{MatMut, MatRef};
use hiercog_linalg::{clear_upper_simd_state, gemm_sequential};
use rayon::prelude::*;

use crate::error::{Error, Result};

/// How nearness is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Metric {
    /// Inner product (larger is nearer): what the TLDR reference's k-NN graph uses.
    #[default]
    InnerProduct,
    /// Cosine similarity (inner product of L2-normalised rows; a zero row scores 0).
    Cosine,
    /// Squared Euclidean distance (smaller is nearer).
    L2,
}

impl std::str::FromStr for Metric {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "ip" | "inner-product" => Ok(Metric::InnerProduct),
            "cosine" | "cos" => Ok(Metric::Cosine),
            "l2" => Ok(Metric::L2),
            _ => Err(format!("unknown metric {s:?}: use ip, cosine or l2")),
        }
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Metric::InnerProduct => "ip",
            Metric::Cosine => "cosine",
            Metric::L2 => "l2",
        })
    }
}

/// Whether the queries are the database itself, row for row (leave-one-out).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exclusion {
    /// Queries are separate from the database: every database row may be returned.
    None,
    /// Query `i` is database row `i`, which is never returned for it (the reference drops the
    /// first hit instead, which drops a duplicate rather than the query when rows repeat).
    SelfMatch,
}

/// The `k` nearest database rows of each query, nearest first.
#[derive(Clone, Debug, PartialEq)]
pub struct Neighbors {
    k: usize,
    indices: Vec<u32>,
    scores: Vec<f32>,
}

impl Neighbors {
    /// Neighbours per query.
    pub fn k(&self) -> usize {
        self.k
    }
    /// Number of queries.
    pub fn len(&self) -> usize {
        self.indices.len() / self.k
    }
    /// True when there is no query.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }
    /// Database rows nearest to query `q`, nearest first.
    pub fn indices(&self, q: usize) -> &[u32] {
        &self.indices[q * self.k..(q + 1) * self.k]
    }
    /// Their scores: similarity for inner product and cosine, squared distance for L2.
    pub fn scores(&self, q: usize) -> &[f32] {
        &self.scores[q * self.k..(q + 1) * self.k]
    }
    /// All indices, row-major (queries × k).
    pub fn all_indices(&self) -> &[u32] {
        &self.indices
    }

    pub(crate) fn from_parts(k: usize, indices: Vec<u32>, scores: Vec<f32>) -> Neighbors {
        debug_assert_eq!(indices.len(), scores.len());
        Neighbors { k, indices, scores }
    }
}

/// A borrowed row-major matrix: `len() × dim` values.
#[derive(Clone, Copy, Debug)]
pub struct Rows<'a> {
    data: &'a [f32],
    dim: usize,
}

impl<'a> Rows<'a> {
    /// Views `data` as rows of `dim` values; fails when `dim` is 0 or does not divide the length.
    pub fn new(data: &'a [f32], dim: usize) -> Result<Self> {
        if dim == 0 || !data.len().is_multiple_of(dim) {
            return Err(Error::Shape {
                len: data.len(),
                dim,
            });
        }
        Ok(Rows { data, dim })
    }
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.data.len() / self.dim
    }
    /// True when there is no row.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    /// Row width.
    pub fn dim(&self) -> usize {
        self.dim
    }
    /// All values, row-major.
    pub fn data(&self) -> &'a [f32] {
        self.data
    }
    /// Row `i`.
    pub fn row(&self, i: usize) -> &'a [f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
    /// The first row holding NaN or an infinity, with that value.
    pub fn first_non_finite(&self) -> Option<(usize, f32)> {
        self.data
            .par_chunks(self.dim)
            .enumerate()
            .find_first(|(_, r)| r.iter().any(|v| !v.is_finite()))
            .map(|(row, r)| {
                (
                    row,
                    *r.iter().find(|v| !v.is_finite()).expect("found above"),
                )
            })
    }
}

/// Progress callback: (queries done, queries in all). Called from worker threads.
pub type Progress<'a> = &'a (dyn Fn(usize, usize) + Sync);

/// Queries per rayon task of whole rankings.
const QUERY_BLOCK: usize = 128;
/// Most queries per rayon task of k-NN search: each database tile is packed once per task, so
/// larger blocks amortise the packing (with `vzeroupper` after each tile's GEMM, 128 → 512 took
/// 16,384 × 1,024 self-search from 5.8 to 4.7 s of CPU: `knn_bench DIR 16384 1024 5 exact`).
const MAX_SEARCH_BLOCK: usize = 512;

/// Queries per rayon task of k-NN search: from the number of queries only (at least 8 tasks when
/// there are enough queries), so that results do not depend on the thread count.
fn search_block(queries: usize) -> usize {
    (queries / 8).clamp(QUERY_BLOCK, MAX_SEARCH_BLOCK)
}
/// Database rows per GEMM tile in k-NN search.
const DATABASE_BLOCK: usize = 2048;
/// Scores held per task when whole rankings are needed (64 MB).
const RANKING_BUDGET: usize = 16 << 20;

/// Fails on the first row of `x` holding NaN or an infinity.
pub(crate) fn check_finite(what: &'static str, x: Rows<'_>) -> Result<()> {
    match x.first_non_finite() {
        Some((row, value)) => Err(Error::NonFinite { what, row, value }),
        None => Ok(()),
    }
}

/// How many neighbours a query can get; fails when `k` is 0 or more than that.
pub(crate) fn check_k(k: usize, rows: usize, exclusion: Exclusion) -> Result<()> {
    let excluded = usize::from(exclusion == Exclusion::SelfMatch);
    let available = rows.saturating_sub(excluded);
    if k == 0 {
        return Err(Error::InvalidParam {
            name: "k",
            value: "0".into(),
            hint: "ask for at least one neighbour",
        });
    }
    if k > available {
        return Err(Error::TooManyNeighbours {
            k,
            available,
            rows,
            excluded: if excluded == 1 {
                ", minus the query itself"
            } else {
                ""
            },
        });
    }
    Ok(())
}

/// A database row and its score, ordered so that "greater" means "nearer": higher score, then
/// lower index (the tie rule that keeps results independent of processing order).
#[derive(Clone, Copy, Debug)]
struct Candidate {
    score: f32,
    index: u32,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then(other.index.cmp(&self.index))
    }
}

/// The `k` best candidates seen so far; the worst sits on top of the (reversed) heap.
struct Best {
    k: usize,
    heap: BinaryHeap<std::cmp::Reverse<Candidate>>,
}

impl Best {
    fn new(k: usize) -> Best {
        Best {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
        }
    }

    fn offer(&mut self, c: Candidate) {
        if self.heap.len() < self.k {
            self.heap.push(std::cmp::Reverse(c));
        } else if let Some(mut worst) = self.heap.peek_mut() {
            if c > worst.0 {
                *worst = std::cmp::Reverse(c);
            }
        }
    }

    /// Best first.
    fn into_sorted(self) -> impl Iterator<Item = Candidate> {
        self.heap.into_sorted_vec().into_iter().map(|r| r.0)
    }
}

/// k-NN search over a database, exact or approximate.
pub trait KnnSearch {
    /// The `k` nearest database rows of every query row, nearest first; scores as
    /// [`Neighbors::scores`] defines them.
    fn search(
        &self,
        queries: Rows<'_>,
        k: usize,
        exclusion: Exclusion,
        progress: Progress<'_>,
    ) -> Result<Neighbors>;
}

/// Fails when the queries are not `dim` wide or hold a non-finite value.
pub(crate) fn check_queries(dim: usize, queries: Rows<'_>) -> Result<()> {
    if queries.dim != dim {
        return Err(Error::DimensionMismatch {
            database: dim,
            queries: queries.dim,
        });
    }
    check_finite("queries", queries)
}

/// A database to search exactly; it borrows the rows.
pub struct ExactIndex<'a> {
    rows: Rows<'a>,
    data: &'a [f32],
    dim: usize,
    metric: Metric,
    /// Per row: inverse norm (cosine), squared norm (L2), nothing (inner product).
    row_terms: Vec<f32>,
}

/// Squared norm of each `dim`-wide row.
fn squared_norms(x: &[f32], dim: usize) -> Vec<f32> {
    x.par_chunks(dim)
        .map(|r| r.iter().map(|v| v * v).sum())
        .collect()
}

/// Inverse norm of each row (0 for a zero row, which then scores 0 against everything).
fn inverse_norms(x: &[f32], dim: usize) -> Vec<f32> {
    squared_norms(x, dim)
        .into_iter()
        .map(|s| if s > 0.0 { 1.0 / s.sqrt() } else { 0.0 })
        .collect()
}

impl<'a> ExactIndex<'a> {
    /// Indexes the database rows; fails on a non-finite value.
    pub fn new(rows: Rows<'a>, metric: Metric) -> Result<Self> {
        check_finite("database", rows)?;
        let (data, dim) = (rows.data, rows.dim);
        let row_terms = match metric {
            Metric::InnerProduct => Vec::new(),
            Metric::Cosine => inverse_norms(data, dim),
            Metric::L2 => squared_norms(data, dim),
        };
        Ok(ExactIndex {
            rows,
            data,
            dim,
            metric,
            row_terms,
        })
    }

    /// The database rows.
    pub fn rows(&self) -> Rows<'a> {
        self.rows
    }
    fn len(&self) -> usize {
        self.rows.len()
    }
    /// The metric.
    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// Number of query rows; fails on another width, a non-finite value, or a self-match
    /// exclusion whose queries are not the database's rows.
    fn check_queries(&self, queries: Rows<'_>, exclusion: Exclusion) -> Result<usize> {
        check_queries(self.dim, queries)?;
        let m = queries.len();
        if exclusion == Exclusion::SelfMatch && m != self.len() {
            return Err(Error::InvalidParam {
                name: "exclusion",
                value: format!("self-match with {m} queries and {} rows", self.len()),
                hint: "self-match exclusion needs the database itself as the queries",
            });
        }
        Ok(m)
    }

    /// Per query row: the term its scores need (inverse norm for cosine, squared norm for L2).
    fn query_terms(&self, q: &[f32]) -> Vec<f32> {
        match self.metric {
            Metric::InnerProduct => Vec::new(),
            Metric::Cosine => inverse_norms(q, self.dim),
            Metric::L2 => squared_norms(q, self.dim),
        }
    }

    /// Scores of query rows `q` against database rows `start..end` into `out` (rows × width,
    /// row-major), larger is nearer: IP, cosine, or 2·q·x − |x|² for L2.
    fn score_tile(&self, q: &[f32], q_terms: &[f32], start: usize, end: usize, out: &mut [f32]) {
        let (rows, width, d) = (q.len() / self.dim, end - start, self.dim);
        gemm_sequential(
            MatMut::from_row_major_slice_mut(out, rows, width),
            MatRef::from_row_major_slice(q, rows, d),
            MatRef::from_row_major_slice(&self.data[start * d..end * d], width, d).transpose(),
            1.0,
            false,
        );
        let terms = &self.row_terms[..];
        match self.metric {
            Metric::InnerProduct => {}
            Metric::Cosine => {
                for (row, &iq) in out.chunks_mut(width).zip(q_terms) {
                    for (v, &ix) in row.iter_mut().zip(&terms[start..end]) {
                        *v *= iq * ix;
                    }
                }
            }
            Metric::L2 => {
                for row in out.chunks_mut(width) {
                    for (v, &nx) in row.iter_mut().zip(&terms[start..end]) {
                        *v = 2.0 * *v - nx;
                    }
                }
            }
        }
    }

    /// Turns an internal score into the reported one (squared distance for L2).
    fn reported(&self, score: f32, q_term: f32) -> f32 {
        match self.metric {
            Metric::L2 => (q_term - score).max(0.0),
            _ => score,
        }
    }

    /// Ranks the whole database for every query (nearest first, ties to the lower index) and
    /// hands each ranking to `f(query, ranking)`; returns the results in query order. Memory:
    /// one block of rankings per worker thread (at most 16M scores each).
    pub fn for_each_ranking<T: Send>(
        &self,
        queries: Rows<'_>,
        exclusion: Exclusion,
        progress: Progress<'_>,
        f: impl Fn(usize, &[u32]) -> T + Sync,
    ) -> Result<Vec<T>> {
        let m = self.check_queries(queries, exclusion)?;
        let queries = queries.data;
        let (n, d) = (self.len(), self.dim);
        if n == 0 || m == 0 {
            return Ok(Vec::new());
        }
        let block = (RANKING_BUDGET / n).clamp(1, QUERY_BLOCK);
        let done = AtomicUsize::new(0);
        let out: Vec<Vec<T>> = queries
            .par_chunks(block * d)
            .enumerate()
            .map(|(b, q)| {
                let rows = q.len() / d;
                let q_terms = self.query_terms(q);
                let mut scores = vec![0.0f32; rows * n];
                self.score_tile(q, &q_terms, 0, n, &mut scores);
                let mut order: Vec<u32> = Vec::with_capacity(n);
                let results = scores
                    .chunks(n)
                    .enumerate()
                    .map(|(r, s)| {
                        let query = b * block + r;
                        order.clear();
                        order.extend(
                            (0..n as u32)
                                .filter(|&j| exclusion == Exclusion::None || j as usize != query),
                        );
                        order.sort_unstable_by(|&a, &c| {
                            s[c as usize].total_cmp(&s[a as usize]).then(a.cmp(&c))
                        });
                        f(query, &order)
                    })
                    .collect();
                let now = done.fetch_add(rows, AtomicOrdering::Relaxed) + rows;
                progress(now, m);
                results
            })
            .collect();
        Ok(out.into_iter().flatten().collect())
    }
}

impl KnnSearch for ExactIndex<'_> {
    /// The exact `k` nearest rows, ties to the lower index.
    fn search(
        &self,
        queries: Rows<'_>,
        k: usize,
        exclusion: Exclusion,
        progress: Progress<'_>,
    ) -> Result<Neighbors> {
        let m = self.check_queries(queries, exclusion)?;
        let queries = queries.data;
        check_k(k, self.len(), exclusion)?;
        let (n, d) = (self.len(), self.dim);
        let done = AtomicUsize::new(0);
        let block = search_block(m);
        let blocks: Vec<(Vec<u32>, Vec<f32>)> = queries
            .par_chunks(block * d)
            .enumerate()
            .map(|(b, q)| {
                clear_upper_simd_state();
                let rows = q.len() / d;
                let first = b * block;
                let q_terms = self.query_terms(q);
                let mut best: Vec<Best> = (0..rows).map(|_| Best::new(k)).collect();
                let mut buf = vec![0.0f32; rows * DATABASE_BLOCK.min(n)];
                for start in (0..n).step_by(DATABASE_BLOCK) {
                    let end = (start + DATABASE_BLOCK).min(n);
                    let width = end - start;
                    let tile = &mut buf[..rows * width];
                    self.score_tile(q, &q_terms, start, end, tile);
                    for (r, (scores, best)) in tile.chunks(width).zip(&mut best).enumerate() {
                        let own = match exclusion {
                            Exclusion::SelfMatch => first + r,
                            Exclusion::None => usize::MAX,
                        };
                        for (j, &score) in scores.iter().enumerate() {
                            if start + j != own {
                                best.offer(Candidate {
                                    score,
                                    index: (start + j) as u32,
                                });
                            }
                        }
                    }
                }
                let mut indices = Vec::with_capacity(rows * k);
                let mut scores = Vec::with_capacity(rows * k);
                for (r, best) in best.into_iter().enumerate() {
                    let q_term = q_terms.get(r).copied().unwrap_or(0.0);
                    for c in best.into_sorted() {
                        indices.push(c.index);
                        scores.push(self.reported(c.score, q_term));
                    }
                }
                let now = done.fetch_add(rows, AtomicOrdering::Relaxed) + rows;
                progress(now, m);
                (indices, scores)
            })
            .collect();
        let (mut indices, mut scores) = (Vec::with_capacity(m * k), Vec::with_capacity(m * k));
        for (i, s) in blocks {
            indices.extend(i);
            scores.extend(s);
        }
        Ok(Neighbors::from_parts(k, indices, scores))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_progress(_: usize, _: usize) {}

    fn rows(x: &[f32], dim: usize) -> Rows<'_> {
        Rows::new(x, dim).unwrap()
    }

    /// Brute force in f64: nearest first, ties to the lower index.
    fn brute(db: &[f32], q: &[f32], dim: usize, k: usize, metric: Metric, skip: bool) -> Vec<u32> {
        let score = |a: &[f32], b: &[f32]| -> f64 {
            let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
            let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum();
            let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum();
            match metric {
                Metric::InnerProduct => dot,
                Metric::Cosine => dot / (na.sqrt() * nb.sqrt()),
                Metric::L2 => -(na + nb - 2.0 * dot),
            }
        };
        q.chunks(dim)
            .enumerate()
            .flat_map(|(i, qr)| {
                let mut s: Vec<(f64, u32)> = db
                    .chunks(dim)
                    .enumerate()
                    .filter(|(j, _)| !skip || *j != i)
                    .map(|(j, r)| (score(qr, r), j as u32))
                    .collect();
                s.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                s.into_iter().take(k).map(|p| p.1).collect::<Vec<_>>()
            })
            .collect()
    }

    fn data(n: usize, dim: usize, seed: u64) -> Vec<f32> {
        // A small LCG: distinct, well-spread values without a dependency.
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..n * dim)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 33) as f32 / (1u64 << 31) as f32) - 0.5
            })
            .collect()
    }

    #[test]
    fn matches_brute_force_for_every_metric_across_tiles() {
        // 2,500 rows span two database tiles and two query blocks.
        let (n, m, dim, k) = (2500, 150, 7, 5);
        let db = data(n, dim, 1);
        let q = data(m, dim, 2);
        for metric in [Metric::InnerProduct, Metric::Cosine, Metric::L2] {
            let idx = ExactIndex::new(rows(&db, dim), metric).unwrap();
            let got = idx
                .search(rows(&q, dim), k, Exclusion::None, &no_progress)
                .unwrap();
            assert_eq!(
                got.all_indices(),
                brute(&db, &q, dim, k, metric, false),
                "{metric}"
            );
        }
        let idx = ExactIndex::new(rows(&db, dim), Metric::InnerProduct).unwrap();
        let got = idx
            .search(rows(&db, dim), k, Exclusion::SelfMatch, &no_progress)
            .unwrap();
        assert_eq!(
            got.all_indices(),
            brute(&db, &db, dim, k, Metric::InnerProduct, true)
        );
    }

    #[test]
    fn l2_scores_are_squared_distances_and_ties_go_to_the_lower_index() {
        let db = [0.0f32, 0.0, 1.0, 0.0, 0.0, 1.0, 3.0, 4.0];
        let idx = ExactIndex::new(rows(&db, 2), Metric::L2).unwrap();
        let got = idx
            .search(rows(&[0.0, 0.0], 2), 4, Exclusion::None, &no_progress)
            .unwrap();
        assert_eq!(got.indices(0), &[0, 1, 2, 3]);
        assert_eq!(got.scores(0), &[0.0, 1.0, 1.0, 25.0]);
    }

    #[test]
    fn rankings_agree_with_search_and_skip_the_query() {
        let (n, dim) = (300, 5);
        let db = data(n, dim, 3);
        let idx = ExactIndex::new(rows(&db, dim), Metric::Cosine).unwrap();
        let nn = idx
            .search(rows(&db, dim), n - 1, Exclusion::SelfMatch, &no_progress)
            .unwrap();
        let ranks = idx
            .for_each_ranking(
                rows(&db, dim),
                Exclusion::SelfMatch,
                &no_progress,
                |_, r| r.to_vec(),
            )
            .unwrap();
        for (i, r) in ranks.iter().enumerate() {
            assert_eq!(r.len(), n - 1);
            assert!(!r.contains(&(i as u32)));
            assert_eq!(&r[..10], &nn.indices(i)[..10]);
        }
    }

    #[test]
    fn same_results_whatever_the_thread_count() {
        let (n, m, dim) = (3000, 300, 16);
        let db = data(n, dim, 4);
        let q = data(m, dim, 5);
        let idx = ExactIndex::new(rows(&db, dim), Metric::L2).unwrap();
        let run = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| {
                    idx.search(rows(&q, dim), 10, Exclusion::None, &no_progress)
                        .unwrap()
                })
        };
        assert_eq!(run(1), run(3));
    }

    #[test]
    fn bad_input_is_named() {
        let db = [1.0f32, 2.0, f32::NAN, 0.0];
        let e = ExactIndex::new(rows(&db, 2), Metric::Cosine).err().unwrap();
        assert!(e.to_string().contains("row 1"), "{e}");
        let db = [1.0f32, 2.0, 3.0, 0.0];
        let idx = ExactIndex::new(rows(&db, 2), Metric::Cosine).unwrap();
        let e = idx
            .search(rows(&db, 2), 2, Exclusion::SelfMatch, &no_progress)
            .unwrap_err();
        assert!(e.to_string().contains("only 1 database rows"), "{e}");
        let e = Rows::new(&[1.0, 2.0, 3.0], 2).unwrap_err();
        assert!(e.to_string().contains("dimension 2"), "{e}");
        let e = idx
            .search(rows(&[1.0, 2.0, 3.0], 3), 1, Exclusion::None, &no_progress)
            .unwrap_err();
        assert!(e.to_string().contains("3-dimensional"), "{e}");
    }
}
