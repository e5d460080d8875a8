//! Hierarchical average precision (H-AP; Ramzi et al., "Hierarchical Average Precision Training
//! for Pertinent Image Retrieval", ECCV 2022) with the relevances of the authors' code
//! (elias-ramzi/HAPPIER and SupRank: `get_relevances_pop`, `hap`).
//!
//! Labels carry `L` hierarchy levels; an item *shares* `l ∈ 0..=L` levels with a query (`L`: same
//! class, 0: nothing in common). The authors' "pop" relevance of an item sharing `l` levels is
//!
//! ```text
//! rel(l) = w(l) / |{items of the ranked set sharing exactly l levels with the query}|,
//! w(l) = (l / (L − 1))^α    (α = 1 by default; w(0) = 0)
//! ```
//!
//! so that each level carries a total relevance w(l), however many items it has. Then
//!
//! ```text
//! H-rank(k) = rel(k) + Σ_{j ranked before k} min(rel(k), rel(j)),
//! H-AP = Σ_k H-rank(k) / rank(k)  /  Σ_k rel(k).
//! ```
//!
//! Two notes on matching the authors' code:
//! - their `hap` counts the items before `k` by comparing relevance *values* with each level's
//!   value, so two levels that happen to get equal values are counted twice; hiercog sums over the
//!   ranked items as the formula above says (the two agree whenever the levels' values differ);
//! - their dataset code counts the population of a level over the whole evaluation set, the query
//!   itself included, even when the ranking leaves the query out; hiercog counts over what is
//!   ranked (the query excluded in leave-one-out evaluation).
//!
//! For `L = 1` (a flat label set) their weight divides by zero; hiercog takes w(1) = 1, and H-AP
//! equals AP there. A [`ClassHierarchy`] holds the levels shared by every pair of classes; from a
//! [`Taxonomy`] it is derived from the depth of the classes' lowest common ancestor (see
//! [`ClassHierarchy::from_taxonomy`]).

use hiercog_taxonomy::{distance_matrix, ConceptId, DistanceConvention, DistanceMatrix, Taxonomy};

use crate::error::{Error, Result};

/// How many hierarchy levels each pair of classes shares (the authors' label matrix, per class).
#[derive(Clone, Debug, PartialEq)]
pub struct ClassHierarchy {
    classes: usize,
    levels: u32,
    shared: Vec<u32>,
}

impl ClassHierarchy {
    /// `shared` is a row-major `classes × classes` matrix of shared levels: symmetric, `levels`
    /// on the diagonal and fewer off it.
    pub fn new(classes: usize, levels: u32, shared: Vec<u32>) -> Result<Self> {
        if levels == 0 {
            return Err(Error::Hierarchy(
                "a hierarchy needs at least one level (the class itself)".into(),
            ));
        }
        if shared.len() != classes * classes {
            return Err(Error::Hierarchy(format!(
                "{} shared-level values for {classes} classes (need {})",
                shared.len(),
                classes * classes
            )));
        }
        for a in 0..classes {
            for b in 0..classes {
                let s = shared[a * classes + b];
                let problem = if a == b && s != levels {
                    "a class shares every level with itself"
                } else if a != b && s >= levels {
                    "two different classes share fewer levels than the hierarchy has"
                } else if s != shared[b * classes + a] {
                    "the matrix must be symmetric"
                } else {
                    continue;
                };
                return Err(Error::Hierarchy(format!(
                    "classes {a} and {b} share {s} of {levels} levels: {problem}"
                )));
            }
        }
        Ok(ClassHierarchy {
            classes,
            levels,
            shared,
        })
    }

    /// The levels shared by `classes` (concepts of `tax`, one per class, all distinct), from the
    /// taxonomy's depths. Pad every class down to the deepest one (depth `D`, the convention of
    /// making-better-mistakes' distance files) and count the depths `1..=D` below the deepest
    /// ancestor common to all classes as levels: a pair shares as many levels as its lowest common
    /// ancestor lies below that common root (a class shares all `L` with itself, two classes meeting
    /// only at the common root share 0). When the classes have no common ancestor, a virtual root
    /// sits above the taxonomy's roots. For a two-level label tree (class, super-class, then a
    /// root) this gives the authors' SOP levels; for iNaturalist's 7 ranks under one root, theirs.
    pub fn from_taxonomy(tax: &Taxonomy, classes: &[ConceptId]) -> Result<Self> {
        let dist = distance_matrix(tax, classes, DistanceConvention::PaddedLcaHeight)
            .map_err(Error::Taxonomy)?;
        let c = classes.len();
        for a in 0..c {
            for b in a + 1..c {
                if classes[a] == classes[b] {
                    return Err(Error::Hierarchy(format!(
                        "classes {a} and {b} are the same concept {}: merge them first",
                        tax.name(classes[a])
                    )));
                }
            }
        }
        let deepest = classes.iter().map(|&x| tax.max_depth(x)).max().unwrap_or(0) as u32;
        let disconnected = dist.values().iter().any(|d| !d.is_finite());
        // L: the padded distance across the common root, which is the largest one.
        let levels = if disconnected {
            deepest + 1
        } else {
            (dist.max() as u32).max(1)
        };
        ClassHierarchy::from_distance_levels(&dist, levels)
    }

