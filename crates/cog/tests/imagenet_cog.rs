//! The `imagenet-cog` preset on the shipped lists and the embedded WordNet, checked against the
//! NLTK reference of `fixtures/make_fixtures.py` and the invariants spec section 2 states for the
//! official levels.

mod common;

use std::collections::HashSet;

use hiercog_cog::{BuildInputs, ConceptList, LevelBuilder, LevelParams, PERSON_SUBTREE};
use hiercog_taxonomy::Taxonomy;

fn build() -> hiercog_cog::Benchmark {
    let tax = Taxonomy::wordnet().unwrap();
    let (seen, pool) = (ConceptList::imagenet1k(), ConceptList::imagenet21k());
    let inputs = BuildInputs {
        taxonomy: &tax,
        taxonomy_source: "builtin:wordnet-3.0".into(),
        seen: &seen,
        pool: &pool,
        counts: None,
    };
    LevelBuilder::new(LevelParams::imagenet_cog())
        .unwrap()
        .build(&inputs)
        .unwrap()
}

#[test]
fn preset_matches_the_nltk_reference_ranking_and_filter_counts() {
    let b = build();
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::fixture("imagenet_cog_filters.json")).unwrap(),
    )
    .unwrap();
    let m = b.manifest();
    for f in &m.filters {
        match f.name.as_str() {
            "not-in-taxonomy" => assert_eq!(f.removed, 0),
            n if n.starts_with("min-images") => {
                assert_eq!(f.removed, 0);
                assert!(f.note.as_deref().unwrap().contains("no image counts"));
            }
            n => assert_eq!(
                f.removed as u64,
                reference["removed"][n].as_u64().unwrap(),
                "filter {n}"
            ),
        }
    }
    assert_eq!(m.eligible as u64, reference["eligible"].as_u64().unwrap());

    let text = std::fs::read_to_string(common::fixture("imagenet_cog_ranking.tsv")).unwrap();
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip(1)
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(rows.len(), b.ranking().len());
    for (i, (r, c)) in rows.iter().zip(b.ranking()).enumerate() {
        let s: f64 = r[1].parse().unwrap();
        assert!(
            (s - c.similarity).abs() < 1e-12,
            "rank {}: {} {} vs NLTK {} {}",
            i + 1,
            c.wnid,
            c.similarity,
            r[0],
            s
        );
        assert_eq!(
            (c.wnid.as_str(), c.nearest_seen.as_str()),
            (r[0], r[2]),
            "rank {}",
            i + 1
        );
    }
}

#[test]
fn preset_levels_respect_the_official_invariants() {
    let b = build();
    let tax = Taxonomy::wordnet().unwrap();
    assert_eq!(b.levels().len(), 5);
    assert!(b.levels().iter().all(|l| l.concepts.len() == 1000));
    let id = |w: &str| tax.id(w).unwrap();
    let in1k: HashSet<_> = ConceptList::imagenet1k()
        .names()
        .iter()
        .map(|w| id(w))
        .collect();
    let above_in1k: HashSet<_> = in1k.iter().flat_map(|&s| tax.ancestors(s)).collect();
    let person: HashSet<_> = tax.descendants(id(PERSON_SUBTREE)).into_iter().collect();
    let level: HashSet<_> = b
        .levels()
        .iter()
        .flat_map(|l| l.concepts.iter().map(|c| id(&c.wnid)))
        .collect();
    assert_eq!(level.len(), 5000);
    let mut descendants_of_seen = 0;
    for &c in &level {
        let name = tax.name(c);
        assert!(!in1k.contains(&c), "{name} is an IN-1K class");
        assert!(
            !above_in1k.contains(&c),
            "{name} is an ancestor of an IN-1K class"
        );
        assert!(!person.contains(&c), "{name} is in the person subtree");
        let ancestors = tax.ancestors(c);
        assert!(
            ancestors.iter().all(|a| *a == c || !level.contains(a)),
            "{name} is below another level concept"
        );
        descendants_of_seen += usize::from(ancestors.iter().any(|a| in1k.contains(a)));
    }
    // Descendants of IN-1K classes are kept (the official L1 holds hundreds of them).
    assert!(descendants_of_seen > 100, "{descendants_of_seen}");
    // Levels are ordered: every L(i) similarity >= every L(i+1) similarity.
    for w in b.levels().windows(2) {
        assert!(w[0].concepts.last().unwrap().similarity >= w[1].concepts[0].similarity);
    }
}
