//! The crate's error type: every variant names the offending input and says how to fix it.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong when loading a taxonomy or computing on it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Io(#[from] hiercog_io::Error),
    #[error("cannot read {path}: {cause} (check the path: a WordNet dict directory holds data.noun and index.noun)")]
    WordNetRead {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path}:{line}: {message} (is this a WordNet 3.0 `data.noun`/`index.noun`/`cntlist` file? see `man 5 wndb`)")]
    WordNetParse {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error(
        "{path}:{line}: {message} (expected `parent<TAB>child` per line; `#` starts a comment)"
    )]
    IsaParse {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: the is-a edges form a cycle through {cycle}; a taxonomy must be acyclic: remove one of these edges")]
    Cycle { path: PathBuf, cycle: String },
    #[error("malformed wnid {value:?}: a WordNet noun id is `n` followed by 8 digits, e.g. n02084071 (dog)")]
    MalformedWnid { value: String },
    #[error("unknown concept {value:?}: not in this taxonomy (WordNet 3.0 noun wnids look like n02084071; check the spelling, or the taxonomy in use)")]
    UnknownConcept { value: String },
    #[error("concept id {0} is out of range for this taxonomy")]
    BadConceptId(u32),
    #[error("embedded WordNet snapshot is unreadable: {0} (rebuild it with `cargo run -p hiercog-taxonomy --example make_snapshot`)")]
    Snapshot(String),
    #[error("unknown similarity measure {0:?}: use one of path, lch, wup, res, lin, jcn")]
    UnknownMeasure(String),
    #[error(
        "measure {measure} needs information content: give an IC source (e.g. semcor or intrinsic)"
    )]
    MissingIc { measure: &'static str },
    #[error("{a} and {b} have no common subsumer, so {measure} similarity is undefined (NLTK returns None); give the taxonomy a single root")]
    NoCommonSubsumer {
        measure: &'static str,
        a: String,
        b: String,
    },
    #[error("{measure} similarity of {a} and {b} is undefined: {reason}")]
    Undefined {
        measure: &'static str,
        a: String,
        b: String,
        reason: &'static str,
    },
    #[error("this taxonomy has no sense counts (only WordNet does): use intrinsic IC or per-concept counts instead")]
    NoSenseCounts,
    #[error("invalid count {value} for concept {concept}: counts must be finite and >= 0")]
    BadCount { concept: String, value: f64 },
    #[error("information content is undefined: {0}")]
    BadIc(String),
    #[error("{0} must not be empty")]
    Empty(&'static str),
    #[error("information content was computed for a taxonomy of {ic} concepts but this one has {tax}: compute it on the same taxonomy")]
    IcMismatch { ic: usize, tax: usize },
}
