//! The shipped concept list and the default seen/unseen split over it.

use std::collections::HashMap;

use hiercog_taxonomy::{ConceptId, Taxonomy};

use crate::factors::resolve;
use crate::Result;

static CONCEPTS_TXT: &str = include_str!("../data/concepts.txt");

/// The shipped concepts (`data/concepts.txt`): 152 WordNet noun wnids, all ImageNet-1K classes, in
/// 22 sibling groups of 3 to 12 (some nested: retrievers, setters and spaniels under sporting dogs)
/// under animal, artifact and food.
pub fn default_concepts() -> Vec<String> {
    hiercog_io::content_lines(CONCEPTS_TXT)
        .map(|(_, wnid)| wnid.to_string())
        .collect()
}

/// Proposes the seen concepts so that the unseen rest lies at several semantic distances from them:
/// - the smallest subtree directly below the set's common ancestor (for the default list: food) is
///   left entirely unseen: far from everything seen;
/// - the other concepts are put in sibling groups (by their deepest ancestor shared with another
///   listed concept); every third group (by ancestor name) is left unseen: their cousins are seen;
/// - in the remaining groups every other member (by wnid) is seen: their unseen siblings are close.
///
/// Deterministic (no randomness); returns wnids in the order of `concepts`.
pub fn default_seen(tax: &Taxonomy, concepts: &[String]) -> Result<Vec<String>> {
    let ids = resolve(tax, concepts)?;
    let paths: Vec<Vec<ConceptId>> = ids
        .iter()
        .map(|&c| tax.hypernym_paths(c).swap_remove(0))
        .collect();
    // Depth of the deepest node shared by every first path.
    let common = (0..)
        .take_while(|&d| paths.iter().all(|p| p.len() > d && p[d] == paths[0][d]))
        .count();
    // Held-out subtree: the smallest child (on the paths) of the common ancestor, if it is a minority.
    let mut by_child: HashMap<ConceptId, Vec<usize>> = HashMap::new();
    for (i, p) in paths.iter().enumerate() {
        by_child
            .entry(p[common.min(p.len() - 1)])
            .or_default()
            .push(i);
    }
    let mut children: Vec<(ConceptId, Vec<usize>)> = by_child.into_iter().collect();
    children.sort_by_key(|(c, members)| (members.len(), tax.name(*c).to_string()));
    let held_out: Vec<usize> = match children.first() {
        Some((_, m)) if children.len() > 1 && 2 * m.len() < ids.len() => m.clone(),
        _ => Vec::new(),
    };

    // Sibling groups of the rest, keyed by the deepest ancestor shared with another listed concept.
    let rest: Vec<usize> = (0..ids.len()).filter(|i| !held_out.contains(i)).collect();
    let mut groups: HashMap<ConceptId, Vec<usize>> = HashMap::new();
    for &i in &rest {
        let shared_depth = rest
            .iter()
            .filter(|&&j| j != i)
            .map(|&j| {
                paths[i]
                    .iter()
                    .zip(&paths[j])
                    .take_while(|(a, b)| a == b)
                    .count()
            })
            .max()
            .unwrap_or(1);
        let key = paths[i][shared_depth.max(1) - 1];
        groups.entry(key).or_default().push(i);
    }
    let mut groups: Vec<(ConceptId, Vec<usize>)> = groups.into_iter().collect();
    groups.sort_by_key(|(c, _)| tax.name(*c).to_string());
    let mut seen = vec![false; ids.len()];
    for (gi, (_, members)) in groups.iter_mut().enumerate() {
        if gi % 3 == 2 {
            continue;
        }
        members.sort_by_key(|&i| concepts[i].clone());
        for &i in members.iter().step_by(2) {
            seen[i] = true;
        }
    }
    Ok(concepts
        .iter()
        .zip(&seen)
        .filter(|(_, &s)| s)
        .map(|(w, _)| w.clone())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_list_is_well_formed() {
        let c = default_concepts();
        assert_eq!(c.len(), 152);
        let is_wnid = |w: &str| {
            w.len() == 9 && w.starts_with('n') && w[1..].bytes().all(|b| b.is_ascii_digit())
        };
        assert!(c.iter().all(|w| is_wnid(w)), "{c:?}");
        let mut d = c.clone();
        d.sort();
        d.dedup();
        assert_eq!(d.len(), c.len(), "duplicate wnid in data/concepts.txt");
    }
}