    /// The levels shared by the classes of a distance matrix in LCA heights
    /// ([`DistanceConvention::LcaHeight`] or [`DistanceConvention::PaddedLcaHeight`], e.g. the
    /// class distances of a benchmark's hierarchical metrics, measured in one hierarchy for all its
    /// datasets): `L` = the largest finite distance (one more when some pair has no common
    /// ancestor), and a pair at distance `d` shares `L − d` levels (none without a common
    /// ancestor). Fails on a distance that is not a whole number, or 0 between two classes.
    pub fn from_distances(dist: &DistanceMatrix) -> Result<Self> {
        let disconnected = dist.values().iter().any(|d| !d.is_finite());
        let levels = (dist.max() as u32 + u32::from(disconnected)).max(1);
        ClassHierarchy::from_distance_levels(dist, levels)
    }

    /// Shared levels `levels − d` (0 for an infinite `d`), checked by [`ClassHierarchy::new`].
    fn from_distance_levels(dist: &DistanceMatrix, levels: u32) -> Result<Self> {
        let c = dist.len();
        if let Some(i) = (0..c * c).find(|&i| {
            let d = dist.get(i / c, i % c);
            d.is_finite() && (d.fract() != 0.0 || d > f64::from(levels))
        }) {
            return Err(Error::Hierarchy(format!(
                "classes {} and {} are {} apart: class distances must be whole LCA heights of \
                 at most {levels}",
                i / c,
                i % c,
                dist.get(i / c, i % c)
            )));
        }
        let shared = dist
            .values()
            .iter()
            .map(|&d| if d.is_finite() { levels - d as u32 } else { 0 })
            .collect();
        ClassHierarchy::new(c, levels, shared)
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }
    /// Number of levels `L`.
    pub fn levels(&self) -> u32 {
        self.levels
    }
    /// Levels shared by classes `a` and `b`.
    pub fn shared(&self, a: u32, b: u32) -> u32 {
        self.shared[a as usize * self.classes + b as usize]
    }
}

/// The authors' level weight w(l) = (l / (L − 1))^α; w(1) = 1 when `L = 1`.
fn level_weight(l: u32, levels: u32, alpha: f64) -> f64 {
    if levels == 1 {
        return f64::from(l);
    }
    (f64::from(l) / f64::from(levels - 1)).powf(alpha)
}

/// The "pop" relevance of each level (`get_relevances_pop`): `counts[l]` items of the ranked set
/// share `l` levels with the query (`counts.len() = L + 1`); a level without items gets 0.
pub fn pop_relevances(counts: &[usize], alpha: f64) -> Vec<f64> {
    let levels = counts.len().saturating_sub(1) as u32;
    counts
        .iter()
        .enumerate()
        .map(|(l, &n)| {
            if n == 0 {
                0.0
            } else {
                level_weight(l as u32, levels, alpha) / n as f64
            }
        })
        .collect()
}

