//! Concept-to-set similarity S(c, Set) = max over s in Set of sim(c, s), fast for large sets.
//!
//! Lin and Resnik use the subsumer trick of the spec (section 1): every common subsumer of c and
//! s is an ancestor of c, so S_lin(c) = max over ancestors a of c of 2·IC(a) / (IC(c) + m(a)),
//! with m(a) the smallest IC of a set member under a (the largest when IC(a) < 0), precomputed
//! once for all concepts. A candidate costs one walk over its ancestors instead of |Set|
//! pairwise comparisons. The other measures (and Lin cases the trick does not cover: a set
//! member with negative IC, a candidate with IC <= 0, or with NLTK's 1e300 "infinite" IC, where
//! floating-point absorption makes every member under an ancestor tie) compare pairwise with
//! precomputed ancestor lists.

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::ic::{InformationContent, IC_INFINITY};
use crate::similarity::{pair_similarity, Measure, Upward};
use crate::taxonomy::{ConceptId, Taxonomy};

const NONE: u32 = u32::MAX;

/// What the trick stores per concept about the set members below it.
#[derive(Clone, Copy, Debug)]
struct Below {
    /// Smallest member IC below, and the first set position having it.
    min_ic: f64,
    min_pos: u32,
    /// Largest member IC below, and the first set position having it.
    max_ic: f64,
    max_pos: u32,
    /// First set position of any member below (`NONE`: no member below).
    first_pos: u32,
}

enum Strategy {
    /// Lin or Resnik by the subsumer trick.
    Subsumer(Vec<Below>),
    /// Pairwise over the set.
    Pairwise,
}

/// Max-over-set similarity for a fixed set, precomputed so that many candidates are cheap.
///
/// Ties: when several members reach the maximum, [`SetSimilarity::best`] returns the one listed
/// first in the set. Pairs whose similarity is undefined (see [`crate::similarity`]) are skipped;
/// a candidate with no defined pair gets `(f64::NEG_INFINITY, set[0])`.
pub struct SetSimilarity<'a> {
    tax: &'a Taxonomy,
    ic: Option<&'a InformationContent>,
    measure: Measure,
    set: Vec<ConceptId>,
    ups: Vec<Upward>,
    strategy: Strategy,
}

impl<'a> SetSimilarity<'a> {
    /// Precomputes what [`SetSimilarity::best`] needs for `set` (non-empty; duplicates allowed).
    pub fn new(
        tax: &'a Taxonomy,
        ic: Option<&'a InformationContent>,
        measure: Measure,
        set: &[ConceptId],
    ) -> Result<Self> {
        if set.is_empty() {
            return Err(Error::Empty("the set"));
        }
        if let Some(c) = set.iter().find(|c| c.index() >= tax.len()) {
            return Err(Error::BadConceptId(c.0));
        }
        if measure.needs_ic() {
            ic.ok_or(Error::MissingIc {
                measure: measure.short_name(),
            })?
            .check(tax)?;
        }
        let ups: Vec<Upward> = set.par_iter().map(|&s| Upward::new(tax, s)).collect();
        let strategy = match (measure, ic) {
            (Measure::Lin | Measure::Resnik, Some(ic)) if set.iter().all(|&s| ic.ic(s) >= 0.0) => {
                Strategy::Subsumer(below_table(tax, ic, &ups))
            }
            _ => Strategy::Pairwise,
        };
        Ok(SetSimilarity {
            tax,
            ic,
            measure,
            set: set.to_vec(),
            ups,
            strategy,
        })
    }

    /// The highest similarity of `c` to a member of the set, and that member (first listed on ties).
    pub fn best(&self, c: ConceptId) -> (f64, ConceptId) {
        let pos = match (&self.strategy, self.ic) {
            (Strategy::Subsumer(below), Some(ic)) if self.measure == Measure::Resnik => {
                best_resnik(self.tax, ic, below, c)
            }
            (Strategy::Subsumer(below), Some(ic)) if ic.ic(c) > 0.0 && ic.ic(c) < IC_INFINITY => {
                best_lin(self.tax, ic, below, c)
            }
            _ => self.best_pairwise(c),
        };
        match pos {
            Some((v, p)) => (v, self.set[p as usize]),
            None => (f64::NEG_INFINITY, self.set[0]),
        }
    }

