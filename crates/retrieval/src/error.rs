//! The crate's error type: every variant names the offending value and says how to fix it.

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Errors of k-NN search and retrieval evaluation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A matrix's length is not a multiple of its row width, or the width is zero.
    #[error("{len} values cannot form rows of dimension {dim}")]
    Shape {
        /// Number of values given.
        len: usize,
        /// Row width expected.
        dim: usize,
    },
    /// Queries and database rows have different widths.
    #[error("the queries are {queries}-dimensional but the database is {database}-dimensional: both must come from the same feature extractor (and the same reduction)")]
    DimensionMismatch {
        /// Width of the database rows.
        database: usize,
        /// Width of the query rows.
        queries: usize,
    },
    /// A row holds NaN or an infinity.
    #[error("{what}: row {row} holds a non-finite value ({value}); re-extract or drop that row")]
    NonFinite {
        /// Which matrix (database, queries).
        what: &'static str,
        /// The first offending row.
        row: usize,
        /// The offending value.
        value: f32,
    },
    /// More neighbours were asked for than the database can give.
    #[error("k = {k} neighbours asked but only {available} database rows can be returned per query (the database has {rows} rows{excluded}); lower k")]
    TooManyNeighbours {
        /// Neighbours asked for.
        k: usize,
        /// Neighbours that can be returned.
        available: usize,
        /// Database rows.
        rows: usize,
        /// ", minus the query itself" when self-matches are excluded.
        excluded: &'static str,
    },
    /// A parameter is out of its valid range.
    #[error("invalid parameter `{name}` = {value}: {hint}")]
    InvalidParam {
        /// The parameter.
        name: &'static str,
        /// Its value.
        value: String,
        /// What values are valid.
        hint: &'static str,
    },
    /// Labels and rows disagree, or a label is out of range.
    #[error("{what}: {problem}")]
    Labels {
        /// Which labels (gallery, queries).
        what: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// Some queries have no relevant item in the database, so their AP is undefined.
    #[error("{count} queries have no item of their class in the database (first: query {first}, class {class}); every query class must appear in the gallery — drop those queries or add their class to the gallery")]
    NoRelevantItem {
        /// Number of such queries.
        count: usize,
        /// The first such query.
        first: usize,
        /// Its class.
        class: u32,
    },
    /// The class hierarchy is inconsistent with the labels.
    #[error("class hierarchy: {0}")]
    Hierarchy(String),
    /// The taxonomy could not compute the classes' distances.
    #[error(transparent)]
    Taxonomy(#[from] hiercog_taxonomy::Error),
}
