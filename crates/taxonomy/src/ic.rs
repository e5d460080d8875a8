//! Information content: IC(c) = -log p(c), from sense counts, user counts, hyponym counts or
//! subtree membership.

use std::path::Path;

use crate::error::{Error, Result};
use crate::taxonomy::{ConceptId, Taxonomy};

/// NLTK's stand-in for an infinite IC (`nltk.corpus.reader.wordnet._INF`): the IC of a concept
/// whose count is 0. hiercog keeps it so that Lin/Resnik/JCN values match NLTK's.
pub const IC_INFINITY: f64 = 1e300;

/// Per-concept information content of one taxonomy.
///
/// Four sources, each documented on its constructor: [`InformationContent::semcor`],
/// [`InformationContent::from_counts`], [`InformationContent::intrinsic`],
/// [`InformationContent::subtree_members`].
#[derive(Clone, Debug)]
pub struct InformationContent {
    ic: Vec<f64>,
}

impl InformationContent {
    /// SemCor sense counts (WordNet's `cntlist`, summed per synset) propagated to ancestors
    /// exactly as NLTK's `WordNetCorpusReader.ic(corpus, smoothing=1.0)` does:
    /// every synset starts at 1 (smoothing, not propagated); a synset's count is added to itself and
    /// to each synset of its breadth-first hypernym levels *as often as it occurs in those levels*
    /// (NLTK's `_iter_hypernym_lists` repeats an ancestor reached along several paths of the same
    /// length, so multi-parent synsets count more than once above the merge point, and IC can be
    /// slightly negative near the root); the root total p(root) denominator adds each count once.
    pub fn semcor(tax: &Taxonomy) -> Result<Self> {
        if !tax.is_wordnet() {
            return Err(Error::NoSenseCounts);
        }
        let counts: Vec<(ConceptId, f64)> = tax
            .all()
            .filter(|c| tax.sense_count(*c) > 0)
            .map(|c| (c, f64::from(tax.sense_count(c))))
            .collect();
        Self::nltk_propagated(tax, &counts, 1.0)
    }

    /// User per-concept counts (e.g. images per synset; repeated concepts add up), propagated
    /// like [`InformationContent::semcor`] but without smoothing, so a concept with nothing
    /// counted under it gets [`IC_INFINITY`].
    pub fn from_counts(tax: &Taxonomy, counts: &[(ConceptId, f64)]) -> Result<Self> {
        Self::nltk_propagated(tax, counts, 0.0)
    }

    /// [`InformationContent::from_counts`] of a counts file: `concept<TAB>count` lines (a space
    /// also separates), `#` comments; errors name the file and line.
    pub fn from_counts_file(tax: &Taxonomy, path: &Path) -> Result<Self> {
        let file = hiercog_io::LineFile::read(path)?;
        let counts = file
            .lines()
            .map(|(number, line)| {
                let (name, count) = line.split_once(['\t', ' ']).ok_or_else(|| {
                    file.error(
                        number,
                        format!("expected `concept<TAB>count`, found {line:?}"),
                    )
                })?;
                let id = tax
                    .id(name.trim())
                    .map_err(|e| file.error(number, e.to_string()))?;
                let count: f64 = count.trim().parse().map_err(|_| {
                    file.error(number, format!("count {:?} is not a number", count.trim()))
                })?;
                Ok((id, count))
            })
            .collect::<Result<Vec<_>>>()?;
        Self::from_counts(tax, &counts)
    }

    fn nltk_propagated(
        tax: &Taxonomy,
        counts: &[(ConceptId, f64)],
        smoothing: f64,
    ) -> Result<Self> {
        let n = tax.len();
        let mut total = vec![smoothing; n];
        let mut root = smoothing;
        // Multiplicity of each ancestor in NLTK's level lists, reused across concepts.
        let mut level: Vec<(ConceptId, f64)> = Vec::new();
        let mut next: Vec<(ConceptId, f64)> = Vec::new();
        let mut seen_stamp = vec![u32::MAX; n];
        let mut slot = vec![usize::MAX; n];
        for (k, &(c, w)) in counts.iter().enumerate() {
            if c.index() >= n {
                return Err(Error::BadConceptId(c.0));
            }
            if !(w.is_finite() && w >= 0.0) {
                return Err(Error::BadCount {
                    concept: tax.name(c).to_string(),
                    value: w,
                });
            }
            let stamp = k as u32;
            level.clear();
            level.push((c, 1.0));
            while !level.is_empty() {
                for &(x, _) in &level {
                    seen_stamp[x.index()] = stamp;
                }
                for &(x, mult) in &level {
                    total[x.index()] += w * mult;
                }
                next.clear();
                for &(x, mult) in &level {
                    for &p in tax.parents(x) {
                        if seen_stamp[p.index()] == stamp {
                            continue;
                        }
                        let s = slot[p.index()];
                        if s < next.len() && next[s].0 == p {
                            next[s].1 += mult;
                        } else {
                            slot[p.index()] = next.len();
                            next.push((p, mult));
                        }
                    }
                }
                std::mem::swap(&mut level, &mut next);
            }
            root += w;
        }
        let ic = total
            .iter()
            .map(|&t| {
                if t == 0.0 {
                    IC_INFINITY
                } else {
                    -(t / root).ln()
                }
            })
            .collect();
        Ok(InformationContent { ic })
    }