    fn best_pairwise(&self, c: ConceptId) -> Option<(f64, u32)> {
        if c.index() >= self.tax.len() {
            return None;
        }
        let uc = Upward::new(self.tax, c);
        let mut best: Option<(f64, u32)> = None;
        for (p, us) in self.ups.iter().enumerate() {
            if let Ok(v) = pair_similarity(self.tax, self.ic, self.measure, &uc, us) {
                if best.is_none_or(|(bv, _)| v > bv) {
                    best = Some((v, p as u32));
                }
            }
        }
        best
    }

    /// [`SetSimilarity::best`] for many concepts, in parallel (rayon), in input order.
    pub fn best_many(&self, cs: &[ConceptId]) -> Vec<(f64, ConceptId)> {
        cs.par_iter().map(|&c| self.best(c)).collect()
    }

    /// The set, in the order given.
    pub fn set(&self) -> &[ConceptId] {
        &self.set
    }

    /// The measure.
    pub fn measure(&self) -> Measure {
        self.measure
    }
}

/// For every concept, the extreme member ICs below it and where they sit in the set.
fn below_table(tax: &Taxonomy, ic: &InformationContent, ups: &[Upward]) -> Vec<Below> {
    let empty = Below {
        min_ic: f64::INFINITY,
        min_pos: NONE,
        max_ic: f64::NEG_INFINITY,
        max_pos: NONE,
        first_pos: NONE,
    };
    let mut below = vec![empty; tax.len()];
    // Visiting members in set order makes "first position" the first strict improvement.
    for (p, us) in ups.iter().enumerate() {
        let (p, v) = (p as u32, ic.ic(us.c));
        for &(a, _) in &us.anc {
            let b = &mut below[a.index()];
            if b.first_pos == NONE {
                b.first_pos = p;
            }
            if v < b.min_ic {
                b.min_ic = v;
                b.min_pos = p;
            }
            if v > b.max_ic {
                b.max_ic = v;
                b.max_pos = p;
            }
        }
    }
    below
}

/// Lin by the trick; requires IC(c) > 0 and every member IC >= 0, so denominators are positive.
fn best_lin(
    tax: &Taxonomy,
    ic: &InformationContent,
    below: &[Below],
    c: ConceptId,
) -> Option<(f64, u32)> {
    let ic_c = ic.ic(c);
    let mut best: Option<(f64, u32)> = None;
    for a in tax.ancestors(c) {
        let b = &below[a.index()];
        if b.first_pos == NONE {
            continue;
        }
        let ic_a = ic.ic(a);
        // Maximise 2·IC(a)/(IC(c)+IC(s)) over members s under a: the smallest IC(s) when
        // IC(a) > 0, the largest when IC(a) < 0, any member when IC(a) = 0.
        let (v, p) = if ic_a > 0.0 {
            ((2.0 * ic_a) / (ic_c + b.min_ic), b.min_pos)
        } else if ic_a < 0.0 {
            ((2.0 * ic_a) / (ic_c + b.max_ic), b.max_pos)
        } else {
            (0.0, b.first_pos)
        };
        if best.is_none_or(|(bv, bp)| v > bv || (v == bv && p < bp)) {
            best = Some((v, p));
        }
    }
    best
}

/// Resnik by the trick: the most informative ancestor of `c` with a member under it.
fn best_resnik(
    tax: &Taxonomy,
    ic: &InformationContent,
    below: &[Below],
    c: ConceptId,
) -> Option<(f64, u32)> {
    let mut best: Option<(f64, u32)> = None;
    for a in tax.ancestors(c) {
        let b = &below[a.index()];
        if b.first_pos == NONE {
            continue;
        }
        let v = ic.ic(a);
        if best.is_none_or(|(bv, bp)| v > bv || (v == bv && b.first_pos < bp)) {
            best = Some((v, b.first_pos));
        }
    }
    best
}
