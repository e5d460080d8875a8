//! hiercog-retrieval: nearest-neighbour search and retrieval metrics on feature sets.
//!
//! * [`ExactIndex`]: exact k-NN ([`Metric::InnerProduct`], [`Metric::Cosine`], [`Metric::L2`]) by
//!   blocked GEMM (faer) and partial selection, parallel over query blocks (rayon) and identical
//!   whatever the thread count; [`ExactIndex::for_each_ranking`] ranks the whole database.
//! * [`HnswParams`] → [`HnswIndex`]: approximate k-NN for large databases (HNSW from the
//!   `instant-distance` crate), with [`knn_recall`] to measure it against the exact search.
//! * [`Evaluation`]: mAP, recall@k and hierarchical AP ([`ClassHierarchy`],
//!   [`hierarchical_average_precision`]) of a query set against a gallery (or of a set against
//!   itself, leave-one-out), with the relevances of the H-AP authors' code.
//!
//! Libraries know nothing of the terminal: long searches report progress through a callback.

#![warn(missing_docs)]

mod error;
mod exact;
mod hierarchy;
mod hnsw;
mod metrics;

pub use error::{Error, Result};
pub use exact::{ExactIndex, Exclusion, KnnSearch, Metric, Neighbors, Progress, Rows};
pub use hierarchy::{hierarchical_average_precision, pop_relevances, ClassHierarchy};
pub use hnsw::{knn_recall, HnswIndex, HnswParams};
pub use metrics::{average_precision, Evaluation, Queries, RetrievalMetrics};

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
