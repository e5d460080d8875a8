//! The six classic WordNet similarity measures with NLTK's conventions.

use std::path::Path;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::ic::{InformationContent, IC_INFINITY};
use crate::taxonomy::{ConceptId, Taxonomy};

/// A similarity measure, named as in NLTK (`path_similarity`, `lch_similarity`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Measure {
    /// 1 / (shortest is-a path length + 1).
    Path,
    /// -log((path length + 1) / (2 · max depth of the taxonomy)).
    LeacockChodorow,
    /// 2·depth(LCS) / (len1 + len2 + 2·depth(LCS)), NLTK's Wu-Palmer.
    WuPalmer,
    /// IC(LCS).
    Resnik,
    /// 2·IC(LCS) / (IC(a) + IC(b)).
    Lin,
    /// 1 / (IC(a) + IC(b) - 2·IC(LCS)).
    JiangConrath,
}

impl Measure {
    /// Every measure, in the order above.
    pub const ALL: [Measure; 6] = [
        Measure::Path,
        Measure::LeacockChodorow,
        Measure::WuPalmer,
        Measure::Resnik,
        Measure::Lin,
        Measure::JiangConrath,
    ];

    /// Short name (`path`, `lch`, `wup`, `res`, `lin`, `jcn`), as accepted by `FromStr`.
    pub fn short_name(self) -> &'static str {
        match self {
            Measure::Path => "path",
            Measure::LeacockChodorow => "lch",
            Measure::WuPalmer => "wup",
            Measure::Resnik => "res",
            Measure::Lin => "lin",
            Measure::JiangConrath => "jcn",
        }
    }

    /// True for the IC-based measures (Resnik, Lin, Jiang-Conrath).
    pub fn needs_ic(self) -> bool {
        matches!(self, Measure::Resnik | Measure::Lin | Measure::JiangConrath)
    }
}

impl std::fmt::Display for Measure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.short_name())
    }
}

impl FromStr for Measure {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Measure::ALL
            .into_iter()
            .find(|m| m.short_name() == s.to_ascii_lowercase())
            .ok_or_else(|| Error::UnknownMeasure(s.to_string()))
    }
}

/// Written as its short name (`lin`), e.g. in a run config.
impl serde::Serialize for Measure {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.short_name())
    }
}

