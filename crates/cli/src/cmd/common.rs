//! Options shared by every subcommand that needs a taxonomy, and concept-name helpers.

use std::path::PathBuf;
use std::sync::Arc;

use hiercog_taxonomy::{ConceptId, Taxonomy};

/// Where the concept hierarchy comes from. Default: the WordNet 3.0 nouns embedded in hiercog.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct TaxonomySource {
    /// Read WordNet from this dict directory (holding data.noun, index.noun, cntlist.rev) instead
    /// of the embedded WordNet 3.0 snapshot, e.g. /usr/share/wordnet on Debian. The WORDNET_DIR
    /// environment variable does the same.
    #[arg(long, value_name = "DIR", global = true)]
    pub wordnet_dir: Option<PathBuf>,
    /// Use your own hierarchy instead of WordNet: a file of `parent<TAB>child` lines (a concept
    /// may have several parents; cycles are rejected). Concept names are then your labels.
    #[arg(
        long = "taxonomy",
        value_name = "FILE",
        global = true,
        conflicts_with = "wordnet_dir"
    )]
    pub taxonomy_file: Option<PathBuf>,
}

impl TaxonomySource {
    /// The chosen source, as the library names it.
    pub fn source(&self) -> hiercog_taxonomy::TaxonomySource {
        hiercog_taxonomy::TaxonomySource::choose(
            self.wordnet_dir.as_deref(),
            self.taxonomy_file.as_deref(),
        )
    }

    /// Loads the chosen taxonomy (the embedded one is decoded once per process).
    pub fn load(&self) -> anyhow::Result<Arc<Taxonomy>> {
        Ok(self.source().load()?)
    }
}

/// Resolves a concept name; when it is not one, suggests concepts having it as a lemma.
pub fn resolve_concept(tax: &Taxonomy, name: &str) -> anyhow::Result<ConceptId> {
    tax.id(name).map_err(|e| {
        let found = tax.find_by_lemma(name);
        if found.is_empty() {
            return anyhow::Error::new(e);
        }
        let hint: Vec<String> = found
            .iter()
            .take(8)
            .map(|&c| {
                format!(
                    "{} ({}: {})",
                    tax.name(c),
                    tax.nltk_name(c),
                    tax.gloss(c)
                        .unwrap_or("")
                        .chars()
                        .take(60)
                        .collect::<String>()
                )
            })
            .collect();
        anyhow::Error::new(e).context(format!("{name:?} is a lemma of: {}", hint.join("; ")))
    })
}

/// Adds the command-line flag that fixes an error (library messages name parameters, not
/// flags): `error\n  hint: flag`, when `hint` knows one for the error of type `E` inside.
pub fn with_flag_hint<E: std::error::Error + Send + Sync + 'static>(
    err: anyhow::Error,
    hint: impl Fn(&E) -> Option<&'static str>,
) -> anyhow::Error {
    match err.downcast_ref::<E>().and_then(hint) {
        Some(flag) => anyhow::anyhow!("{err:#}\n  hint: {flag}"),
        None => err,
    }
}
