//! hiercog-taxonomy: the concept hierarchy under every hiercog number.
//!
//! It reads WordNet 3.0 nouns (an embedded snapshot, or any WordNet dict directory) or a user is-a
//! edge list into a [`Taxonomy`] (a DAG of concepts addressed by [`ConceptId`]), derives
//! [`InformationContent`] from sense counts, user counts, hyponym counts or subtree membership, and
//! computes the six classic similarity measures with NLTK's exact conventions ([`similarity`],
//! [`Measure`]), concept-to-set similarity fast enough to rank all of ImageNet-21K
//! ([`SetSimilarity`]), and "Making Better Mistakes" LCA-height distances ([`distance_matrix`]).

#![warn(missing_docs)]

mod distance;
mod error;
mod ic;
mod isa;
mod setsim;
mod similarity;
mod snapshot;
mod taxonomy;
mod wordnet;

pub use distance::{
    distance_matrix, distance_matrix_within, lca_distance, DistanceConvention, DistanceMatrix,
};
pub use error::{Error, Result};
pub use ic::{InformationContent, IC_INFINITY};
pub use setsim::SetSimilarity;
pub use similarity::{read_pair_file, similarities, similarity, Measure};
pub use snapshot::{read_snapshot, write_snapshot, SNAPSHOT_VERSION};
pub use taxonomy::{ConceptId, ConceptInfo, Taxonomy, TaxonomySource};

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