/// H-AP of one ranking: `ranked_levels[k]` = levels shared by the item at rank `k + 1`,
/// `relevance[l]` = relevance of an item sharing `l` levels. O(n·L). Returns `None` when
/// nothing ranked is relevant.
pub fn hierarchical_average_precision(ranked_levels: &[u32], relevance: &[f64]) -> Option<f64> {
    let mut seen = vec![0u64; relevance.len()];
    let (mut total, mut sum) = (0.0f64, 0.0f64);
    for (k, &l) in ranked_levels.iter().enumerate() {
        let rel = relevance[l as usize];
        seen[l as usize] += 1;
        if rel > 0.0 {
            let h_rank: f64 = seen
                .iter()
                .zip(relevance)
                .map(|(&n, &r)| n as f64 * r.min(rel))
                .sum();
            sum += h_rank / (k + 1) as f64;
            total += rel;
        }
    }
    (total > 0.0).then(|| sum / total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The formula term by term, O(n²).
    fn brute_force_hap(ranked_rel: &[f64]) -> f64 {
        let mut num = 0.0;
        for k in 0..ranked_rel.len() {
            let h: f64 = ranked_rel[k]
                + (0..k)
                    .map(|j| ranked_rel[k].min(ranked_rel[j]))
                    .sum::<f64>();
            num += h / (k + 1) as f64;
        }
        num / ranked_rel.iter().sum::<f64>()
    }

    #[test]
    fn hand_computed_cases() {
        // L = 2 (SOP-like). Ranked: sibling (1 level), same class (2), stranger (0), same class.
        // Populations: level 2 has 2 items, level 1 one, level 0 one → rel = [0, 1/1, 2/2] = [0, 1, 1]
        // (w = l/(L−1) = [0, 1, 2]).
        let counts = [1, 1, 2];
        let rel = pop_relevances(&counts, 1.0);
        assert_eq!(rel, vec![0.0, 1.0, 1.0]);
        // H-ranks: 1, 2, 0, 3 → (1/1 + 2/2 + 3/4) / 3 = 2.75 / 3.
        let hap = hierarchical_average_precision(&[1, 2, 0, 2], &rel).unwrap();
        assert!((hap - 2.75 / 3.0).abs() < 1e-15, "{hap}");
        // L = 3 with unequal values: same class (rel 1.5/1), two of level 1 (0.5/2 each).
        let rel = pop_relevances(&[3, 2, 0, 1], 1.0);
        assert_eq!(rel, vec![0.0, 0.25, 0.0, 1.5]);
        // Ranking: L1, L3, L1. H-ranks: .25, 1.5 + .25, .25·3 → (.25 + 1.75/2 + .75/3) / 2.
        let hap = hierarchical_average_precision(&[1, 3, 1], &rel).unwrap();
        assert!((hap - (0.25 + 0.875 + 0.25) / 2.0).abs() < 1e-15, "{hap}");
        // A perfect ranking scores 1; nothing relevant gives None.
        assert!((hierarchical_average_precision(&[3, 1, 1], &rel).unwrap() - 1.0).abs() < 1e-15);
        assert_eq!(hierarchical_average_precision(&[0, 0], &rel), None);
    }

    #[test]
    fn flat_hierarchy_gives_plain_ap() {
        let rel = pop_relevances(&[3, 2], 1.0);
        // Relevant at ranks 2 and 4: AP = (1/2 + 2/4) / 2.
        let hap = hierarchical_average_precision(&[0, 1, 0, 1, 0], &rel).unwrap();
        assert!((hap - 0.5).abs() < 1e-15);
    }

    proptest! {
        #[test]
        fn equals_brute_force(levels in 1u32..6, ranked in prop::collection::vec(0u32..6, 1..60),
                              alpha in 0.5f64..2.0) {
            let ranked: Vec<u32> = ranked.into_iter().map(|l| l.min(levels)).collect();
            let mut counts = vec![0usize; levels as usize + 1];
            for &l in &ranked { counts[l as usize] += 1; }
            let rel = pop_relevances(&counts, alpha);
            let ranked_rel: Vec<f64> = ranked.iter().map(|&l| rel[l as usize]).collect();
            match hierarchical_average_precision(&ranked, &rel) {
                Some(h) => {
                    let b = brute_force_hap(&ranked_rel);
                    prop_assert!((h - b).abs() < 1e-12, "{h} vs {b}");
                    prop_assert!(h > 0.0 && h <= 1.0 + 1e-12);
                }
                None => prop_assert!(ranked_rel.iter().all(|&r| r == 0.0)),
            }
        }
    }

    /// The hierarchy of `names` in the taxonomy of is-a lines `isa`.
    fn from_isa(isa: &str, names: &[&str]) -> Result<ClassHierarchy> {
        let tax = Taxonomy::from_isa_str(isa, std::path::Path::new("test")).unwrap();
        let ids: Vec<_> = names.iter().map(|n| tax.id(n).unwrap()).collect();
        ClassHierarchy::from_taxonomy(&tax, &ids)
    }

    #[test]
    fn shared_levels_from_an_isa_tree() {
        // root → {animal, tool}; animal → {dog, cat}; dog → {poodle}; tool → {hammer}.
        let tree = "animal\tdog\nanimal\tcat\ndog\tpoodle\ntool\thammer\n";
        let names = ["poodle", "cat", "hammer"];
        let h = from_isa(&format!("root\tanimal\nroot\ttool\n{tree}"), &names).unwrap();
        // Padded to depth 3: poodle/cat meet at animal (depth 1), anything/hammer at the root.
        assert_eq!(h.levels(), 3);
        assert_eq!(h.shared(0, 1), 1);
        assert_eq!(h.shared(0, 2), 0);
        assert_eq!(h.shared(1, 1), 3);
        // Without the common root (animal and tool as roots): a virtual root above them.
        assert_eq!(from_isa(tree, &names).unwrap(), h);
        let e = from_isa(tree, &["cat", "cat"]).unwrap_err();
        assert!(e.to_string().contains("same concept"), "{e}");
        // The LCA heights of the same classes (the probe's class distances) give the same levels.
        let tax =
            Taxonomy::from_isa_str(&format!("root\tanimal\nroot\ttool\n{tree}"), "t".as_ref())
                .unwrap();
        let ids: Vec<_> = names.iter().map(|n| tax.id(n).unwrap()).collect();
        let heights = distance_matrix(&tax, &ids, DistanceConvention::LcaHeight).unwrap();
        assert_eq!(ClassHierarchy::from_distances(&heights).unwrap(), h);
        let half = DistanceMatrix::from_values(vec![0.0, 1.5, 1.5, 0.0], 2).unwrap();
        let e = ClassHierarchy::from_distances(&half).unwrap_err();
        assert!(e.to_string().contains("whole LCA heights"), "{e}");
    }

    #[test]
    fn inconsistent_matrices_are_refused() {
        assert!(ClassHierarchy::new(2, 2, vec![2, 1, 1, 2]).is_ok());
        for bad in [vec![2, 1, 0, 2], vec![2, 2, 2, 2], vec![1, 0, 0, 2]] {
            assert!(ClassHierarchy::new(2, 2, bad).is_err());
        }
    }
}
