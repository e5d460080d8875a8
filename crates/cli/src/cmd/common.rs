//! Options shared by every subcommand that needs a taxonomy or an information-content source.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use anyhow::Context;
use hiercog_taxonomy::{ConceptId, InformationContent, Taxonomy};

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
    /// Loads the chosen taxonomy (the embedded one is decoded once per process).
    pub fn load(&self) -> anyhow::Result<Arc<Taxonomy>> {
        Ok(Taxonomy::from_env_or_embedded(
            self.wordnet_dir.as_deref(),
            self.taxonomy_file.as_deref(),
        )?)
    }
}

/// An information-content source, as given to `--ic`.
#[derive(Clone, Debug, PartialEq)]
pub enum IcSource {
    /// SemCor sense counts from WordNet's cntlist, propagated as NLTK's `wordnet.ic` does.
    Semcor,
    /// Seco et al. (2004): from the number of hyponyms alone; works for any taxonomy.
    Intrinsic,
    /// Your per-concept counts: `concept<TAB>count` lines, propagated to ancestors.
    Counts(PathBuf),
    /// IC(c) = -log(#ImageNet-21K (fall 2011) synsets under c / 21,841): the CoG default.
    Imagenet21k,
}

impl FromStr for IcSource {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "semcor" => Ok(IcSource::Semcor),
            "intrinsic" => Ok(IcSource::Intrinsic),
            "imagenet21k" | "in21k" => Ok(IcSource::Imagenet21k),
            _ => match s.strip_prefix("counts:") {
                Some(p) if !p.is_empty() => Ok(IcSource::Counts(PathBuf::from(p))),
                _ => Err(format!(
                    "unknown IC source {s:?}: use semcor, intrinsic, imagenet21k or counts:FILE (FILE has `concept<TAB>count` lines)"
                )),
            },
        }
    }
}

impl std::fmt::Display for IcSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IcSource::Semcor => f.write_str("semcor"),
            IcSource::Intrinsic => f.write_str("intrinsic"),
            IcSource::Imagenet21k => f.write_str("imagenet21k"),
            IcSource::Counts(p) => write!(f, "counts:{}", p.display()),
        }
    }
}

impl IcSource {
    /// Computes this IC on `tax`.
    pub fn load(&self, tax: &Taxonomy) -> anyhow::Result<InformationContent> {
        Ok(match self {
            IcSource::Semcor => InformationContent::semcor(tax)?,
            IcSource::Intrinsic => InformationContent::intrinsic(tax),
            IcSource::Counts(path) => {
                let counts = read_counts(tax, path)?;
                InformationContent::from_counts(tax, &counts)?
            }
            IcSource::Imagenet21k => hiercog_cog::imagenet21k_information_content(tax)?,
        })
    }
}

/// Reads `concept<TAB>count` lines (`#` comments allowed).
fn read_counts(tax: &Taxonomy, path: &std::path::Path) -> anyhow::Result<Vec<(ConceptId, f64)>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read counts file {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let at = || format!("{}:{}", path.display(), i + 1);
        let (name, count) = line
            .split_once(['\t', ' '])
            .with_context(|| format!("{}: expected `concept<TAB>count`, found {line:?}", at()))?;
        let id = tax.id(name.trim()).with_context(at)?;
        let count: f64 = count
            .trim()
            .parse()
            .with_context(|| format!("{}: count {count:?} is not a number", at()))?;
        out.push((id, count));
    }
    Ok(out)
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

/// Resolves one concept name per line (`#` comments and blank lines skipped); `what` names the
/// source in errors.
pub fn resolve_list(tax: &Taxonomy, text: &str, what: &str) -> anyhow::Result<Vec<ConceptId>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let name = line.split('#').next().unwrap_or("").trim();
        if name.is_empty() {
            continue;
        }
        out.push(
            tax.id(name)
                .with_context(|| format!("{what}, line {}", i + 1))?,
        );
    }
    Ok(out)
}

/// Reads a file of concept names, one per line.
pub fn read_concept_list(tax: &Taxonomy, path: &std::path::Path) -> anyhow::Result<Vec<ConceptId>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    resolve_list(tax, &text, &path.display().to_string())
}