    /// Intrinsic IC of Seco, Veale and Hayes (2004), from the taxonomy alone:
    /// IC(c) = 1 - ln(hypo(c) + 1) / ln(N), hypo(c) = number of distinct concepts below c
    /// (hyponyms and instances, transitively), N = number of concepts. Leaves get 1, a root
    /// over everything gets 0. A one-concept taxonomy gets IC 1.
    pub fn intrinsic(tax: &Taxonomy) -> Self {
        let n = tax.len();
        let hypo = descendant_counts(tax);
        let ln_n = (n as f64).ln();
        let ic = hypo
            .iter()
            // h counts c itself, so hypo(c) + 1 = h.
            .map(|&h| {
                if n <= 1 {
                    1.0
                } else {
                    1.0 - (h as f64).ln() / ln_n
                }
            })
            .collect();
        InformationContent { ic }
    }

    /// IC(c) = -ln(#members in the subtree of c (c included) / #members), each member counted
    /// once however many paths lead to it; [`IC_INFINITY`] where no member lies below. With the
    /// ImageNet-21K fall 2011 synsets as members this is the IC that best reproduces the
    /// official CoG levels.
    pub fn subtree_members(tax: &Taxonomy, members: &[ConceptId]) -> Result<Self> {
        let mut members = members.to_vec();
        members.sort_unstable();
        members.dedup();
        if members.is_empty() {
            return Err(Error::Empty("the member list"));
        }
        let n = tax.len();
        let mut below = vec![0u32; n];
        let mut stamp = vec![u32::MAX; n];
        let mut stack = Vec::new();
        for (k, &m) in members.iter().enumerate() {
            if m.index() >= n {
                return Err(Error::BadConceptId(m.0));
            }
            visit_up(tax, m, k as u32, &mut stamp, &mut stack, |a| {
                below[a.index()] += 1
            });
        }
        let total = members.len() as f64;
        let ic = below
            .iter()
            .map(|&b| {
                if b == 0 {
                    IC_INFINITY
                } else {
                    -(f64::from(b) / total).ln()
                }
            })
            .collect();
        Ok(InformationContent { ic })
    }

    /// Wraps precomputed IC values (one per concept, in id order).
    pub fn from_values(tax: &Taxonomy, values: Vec<f64>) -> Result<Self> {
        if values.len() != tax.len() {
            return Err(Error::IcMismatch {
                ic: values.len(),
                tax: tax.len(),
            });
        }
        if let Some(v) = values.iter().find(|v| v.is_nan()) {
            return Err(Error::BadIc(format!("IC value {v} is not a number")));
        }
        Ok(InformationContent { ic: values })
    }

    /// IC of `c` (may be [`IC_INFINITY`] for a zero count).
    pub fn ic(&self, c: ConceptId) -> f64 {
        self.ic[c.index()]
    }

    /// All values, in concept id order.
    pub fn values(&self) -> &[f64] {
        &self.ic
    }

    /// Number of concepts covered.
    pub fn len(&self) -> usize {
        self.ic.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.ic.is_empty()
    }

    /// Errors unless this IC was computed on a taxonomy of the same size as `tax`.
    pub(crate) fn check(&self, tax: &Taxonomy) -> Result<()> {
        if self.ic.len() != tax.len() {
            return Err(Error::IcMismatch {
                ic: self.ic.len(),
                tax: tax.len(),
            });
        }
        Ok(())
    }
}

/// Calls `f` once for `c` and each distinct ancestor; `stamp` marks visits with `mark`.
pub(crate) fn visit_up(
    tax: &Taxonomy,
    c: ConceptId,
    mark: u32,
    stamp: &mut [u32],
    stack: &mut Vec<ConceptId>,
    mut f: impl FnMut(ConceptId),
) {
    stack.clear();
    stack.push(c);
    stamp[c.index()] = mark;
    while let Some(x) = stack.pop() {
        f(x);
        for &p in tax.parents(x) {
            if stamp[p.index()] != mark {
                stamp[p.index()] = mark;
                stack.push(p);
            }
        }
    }
}

/// Number of distinct concepts in each concept's subtree (itself included).
pub(crate) fn descendant_counts(tax: &Taxonomy) -> Vec<u64> {
    let n = tax.len();
    let mut out = vec![0u64; n];
    let mut stamp = vec![u32::MAX; n];
    let mut stack = Vec::new();
    // Each concept adds 1 to every distinct ancestor: sum of ancestor-set sizes, cheap for WordNet.
    for c in tax.all() {
        visit_up(tax, c, c.0, &mut stamp, &mut stack, |a| out[a.index()] += 1);
    }
    out
}
