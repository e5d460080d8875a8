//! The crate's error type: every variant names the offending input and says how to fix it.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong when loading a taxonomy or computing on it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file of the hiercog-io layer (line files) could not be read.
    #[error(transparent)]
    Io(#[from] hiercog_io::Error),
    /// A WordNet dictionary file that cannot be read.
    #[error("cannot read {path}: {cause} (check the path: a WordNet dict directory holds data.noun and index.noun)")]
    WordNetRead {
        /// The file at fault.
        path: PathBuf,
        /// The operating system's error.
        cause: std::io::Error,
    },
    /// A line of a WordNet dictionary file that does not parse.
    #[error("{path}:{line}: {message} (is this a WordNet 3.0 `data.noun`/`index.noun`/`cntlist` file? see `man 5 wndb`)")]
    WordNetParse {
        /// The file at fault.
        path: PathBuf,
        /// Its 1-based line number.
        line: usize,
        /// What is wrong with the line.
        message: String,
    },
    /// A line of an is-a file that does not parse.
    #[error(
        "{path}:{line}: {message} (expected `parent<TAB>child` per line; `#` starts a comment)"
    )]
    IsaParse {
        /// The file at fault.
        path: PathBuf,
        /// Its 1-based line number.
        line: usize,
        /// What is wrong with the line.
        message: String,
    },
    /// Is-a edges that form a cycle.
    #[error("{path}: the is-a edges form a cycle through {cycle}; a taxonomy must be acyclic: remove one of these edges")]
    Cycle {
        /// The file at fault.
        path: PathBuf,
        /// The concepts on the cycle, in order.
        cycle: String,
    },
    /// A string that is not a WordNet noun id.
    #[error("malformed wnid {value:?}: a WordNet noun id is `n` followed by 8 digits, e.g. n02084071 (dog)")]
    MalformedWnid {
        /// The value as given.
        value: String,
    },
    /// A well-formed id that the taxonomy does not hold.
    #[error("unknown concept {value:?}: not in this taxonomy (WordNet 3.0 noun wnids look like n02084071; check the spelling, or the taxonomy in use)")]
    UnknownConcept {
        /// The value as given.
        value: String,
    },
    /// A concept index beyond the taxonomy's size.
    #[error("concept id {0} is out of range for this taxonomy")]
    BadConceptId(u32),
    /// The embedded WordNet snapshot does not decode.
    #[error("embedded WordNet snapshot is unreadable: {0} (rebuild it with `cargo run -p hiercog-taxonomy --example make_snapshot`)")]
    Snapshot(String),
    /// A similarity measure name that is not one of the six.
    #[error("unknown similarity measure {0:?}: use one of path, lch, wup, res, lin, jcn")]
    UnknownMeasure(String),
    /// An IC-based measure asked for without information content.
    #[error(
        "measure {measure} needs information content: give an IC source (e.g. semcor or intrinsic)"
    )]
    MissingIc {
        /// The measure's name.
        measure: &'static str,
    },
    /// Two concepts without a common ancestor.
    #[error("{a} and {b} have no common subsumer, so {measure} similarity is undefined (NLTK returns None); give the taxonomy a single root")]
    NoCommonSubsumer {
        /// The measure's name.
        measure: &'static str,
        /// The first concept.
        a: String,
        /// The second concept.
        b: String,
    },
    /// A similarity that is undefined for this pair (e.g. a zero IC denominator).
    #[error("{measure} similarity of {a} and {b} is undefined: {reason}")]
    Undefined {
        /// The measure's name.
        measure: &'static str,
        /// The first concept.
        a: String,
        /// The second concept.
        b: String,
        /// Why it is undefined.
        reason: &'static str,
    },
    /// Sense-count IC asked of a taxonomy that is not WordNet.
    #[error("this taxonomy has no sense counts (only WordNet does): use intrinsic IC or per-concept counts instead")]
    NoSenseCounts,
    /// A negative or non-finite per-concept count.
    #[error("invalid count {value} for concept {concept}: counts must be finite and >= 0")]
    BadCount {
        /// The concept the count is for.
        concept: String,
        /// The value as given.
        value: f64,
    },
    /// Information content that cannot be computed from the counts given.
    #[error("information content is undefined: {0}")]
    BadIc(String),
    /// An input that must not be empty is empty (the string names it).
    #[error("{0} must not be empty")]
    Empty(&'static str),
    /// A distance matrix given as values is not one (shape, sign, diagonal, symmetry).
    #[error("invalid distance matrix: {0}")]
    BadDistances(String),
    /// Information content computed for another taxonomy.
    #[error("information content was computed for a taxonomy of {ic} concepts but this one has {tax}: compute it on the same taxonomy")]
    IcMismatch {
        /// Concepts in the IC's taxonomy.
        ic: usize,
        /// Concepts in this taxonomy.
        tax: usize,
    },
}
