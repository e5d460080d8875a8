//! The candidate filters: named, documented, switchable steps, each reporting what it removed.
//!
//! Every filter is a predicate on the taxonomy computed in one O(concepts + edges) pass (closures
//! over the is-a graph), so the whole chain costs milliseconds even on WordNet.

use serde::{Deserialize, Serialize};

use hiercog_taxonomy::{ConceptId, Taxonomy};

use crate::error::{Error, Result};
use crate::inputs::ImageCounts;

/// The person subtree of WordNet (`person, individual, someone, ...`), excluded from ImageNet-CoG.
pub const PERSON_SUBTREE: &str = "n00007846";

/// One filtering step. Steps run in the order given; each sees what the previous ones kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "step")]
pub enum Filter {
    /// Drop the seen concepts themselves: they are not unseen.
    Seen,
    /// Drop every strict ancestor of a seen concept: recognising "dog" is not new for a model
    /// trained on dog breeds.
    AncestorsOfSeen,
    /// Drop every strict descendant of a seen concept. Off in the `imagenet-cog` preset: the
    /// official levels keep hundreds of them in L1.
    DescendantsOfSeen,
    /// Keep only leaves of the pool's hierarchy: drop a pool concept that has another pool concept
    /// anywhere below it. Leaves are judged on the whole pool (after the unknown names are dropped),
    /// not on what earlier steps kept, so the result does not depend on the order of the steps.
    PoolLeaves,
    /// Drop the subtree of `root` (root included), e.g. the person subtree `n00007846`.
    Subtree {
        /// The subtree's top concept; it must be in the taxonomy.
        root: String,
    },
    /// Drop the listed concepts (names missing from the taxonomy are counted in the report's note).
    List {
        /// Where the list came from (file path or label).
        source: String,
        /// The concepts to drop.
        names: Vec<String>,
    },
    /// Drop concepts with fewer than `min` images. Needs image counts; without them the step is
    /// skipped and the report says so (a concept absent from the counts has 0 images).
    MinImages {
        /// Smallest number of images kept.
        min: u64,
    },
}

impl Filter {
    /// Short name used in reports, `removed.tsv` and the CLI.
    pub fn name(&self) -> String {
        match self {
            Filter::Seen => "seen".into(),
            Filter::AncestorsOfSeen => "ancestors-of-seen".into(),
            Filter::DescendantsOfSeen => "descendants-of-seen".into(),
            Filter::PoolLeaves => "pool-leaves".into(),
            Filter::Subtree { root } => format!("subtree:{root}"),
            Filter::List { source, .. } => format!("list:{source}"),
            Filter::MinImages { min } => format!("min-images:{min}"),
        }
    }

    /// One sentence saying what the step removes.
    pub fn description(&self) -> String {
        match self {
            Filter::Seen => "drop the seen concepts".into(),
            Filter::AncestorsOfSeen => "drop every ancestor of a seen concept".into(),
            Filter::DescendantsOfSeen => "drop every descendant of a seen concept".into(),
            Filter::PoolLeaves => {
                "keep only leaves of the pool hierarchy (no other pool concept below)".into()
            }
            Filter::Subtree { root } => format!("drop the subtree of {root} (itself included)"),
            Filter::List { source, names } => {
                format!("drop the {} concepts listed in {source}", names.len())
            }
            Filter::MinImages { min } => format!("drop concepts with fewer than {min} images"),
        }
    }
}

/// What one step did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FilterReport {
    /// [`Filter::name`], or `not-in-taxonomy` for the name resolution that always runs first.
    pub name: String,
    /// [`Filter::description`].
    pub description: String,
    /// Concepts this step removed.
    pub removed: usize,
    /// Candidates left after it.
    pub remaining: usize,
    /// The first few removed names, for the report.
    pub examples: Vec<String>,
    /// Why the step was skipped or anything else worth knowing.
    pub note: Option<String>,
}

/// How many removed names a report lists.
const EXAMPLES: usize = 5;

/// What the filters need to know besides the taxonomy.
pub(crate) struct FilterContext<'a> {
    pub tax: &'a Taxonomy,
    pub seen: &'a [ConceptId],
    pub pool: &'a [ConceptId],
    pub counts: Option<&'a ImageCounts>,
}

/// What [`apply`] returns.
pub(crate) struct Filtered {
    /// The survivors, in input order.
    pub kept: Vec<ConceptId>,
    /// One report per step.
    pub reports: Vec<FilterReport>,
    /// Every removed concept with the name of the step that removed it.
    pub removed: Vec<(ConceptId, String)>,
}

