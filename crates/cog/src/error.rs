//! The crate's error type: every variant names the offending input and says how to fix it.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong while building, writing, reading, importing or comparing levels.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read.
    #[error("cannot read {path}: {cause} (check that the path exists and is readable)")]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        cause: std::io::Error,
    },
    /// A file or directory could not be written.
    #[error(
        "cannot write {path}: {cause} (check free space and permissions of the output directory)"
    )]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        cause: std::io::Error,
    },
    /// A shared I/O step failed: an atomic write, a line file.
    #[error(transparent)]
    Io(#[from] hiercog_io::Error),
    /// A line of a benchmark file is malformed.
    #[error("{path}:{line}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A name of the crate's vocabulary (IC source, cuts, preset, concept list) is unknown.
    #[error("unknown {what} {value:?}: use {expected}")]
    UnknownName {
        /// What was being named (e.g. `IC source`).
        what: &'static str,
        /// The name given.
        value: String,
        /// The names accepted.
        expected: &'static str,
    },
    /// Concepts of an input are missing from the taxonomy.
    #[error("{count} {what} not in the taxonomy, e.g. {examples}: check the names (WordNet wnids look like n02084071), or skip unknown names (`skip_unknown`: they are listed in the report)")]
    UnknownConcepts {
        /// Which input (`seen concepts`, `pool concepts`, ...).
        what: &'static str,
        /// How many are missing.
        count: usize,
        /// The first few.
        examples: String,
    },
    /// A concept list is empty.
    #[error("the {0} is empty: give at least one concept")]
    EmptyList(&'static str),
    /// A parameter is out of range.
    #[error("invalid parameter: {0}")]
    InvalidParam(String),
    /// Fewer concepts survive the filters than the cuts ask for.
    #[error("only {eligible} concepts are eligible after the filters, fewer than the {wanted} that {levels} levels of {per_level} need: ask for fewer or smaller levels, loosen a filter, or allow smaller levels (`allow_smaller`: {levels} equal levels of {eligible}/{levels} concepts)")]
    TooFewEligible {
        /// Concepts left by the filters.
        eligible: usize,
        /// Concepts the cuts need.
        wanted: usize,
        /// Levels asked for.
        levels: usize,
        /// Concepts per level asked for.
        per_level: usize,
    },
    /// A level of threshold cuts holds no concept.
    #[error("level {level} is empty with these cut points (similarities of eligible concepts span {min:.4}..{max:.4}): choose other cut points or allow empty levels (`allow_smaller`)")]
    EmptyLevel {
        /// The empty level.
        level: String,
        /// Lowest eligible similarity.
        min: f64,
        /// Highest eligible similarity.
        max: f64,
    },
    /// The filters removed every concept.
    #[error("no concept is eligible after the filters (see the filter report): loosen a filter")]
    NothingEligible,
    /// The `image-counts` IC was asked for without image counts.
    #[error("the information content `image-counts` needs image counts: give a counts file or an image tree")]
    CountsNeededForIc,
    /// A concept has too few images for its train/test split.
    #[error("concept {wnid} has {found} images under {dir}, fewer than the {needed} a split needs ({test} test + at least 1 train): raise the minimum image count so that such concepts are filtered out, or take fewer test images per concept")]
    TooFewImages {
        /// The concept.
        wnid: String,
        /// Images found.
        found: usize,
        /// Images needed.
        needed: usize,
        /// Test images per concept.
        test: usize,
        /// The concept's folder.
        dir: PathBuf,
    },
    /// An image tree has no concept folder.
    #[error("no concept folder under {0}: expected one sub-directory of images per concept (ROOT/<wnid>/*.JPEG)")]
    NoConceptFolders(PathBuf),
    /// The output directory exists and may not be replaced.
    #[error("{path} already exists: replace it (`force`) or choose another output directory")]
    OutputExists {
        /// The output directory.
        path: PathBuf,
    },
    /// A directory is not a benchmark directory.
    #[error("{path} is not a hiercog benchmark directory ({reason}): build one with `hiercog cog build` or `hiercog cog import`")]
    NotABenchmark {
        /// The directory.
        path: PathBuf,
        /// What is missing or wrong.
        reason: String,
    },
    /// A level name is not one of the benchmark's.
    #[error("{path}: unknown level {level:?}: this benchmark has {available}")]
    UnknownLevel {
        /// The benchmark directory.
        path: PathBuf,
        /// The name given.
        level: String,
        /// The benchmark's levels.
        available: String,
    },
    /// The benchmark has no image splits.
    #[error("{path}: the benchmark has no image splits: build it from an image tree, or import it with the official split file")]
    NoSplits {
        /// The benchmark directory.
        path: PathBuf,
    },
    /// An official file does not have the official shape.
    #[error("{path}: {message} (is this the official ImageNet-CoG file? see `hiercog cog import --help` for the expected shape)")]
    OfficialShape {
        /// The file.
        path: PathBuf,
        /// What differs.
        message: String,
    },
    /// A level concept has no entry in the official split file.
    #[error("concept {wnid} of the level file has no entry in the split file {path}: use the split file that goes with the level file")]
    MissingSplit {
        /// The concept.
        wnid: String,
        /// The split file.
        path: PathBuf,
    },
    /// An official pickle could not be read.
    #[error(transparent)]
    Pickle(#[from] hiercog_pickle::Error),
    /// A taxonomy step failed.
    #[error(transparent)]
    Taxonomy(#[from] hiercog_taxonomy::Error),
    /// A plot could not be drawn.
    #[error("cannot draw {what}: {message}")]
    Plot {
        /// Which plot.
        what: String,
        /// What the plotting crate said.
        message: String,
    },
    /// A manifest is not valid JSON.
    #[error("{path}: invalid manifest JSON: {cause} (the file was edited or written by another tool version)")]
    Manifest {
        /// The manifest.
        path: PathBuf,
        /// What the JSON parser said.
        cause: serde_json::Error,
    },
}

impl Error {
    /// An error for `path` reading.
    pub(crate) fn read(path: &std::path::Path, source: std::io::Error) -> Self {
        Error::Read {
            path: path.to_path_buf(),
            cause: source,
        }
    }

    /// An error for `path` writing.
    pub(crate) fn write(path: &std::path::Path, source: std::io::Error) -> Self {
        Error::Write {
            path: path.to_path_buf(),
            cause: source,
        }
    }

    /// A parse error at `path:line`.
    pub(crate) fn parse(path: &std::path::Path, line: usize, message: impl Into<String>) -> Self {
        Error::Parse {
            path: path.to_path_buf(),
            line,
            message: message.into(),
        }
    }
}
