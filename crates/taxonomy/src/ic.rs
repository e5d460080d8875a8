//! Information content: IC(c) = -log p(c) from sense counts, user counts, hyponym counts or
//! subtree membership.

use crate::error::{Error, Result};
use crate::taxonomy::{ConceptId, Taxonomy};

/// NLTK's stand-in for an infinite IC (`nltk.corpus.reader.wordnet._INF`): the IC of a concept
/// whose count is 0. hiercog keeps it so that Lin/Resnik/JCN values match NLTK bit for bit.
pub const IC_INFINITY: f64 = 1e300;

/// Per-concept information content of one taxonomy.
#[derive(Clone, Debug)]
pub struct InformationContent {
    ic: Vec<f64>,
}

impl InformationContent {
    /// SemCor sense counts (WordNet's `cntlist`) propagated to ancestors exactly as NLTK's
    /// `WordNetCorpusReader.ic(corpus, smoothing=1.0)` does.
    pub fn semcor(tax: &Taxonomy) -> Result<Self> {
        let _ = tax;
        todo!()
    }

    /// User per-concept counts (e.g. images per synset), propagated like [`InformationContent::semcor`]
    /// but without smoothing.
    pub fn from_counts(tax: &Taxonomy, counts: &[(ConceptId, f64)]) -> Result<Self> {
        let _ = (tax, counts);
        todo!()
    }

    /// Intrinsic IC of Seco, Veale and Hayes (2004) from hyponym counts alone.
    pub fn intrinsic(tax: &Taxonomy) -> Self {
        let _ = tax;
        todo!()
    }

    /// IC(c) = -log(#members in the subtree of c / #members): the ImageNet-21K IC of spec section 2.
    pub fn subtree_members(tax: &Taxonomy, members: &[ConceptId]) -> Result<Self> {
        let _ = (tax, members);
        todo!()
    }

    /// IC of `c` (may be [`IC_INFINITY`] for a zero count).
    pub fn ic(&self, c: ConceptId) -> f64 {
        self.ic[c.index()]
    }

    /// Number of concepts covered.
    pub fn len(&self) -> usize {
        self.ic.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.ic.is_empty()
    }

    #[allow(dead_code)]
    fn check(&self, tax: &Taxonomy) -> Result<()> {
        if self.ic.len() != tax.len() {
            return Err(Error::IcMismatch {
                ic: self.ic.len(),
                tax: tax.len(),
            });
        }
        Ok(())
    }
}