/// Applies `filters` in order to `candidates`.
pub(crate) fn apply(
    ctx: &FilterContext<'_>,
    filters: &[Filter],
    mut candidates: Vec<ConceptId>,
) -> Result<Filtered> {
    let mut reports = Vec::with_capacity(filters.len());
    let mut removed_all = Vec::new();
    for f in filters {
        let (drop, note) = drop_mask(ctx, f)?;
        let name = f.name();
        let mut removed = Vec::new();
        candidates.retain(|&c| {
            let d = drop.as_ref().is_some_and(|m| m[c.index()]);
            if d {
                removed.push(c);
            }
            !d
        });
        reports.push(FilterReport {
            name: name.clone(),
            description: f.description(),
            removed: removed.len(),
            remaining: candidates.len(),
            examples: removed
                .iter()
                .take(EXAMPLES)
                .map(|&c| ctx.tax.name(c).to_string())
                .collect(),
            note,
        });
        removed_all.extend(removed.into_iter().map(|c| (c, name.clone())));
    }
    Ok(Filtered {
        kept: candidates,
        reports,
        removed: removed_all,
    })
}

/// The concepts a step drops, as a per-concept mask (`None` when the step is skipped), and a note.
fn drop_mask(ctx: &FilterContext<'_>, f: &Filter) -> Result<(Option<Vec<bool>>, Option<String>)> {
    let tax = ctx.tax;
    let n = tax.len();
    let mask = |ids: &mut dyn Iterator<Item = ConceptId>| {
        let mut m = vec![false; n];
        ids.for_each(|c| m[c.index()] = true);
        m
    };
    Ok(match f {
        Filter::Seen => (Some(mask(&mut ctx.seen.iter().copied())), None),
        Filter::AncestorsOfSeen => (
            Some(strict_closure(tax, ctx.seen, |t, c| t.parents(c))),
            None,
        ),
        Filter::DescendantsOfSeen => (
            Some(strict_closure(tax, ctx.seen, |t, c| t.children(c))),
            None,
        ),
        Filter::PoolLeaves => (Some(has_member_below(tax, ctx.pool)), None),
        Filter::Subtree { root } => {
            let r = tax.get(root).ok_or_else(|| Error::UnknownConcepts {
                what: "subtree root is",
                count: 1,
                examples: root.clone(),
            })?;
            let mut m = strict_closure(tax, &[r], |t, c| t.children(c));
            m[r.index()] = true;
            (Some(m), None)
        }
        Filter::List { names, .. } => {
            let known: Vec<ConceptId> = names.iter().filter_map(|s| tax.get(s)).collect();
            let missing = names.len() - known.len();
            let note =
                (missing > 0).then(|| format!("{missing} listed names are not in the taxonomy"));
            (Some(mask(&mut known.into_iter())), note)
        }
        Filter::MinImages { min } => match ctx.counts {
            None => (None, Some("skipped: no image counts were given".into())),
            Some(counts) => {
                let m: Vec<bool> = tax.all().map(|c| counts.get(tax.name(c)) < *min).collect();
                (Some(m), None)
            }
        },
    })
}

/// Marks every concept reachable from `starts` by one or more `next` steps (the starts themselves
/// only when reachable from another start).
fn strict_closure<'t>(
    tax: &'t Taxonomy,
    starts: &[ConceptId],
    next: impl Fn(&'t Taxonomy, ConceptId) -> &'t [ConceptId],
) -> Vec<bool> {
    let mut mark = vec![false; tax.len()];
    let mut stack: Vec<ConceptId> = Vec::new();
    for &s in starts {
        stack.extend_from_slice(next(tax, s));
    }
    while let Some(c) = stack.pop() {
        if !std::mem::replace(&mut mark[c.index()], true) {
            stack.extend_from_slice(next(tax, c));
        }
    }
    mark
}

/// Marks every concept with a member of `set` strictly below it, in one pass from the leaves up.
pub(crate) fn has_member_below(tax: &Taxonomy, set: &[ConceptId]) -> Vec<bool> {
    let mut member = vec![false; tax.len()];
    set.iter().for_each(|c| member[c.index()] = true);
    let mut below = vec![false; tax.len()];
    for &c in tax.topological_order().iter().rev() {
        below[c.index()] = tax
            .children(c)
            .iter()
            .any(|k| member[k.index()] || below[k.index()]);
    }
    below
}
