//! The crate's error type: every variant names the offending input and says what to do.

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong when building a label tree, reading a loss recipe or building a
/// loss.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Labels that the hierarchy does not contain.
    #[error("{count} label(s) not in the hierarchy: {names}; check their spelling (WordNet labels are wnids such as n02084071), or add them to the is-a file")]
    MissingLabels {
        /// How many labels are missing.
        count: usize,
        /// The first few of them, comma-separated.
        names: String,
    },
    /// A label listed twice: two classes cannot share one leaf.
    #[error("label {label:?} appears twice in the label list (classes {first} and {second}); each class needs its own label")]
    DuplicateLabel {
        /// The label.
        label: String,
        /// Class index of its first occurrence.
        first: usize,
        /// Class index of its second occurrence.
        second: usize,
    },
    /// Labels that subsume other labels: the labels must be the leaves of the hierarchy.
    #[error("{count} label(s) are ancestors of other labels ({pairs}); the labels must be the leaves of the hierarchy: drop the ancestor or its descendant from the label list")]
    LabelIsAncestor {
        /// How many (ancestor, descendant) pairs there are.
        count: usize,
        /// The first few pairs, as `ancestor > descendant`.
        pairs: String,
    },
    /// Fewer than two labels: there is nothing to classify.
    #[error("a label hierarchy needs at least 2 labels, got {0}")]
    TooFewLabels(usize),
    /// The labels' hierarchy has several roots, so it is a forest, not a tree.
    #[error("the labels' hierarchy has {count} roots ({roots}): it must be one tree; add a common parent of these roots to the is-a file")]
    SeveralRoots {
        /// How many roots there are.
        count: usize,
        /// The first few roots, comma-separated.
        roots: String,
    },
    /// A loss parameter outside its range (α, β, label smoothing).
    #[error("{name} = {value} is out of range: {expected}")]
    OutOfRange {
        /// The parameter's name.
        name: &'static str,
        /// The value given.
        value: f64,
        /// The valid range, in words.
        expected: &'static str,
    },
    /// A loss recipe whose name is not known.
    #[error("unknown loss {name:?}{hint}; known losses: {known}", hint = suggestion.as_ref().map(|s| format!(" (did you mean {s:?}?)")).unwrap_or_default())]
    UnknownLoss {
        /// The name given.
        name: String,
        /// The closest known name, if one is close.
        suggestion: Option<String>,
        /// The known names with their syntax.
        known: &'static str,
    },
    /// A vocabulary word (tree rule, distance convention) that is not known.
    #[error("unknown {what} {value:?}{hint}; use one of {known}", hint = suggestion.as_ref().map(|s| format!(" (did you mean {s:?}?)")).unwrap_or_default())]
    UnknownWord {
        /// What the word names.
        what: &'static str,
        /// The word given.
        value: String,
        /// The closest known word, if one is close.
        suggestion: Option<String>,
        /// The known words.
        known: &'static str,
    },
    /// A loss recipe with a known name but a malformed parameter.
    #[error("loss recipe {recipe:?}: {message}")]
    BadRecipe {
        /// The recipe given.
        recipe: String,
        /// What is wrong and the expected form.
        message: String,
    },
    /// An error of the taxonomy the tree is built from.
    #[error(transparent)]
    Taxonomy(#[from] hiercog_taxonomy::Error),
    /// A tensor operation failed while building the loss's constant tensors.
    #[error(transparent)]
    Tensor(#[from] candle_core::Error),
}

/// The known name closest to `value` (edit distance counting a swap of neighbours as one edit: ≤ 2, or ≤ 3 for names longer than 4), for
/// "did you mean" hints.
pub fn closest<'a>(value: &str, known: &[&'a str]) -> Option<&'a str> {
    let lower = value.to_ascii_lowercase();
    known
        .iter()
        .map(|k| (strsim::osa_distance(&lower, k), *k))
        .min()
        .filter(|&(d, k)| d <= if k.len() > 4 { 3 } else { 2 })
        .map(|(_, k)| k)
}
