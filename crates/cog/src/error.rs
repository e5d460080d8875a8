//! The crate's error type: every variant names the offending input and says how to fix it.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong while building, writing, reading, importing or comparing levels.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {err} (check that the path exists and is readable)")]
    Read { path: PathBuf, err: std::io::Error },
    #[error(
        "cannot write {path}: {err} (check free space and permissions of the output directory)"
    )]
    Write { path: PathBuf, err: std::io::Error },
    #[error("{path}:{line}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{count} {what} not in the taxonomy, e.g. {examples}: check the names (WordNet wnids look like n02084071) or pass --skip-unknown to drop them (they are listed in the report)")]
    UnknownConcepts {
        what: &'static str,
        count: usize,
        examples: String,
    },
    #[error("the {0} is empty: give at least one concept")]
    EmptyList(&'static str),
    #[error("invalid parameter: {0}")]
    InvalidParam(String),
    #[error("only {eligible} concepts are eligible after the filters, fewer than the {wanted} that {levels} levels of {per_level} need: lower --per-level/--levels, loosen a filter, or pass --allow-smaller to cut {levels} equal levels of {eligible}/{levels} concepts")]
    TooFewEligible {
        eligible: usize,
        wanted: usize,
        levels: usize,
        per_level: usize,
    },
    #[error("level {level} is empty with these cut points (similarities of eligible concepts span {min:.4}..{max:.4}): choose other cut points or pass --allow-smaller")]
    EmptyLevel { level: String, min: f64, max: f64 },
    #[error("no concept is eligible after the filters (see the filter report): loosen a filter")]
    NothingEligible,
    #[error("the minimum image count filter needs image counts: pass --counts FILE or --images ROOT, or drop --min-images")]
    MissingCounts,
    #[error("image counts are needed for the information content `image-counts`: pass --counts FILE or --images ROOT")]
    CountsNeededForIc,
    #[error("concept {wnid} has {found} images under {dir}, fewer than the {needed} a split needs ({test} test + at least 1 train): raise --min-images so such concepts are filtered out, or lower --test-images")]
    TooFewImages {
        wnid: String,
        found: usize,
        needed: usize,
        test: usize,
        dir: PathBuf,
    },
    #[error("no concept folder under {0}: expected one sub-directory of images per concept (ROOT/<wnid>/*.JPEG)")]
    NoConceptFolders(PathBuf),
    #[error("{path} already exists: pass --force to replace it, or choose another --out")]
    OutputExists { path: PathBuf },
    #[error("{path} is not a hiercog benchmark directory ({reason}): build one with `hiercog cog build` or `hiercog cog import`")]
    NotABenchmark { path: PathBuf, reason: String },
    #[error("{path}: unknown level {level:?}: this benchmark has {available}")]
    UnknownLevel {
        path: PathBuf,
        level: String,
        available: String,
    },
    #[error("{path}: the benchmark has no image splits: build it with --images ROOT, or import it with the official split file")]
    NoSplits { path: PathBuf },
    #[error("{path}: {message} (is this the official ImageNet-CoG file? see `hiercog cog import --help` for the expected shape)")]
    OfficialShape { path: PathBuf, message: String },
    #[error("concept {wnid} of the level file has no entry in the split file {path}: use the split file that goes with the level file")]
    MissingSplit { wnid: String, path: PathBuf },
    #[error(transparent)]
    Pickle(#[from] hiercog_pickle::Error),
    #[error(transparent)]
    Taxonomy(#[from] hiercog_taxonomy::Error),
    #[error("cannot draw {what}: {message}")]
    Plot { what: String, message: String },
    #[error("{path}: invalid manifest JSON: {err} (the file was edited or written by another tool version)")]
    Manifest {
        path: PathBuf,
        err: serde_json::Error,
    },
}

impl Error {
    /// An error for `path` reading.
    pub(crate) fn read(path: &std::path::Path, source: std::io::Error) -> Self {
        Error::Read {
            path: path.to_path_buf(),
            err: source,
        }
    }

    /// An error for `path` writing.
    pub(crate) fn write(path: &std::path::Path, source: std::io::Error) -> Self {
        Error::Write {
            path: path.to_path_buf(),
            err: source,
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
