//! hiercog-cog: the ImageNet-CoG level builder, for any seen set, candidate pool and taxonomy.
//!
//! The official ImageNet-CoG benchmark ships only its result (5 x 1,000 concepts and image
//! splits); this crate makes the construction a tool:
//!
//! 1. inputs: a seen set and a candidate pool ([`ConceptList`]; IN-1K and IN-21K are shipped),
//!    optional [`ImageCounts`] (a TSV, or [`count_images`] over a folder tree), a taxonomy and an
//!    [`IcSource`];
//! 2. [`Filter`]s, each a named, switchable step reporting what it removed ([`FilterReport`]);
//! 3. ranking by concept-to-set similarity S(c) = max over seen s of sim(c, s) (any measure of
//!    `hiercog-taxonomy`, Lin by default) and [`Cuts`] into levels;
//! 4. per-concept train/test image splits ([`ImageTreeSplits`], or the official split file);
//! 5. a benchmark directory ([`Benchmark::write`], [`load_benchmark`]): manifest, one TSV per
//!    level, report and plots;
//! 6. import of the official pickles ([`import_official`]) and [`compare`] of two benchmarks.
//!
//! [`LevelParams`] holds the hyper-parameters (presets [`LevelParams::imagenet_cog`] and
//! [`LevelParams::generic`]); [`LevelBuilder`] is the validated form that builds a [`Benchmark`].
//! The choices have names, parsed the same by every front end: [`IcSource`], [`CutStyle`],
//! [`Preset`], [`ConceptSource`].

#![warn(missing_docs)]

mod benchmark;
mod builder;
mod compare;
mod error;
mod filter;
mod images;
mod inputs;
mod official;
mod splits;
mod summary;
mod vocabulary;

pub use benchmark::{
    load_benchmark, Benchmark, LabelledImages, Level, LevelSummary, Manifest, RankedConcept,
    RemovedConcept, SimilarityStats, WriteOptions, FORMAT_VERSION,
};
pub use builder::{
    BuildInputs, Cuts, LevelBuilder, LevelParams, IMAGENET_COG_MIN_IMAGES, TIE_BREAKING,
};
pub use compare::{compare, spearman, Comparison, LevelComparison};
pub use error::{Error, Result};
pub use filter::{Filter, FilterReport, PERSON_SUBTREE};
pub use images::{concept_folders, count_images, CountProgress, IMAGE_EXTENSIONS};
pub use inputs::{
    imagenet21k_information_content, ConceptList, ImageCounts, InputRef, IMAGENET1K_WNIDS,
    IMAGENET21K_WNIDS,
};
pub use official::{import_official, read_official_levels, OfficialSplits};
pub use splits::{
    ConceptSplit, ImageTreeSplits, Split, SplitCounts, SplitItem, SplitParams, SplitSource,
    SplitsInfo,
};
pub use vocabulary::{ConceptSource, CutStyle, IcSource, Preset};

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