impl<'de> serde::Deserialize<'de> for Measure {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// Similarity of `a` and `b` under `m`, as NLTK 3.10 computes it for nouns (no simulated root):
///
/// - `path`: 1/(d+1), d = shortest path through a common ancestor (breadth-first, both edge kinds).
/// - `lch`: -ln((d+1) / (2·D)), D = the taxonomy's largest `max_depth` (19 for WordNet nouns).
/// - `wup`: LCS = common ancestor of greatest `min_depth` (ties: `a` itself if tied, else the
///   first by NLTK name), depth = max_depth(LCS)+1, value 2·depth / (d(a,LCS) + d(b,LCS) + 2·depth).
/// - `res`: IC of the most informative common ancestor (0 when there is none).
/// - `lin`: 2·res / (IC(a)+IC(b)); undefined (NLTK: ZeroDivisionError) when IC(a)+IC(b) = 0.
/// - `jcn`: 1/(IC(a)+IC(b)-2·res); as NLTK: `a == b` gives 1e300, an IC of 0 on either side
///   gives 0, a zero difference gives 1e300.
///
/// Errors: a missing IC for res/lin/jcn; no common ancestor for path/lch/wup (NLTK: None; only
/// possible in a taxonomy with several roots); the undefined cases above.
pub fn similarity(
    tax: &Taxonomy,
    ic: Option<&InformationContent>,
    m: Measure,
    a: ConceptId,
    b: ConceptId,
) -> Result<f64> {
    for c in [a, b] {
        if c.index() >= tax.len() {
            return Err(Error::BadConceptId(c.0));
        }
    }
    let ua = Upward::new(tax, a);
    let ub = Upward::new(tax, b);
    pair_similarity(tax, ic, m, &ua, &ub)
}

/// [`similarity`] of many pairs, in parallel and in input order; `None` where the similarity is
/// undefined for that pair (e.g. lin of the root with itself). A missing IC for res/lin/jcn is
/// an error for the whole batch.
pub fn similarities(
    tax: &Taxonomy,
    ic: Option<&InformationContent>,
    m: Measure,
    pairs: &[(ConceptId, ConceptId)],
) -> Result<Vec<Option<f64>>> {
    use rayon::prelude::*;
    if m.needs_ic() {
        ic.ok_or(Error::MissingIc {
            measure: m.short_name(),
        })?
        .check(tax)?;
    }
    Ok(pairs
        .par_iter()
        .map(|&(a, b)| similarity(tax, ic, m, a, b).ok())
        .collect())
}

/// Reads a file of concept pairs, `a<TAB>b` per line (a space also separates), `#` comments;
/// errors name the file and line.
pub fn read_pair_file(tax: &Taxonomy, path: &Path) -> Result<Vec<(ConceptId, ConceptId)>> {
    let file = hiercog_io::LineFile::read(path)?;
    let pairs = file
        .lines()
        .map(|(number, line)| {
            let at = |message: String| file.error(number, message);
            let f: Vec<&str> = line.split(['\t', ' ']).filter(|s| !s.is_empty()).collect();
            let [a, b] = f[..] else {
                return Err(at(format!("expected `a<TAB>b`, found {line:?}")).into());
            };
            let id = |name: &str| tax.id(name).map_err(|e| at(e.to_string()));
            Ok((id(a)?, id(b)?))
        })
        .collect::<Result<_>>()?;
    Ok(pairs)
}

/// A concept with its ancestors and their breadth-first upward distances, sorted by id: what
/// every measure needs, precomputed once per concept when comparing against many.
#[derive(Clone, Debug)]
pub(crate) struct Upward {
    pub c: ConceptId,
    pub anc: Vec<(ConceptId, u32)>,
}

impl Upward {
    pub fn new(tax: &Taxonomy, c: ConceptId) -> Self {
        Upward {
            c,
            anc: tax.ancestor_distances(c),
        }
    }
}

/// Calls `f(ancestor, dist_a, dist_b)` for each common ancestor of two concepts.
fn for_common(a: &Upward, b: &Upward, mut f: impl FnMut(ConceptId, u32, u32)) {
    let (x, y) = (&a.anc, &b.anc);
    let (mut i, mut j) = (0, 0);
    while i < x.len() && j < y.len() {
        match x[i].0.cmp(&y[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                f(x[i].0, x[i].1, y[j].1);
                i += 1;
                j += 1;
            }
        }
    }
}

/// NLTK's `shortest_path_distance`; `None` without a common ancestor.
fn shortest_path(a: &Upward, b: &Upward) -> Option<u32> {
    if a.c == b.c {
        return Some(0);
    }
    let mut best: Option<u32> = None;
    for_common(a, b, |_, da, db| {
        best = Some(best.map_or(da + db, |v| v.min(da + db)))
    });
    best
}

/// Most informative common subsumer's IC, 0 without one (NLTK's `_lcs_ic`).
fn lcs_ic(ic: &InformationContent, a: &Upward, b: &Upward) -> f64 {
    let mut best: Option<f64> = None;
    for_common(a, b, |x, _, _| {
        let v = ic.ic(x);
        best = Some(best.map_or(v, |bv: f64| bv.max(v)));
    });
    best.unwrap_or(0.0)
}

pub(crate) fn pair_similarity(
    tax: &Taxonomy,
    ic: Option<&InformationContent>,
    m: Measure,
    a: &Upward,
    b: &Upward,
) -> Result<f64> {
    let names = || (tax.name(a.c).to_string(), tax.name(b.c).to_string());
    let no_subsumer = || {
        let (a, b) = names();
        Error::NoCommonSubsumer {
            measure: m.short_name(),
            a,
            b,
        }
    };
    let undefined = |reason: &'static str| {
        let (a, b) = names();
        Error::Undefined {
            measure: m.short_name(),
            a,
            b,
            reason,
        }
    };
    let need_ic = || -> Result<&InformationContent> {
        let ic = ic.ok_or(Error::MissingIc {
            measure: m.short_name(),
        })?;
        ic.check(tax)?;
        Ok(ic)
    };
    match m {
        Measure::Path => {
            let d = shortest_path(a, b).ok_or_else(no_subsumer)?;
            Ok(1.0 / (f64::from(d) + 1.0))
        }
        Measure::LeacockChodorow => {
            let depth = tax.taxonomy_max_depth();
            let d = shortest_path(a, b).ok_or_else(no_subsumer)?;
            if depth == 0 {
                return Err(undefined("the taxonomy has depth 0 (NLTK returns None)"));
            }
            Ok(-((f64::from(d) + 1.0) / (2.0 * depth as f64)).ln())
        }
        Measure::WuPalmer => {
            let mut common = Vec::new();
            for_common(a, b, |x, _, _| common.push(x));
            let Some(deepest) = common.iter().map(|&x| tax.min_depth(x)).max() else {
                return Err(no_subsumer());
            };
            common.retain(|&x| tax.min_depth(x) == deepest);
            let subsumer = if common.contains(&a.c) {
                a.c
            } else if common.len() == 1 {
                common[0]
            } else {
                // NLTK sorts tied subsumers by synset name and takes the first.
                common
                    .into_iter()
                    .min_by_key(|&x| tax.nltk_name(x))
                    .unwrap_or(a.c)
            };
            let depth = f64::from(tax.max_depth(subsumer) as u32) + 1.0;
            let us = Upward::new(tax, subsumer);
            let len1 = shortest_path(a, &us).ok_or_else(no_subsumer)?;
            let len2 = shortest_path(b, &us).ok_or_else(no_subsumer)?;
            Ok((2.0 * depth) / ((f64::from(len1) + depth) + (f64::from(len2) + depth)))
        }
        Measure::Resnik => Ok(lcs_ic(need_ic()?, a, b)),
        Measure::Lin => {
            let ic = need_ic()?;
            let (ic1, ic2) = (ic.ic(a.c), ic.ic(b.c));
            let l = lcs_ic(ic, a, b);
            if ic1 + ic2 == 0.0 {
                return Err(undefined(
                    "IC(a) + IC(b) = 0, e.g. both are the root (NLTK raises ZeroDivisionError)",
                ));
            }
            Ok((2.0 * l) / (ic1 + ic2))
        }
        Measure::JiangConrath => {
            if a.c == b.c {
                return Ok(IC_INFINITY);
            }
            let ic = need_ic()?;
            let (ic1, ic2) = (ic.ic(a.c), ic.ic(b.c));
            let l = lcs_ic(ic, a, b);
            if ic1 == 0.0 || ic2 == 0.0 {
                return Ok(0.0);
            }
            let diff = ic1 + ic2 - 2.0 * l;
            if diff == 0.0 {
                return Ok(IC_INFINITY);
            }
            Ok(1.0 / diff)
        }
    }
}
