//! Concept-to-set similarity: S(c, Set) = max over s in Set of sim(c, s), fast for large sets.

use crate::error::Result;
use crate::ic::InformationContent;
use crate::similarity::Measure;
use crate::taxonomy::{ConceptId, Taxonomy};

/// Precomputed max-over-set similarity for a fixed set.
pub struct SetSimilarity<'a> {
    tax: &'a Taxonomy,
    ic: Option<&'a InformationContent>,
    measure: Measure,
    set: Vec<ConceptId>,
}

impl<'a> SetSimilarity<'a> {
    /// Precomputes what `best` needs for `set` (non-empty).
    pub fn new(
        tax: &'a Taxonomy,
        ic: Option<&'a InformationContent>,
        measure: Measure,
        set: &[ConceptId],
    ) -> Result<Self> {
        Ok(SetSimilarity {
            tax,
            ic,
            measure,
            set: set.to_vec(),
        })
    }

    /// The highest similarity of `c` to a member of the set and the member reaching it; ties go
    /// to the member listed first in the set.
    pub fn best(&self, c: ConceptId) -> (f64, ConceptId) {
        let _ = (self.tax, self.ic, self.measure, c);
        todo!()
    }

    /// [`SetSimilarity::best`] for many concepts, in parallel (rayon), in input order.
    pub fn best_many(&self, cs: &[ConceptId]) -> Vec<(f64, ConceptId)> {
        let _ = cs;
        todo!()
    }

    /// The set, in the order given.
    pub fn set(&self) -> &[ConceptId] {
        &self.set
    }
}
