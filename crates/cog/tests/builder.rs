//! The level builder on a small user taxonomy whose similarities are known in closed form
//! (see `common::synthetic_seen`), plus property tests against pairwise similarities.

mod common;

use hiercog_cog::{
    BuildInputs, ConceptList, Cuts, Error, Filter, IcSource, ImageCounts, InputRef, LevelBuilder,
    LevelParams,
};
use hiercog_taxonomy::{similarity, InformationContent, Measure, Taxonomy};
use proptest::prelude::*;

fn build(
    tax: &Taxonomy,
    params: LevelParams,
    seen: &[String],
    pool: &[String],
    counts: Option<&ImageCounts>,
) -> hiercog_cog::Result<hiercog_cog::Benchmark> {
    let seen = ConceptList::from_names("seen", seen.iter().cloned());
    let pool = ConceptList::from_names("pool", pool.iter().cloned());
    let inputs = BuildInputs {
        taxonomy: tax,
        taxonomy_source: "test".into(),
        seen: &seen,
        pool: &pool,
        counts,
    };
    LevelBuilder::new(params)?.build(&inputs)
}

fn s_group() -> f64 {
    (149f64 / 9.0).ln() / 149f64.ln()
}
fn s_branch() -> f64 {
    (149f64 / 37.0).ln() / 149f64.ln()
}

#[test]
fn generic_preset_cuts_blocks_in_ranking_order_with_closed_form_similarities() {
    let dir = tempfile::tempdir().unwrap();
    let (tax, names) = common::synthetic_taxonomy(dir.path());
    let b = build(
        &tax,
        LevelParams::generic(4, 12),
        &common::synthetic_seen(),
        &names,
        None,
    )
    .unwrap();
    let m = b.manifest();
    let removed: Vec<(&str, usize)> = m
        .filters
        .iter()
        .map(|f| (f.name.as_str(), f.removed))
        .collect();
    assert_eq!(
        removed,
        [
            ("not-in-taxonomy", 0),
            ("seen", 16),
            ("ancestors-of-seen", 8),
            ("pool-leaves", 13)
        ]
    );
    assert_eq!(m.eligible, 112);
    assert_eq!(b.levels().len(), 4);
    assert!(b.levels().iter().all(|l| l.concepts.len() == 12));
    // L1: 12 of the 16 leaves sharing a group with seen leaves, by name; L2 starts with the other 4.
    let l1 = &b.levels()[0].concepts;
    assert!(l1.iter().all(|c| (c.similarity - s_group()).abs() < 1e-12));
    assert_eq!(l1[0].wnid, "a0b0c4");
    assert_eq!(l1[0].nearest_seen, "a0b0c0");
    let l2 = &b.levels()[1].concepts;
    assert!(l2[..4]
        .iter()
        .all(|c| (c.similarity - s_group()).abs() < 1e-12));
    assert!(l2[4..]
        .iter()
        .all(|c| (c.similarity - s_branch()).abs() < 1e-12));
    assert_eq!(l2[4].wnid, "a0b2c0");
    // Whole ranking: similarity descending, then name ascending.
    for w in b.ranking().windows(2) {
        assert!(
            w[0].similarity > w[1].similarity
                || (w[0].similarity == w[1].similarity && w[0].wnid < w[1].wnid)
        );
    }
    // Under a3 nothing is shared but the root (IC 0): S = 0, nearest = first seen listed.
    let last = b.ranking().last().unwrap();
    assert_eq!(
        (last.similarity, last.nearest_seen.as_str()),
        (0.0, "a0b0c0")
    );
    assert!(
        m.notes
            .iter()
            .any(|n| n.contains("64 eligible concepts ranked below")),
        "{:?}",
        m.notes
    );
}

#[test]
fn equal_width_and_threshold_cuts() {
    let dir = tempfile::tempdir().unwrap();
    let (tax, names) = common::synthetic_taxonomy(dir.path());
    let seen = common::synthetic_seen();
    let sizes = |b: &hiercog_cog::Benchmark| {
        b.levels()
            .iter()
            .map(|l| l.concepts.len())
            .collect::<Vec<_>>()
    };
    let b = build(
        &tax,
        LevelParams::generic(1, 1).cuts(Cuts::EqualWidth { levels: 3 }),
        &seen,
        &names,
        None,
    )
    .unwrap();
    assert_eq!(sizes(&b), [16, 64, 32]);
    let b = build(
        &tax,
        LevelParams::generic(1, 1).cuts(Cuts::Thresholds(vec![0.5, 0.1])),
        &seen,
        &names,
        None,
    )
    .unwrap();
    assert_eq!(sizes(&b), [16, 64, 32]);
    // A threshold above every similarity leaves L1 empty: an error, unless allowed.
    let p = LevelParams::generic(1, 1).cuts(Cuts::Thresholds(vec![0.9, 0.5]));
    let err = build(&tax, p.clone(), &seen, &names, None).unwrap_err();
    assert!(
        matches!(&err, Error::EmptyLevel { level, .. } if level == "L1"),
        "{err}"
    );
    let b = build(&tax, p.allow_smaller(true), &seen, &names, None).unwrap();
    assert_eq!(sizes(&b), [0, 16, 96]);
}

#[test]
fn spread_cuts_sample_each_band_of_the_whole_ranking() {
    let dir = tempfile::tempdir().unwrap();
    let (tax, names) = common::synthetic_taxonomy(dir.path());
    let seen = common::synthetic_seen();
    let p = LevelParams::generic(4, 12).cuts(Cuts::Spread {
        levels: 4,
        per_level: 12,
    });
    let b = build(&tax, p, &seen, &names, None).unwrap();
    // 112 eligible: bands of 28 ranks; ranks start + floor(j * 28 / 12) for j in 0..12.
    let offsets = [0, 2, 4, 7, 9, 11, 14, 16, 18, 21, 23, 25];
    for (i, lv) in b.levels().iter().enumerate() {
        let want: Vec<&str> = offsets
            .iter()
            .map(|o| b.ranking()[28 * i + o].wnid.as_str())
            .collect();
        let got: Vec<&str> = lv.concepts.iter().map(|c| c.wnid.as_str()).collect();
        assert_eq!(got, want, "level {}", lv.name);
    }
    // With exactly K x M eligible, spread and blocks agree.
    let p = |c| LevelParams::generic(4, 28).cuts(c);
    let a = build(
        &tax,
        p(Cuts::Spread {
            levels: 4,
            per_level: 28,
        }),
        &seen,
        &names,
        None,
    )
    .unwrap();
    let c = build(
        &tax,
        p(Cuts::Blocks {
            levels: 4,
            per_level: 28,
        }),
        &seen,
        &names,
        None,
    )
    .unwrap();
    assert_eq!(a.levels(), c.levels());
}

#[test]
fn too_few_eligible_is_an_error_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let (tax, names) = common::synthetic_taxonomy(dir.path());
    let seen = common::synthetic_seen();
    let err = build(&tax, LevelParams::generic(5, 30), &seen, &names, None).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            Error::TooFewEligible {
                eligible: 112,
                wanted: 150,
                ..
            }
        ),
        "{msg}"
    );
    assert!(msg.contains("`allow_smaller`"), "{msg}");
    let b = build(
        &tax,
        LevelParams::generic(5, 30).allow_smaller(true),
        &seen,
        &names,
        None,
    )
    .unwrap();
    assert!(b.levels().iter().all(|l| l.concepts.len() == 22));
    assert!(b
        .manifest()
        .notes
        .iter()
        .any(|n| n.contains("allow-smaller")));
}

#[test]
fn unknown_names_fail_with_examples_or_are_skipped_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (tax, mut names) = common::synthetic_taxonomy(dir.path());
    names.extend(["zebra".to_string(), "yak".to_string()]);
    let seen = common::synthetic_seen();
    let err = build(&tax, LevelParams::generic(4, 12), &seen, &names, None).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("2 pool concepts are not in the taxonomy") && msg.contains("zebra, yak"),
        "{msg}"
    );
    assert!(msg.contains("`skip_unknown`"), "{msg}");
    let b = build(
        &tax,
        LevelParams::generic(4, 12).skip_unknown(true),
        &seen,
        &names,
        None,
    )
    .unwrap();
    let f = &b.manifest().filters[0];
    assert_eq!(
        (f.name.as_str(), f.removed, f.examples.clone()),
        ("not-in-taxonomy", 2, vec!["zebra".into(), "yak".into()])
    );
    assert!(b
        .removed()
        .iter()
        .any(|r| r.wnid == "yak" && r.filter == "not-in-taxonomy"));
    let mut bad_seen = seen.clone();
    bad_seen.push("ghost".into());
    let err = build(
        &tax,
        LevelParams::generic(4, 12),
        &bad_seen,
        &names[..149],
        None,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("1 seen concepts are not in the taxonomy, e.g. ghost"),
        "{err}"
    );
    let b = build(
        &tax,
        LevelParams::generic(4, 12).skip_unknown(true),
        &bad_seen,
        &names[..149],
        None,
    )
    .unwrap();
    assert_eq!(b.manifest().unknown_seen, ["ghost"]);
}

#[test]
fn min_images_needs_counts_and_drops_small_concepts() {
    let dir = tempfile::tempdir().unwrap();
    let (tax, names) = common::synthetic_taxonomy(dir.path());
    let seen = common::synthetic_seen();
    let filters = vec![
        Filter::Seen,
        Filter::AncestorsOfSeen,
        Filter::PoolLeaves,
        Filter::MinImages { min: 10 },
    ];
    let p = LevelParams::generic(2, 10).filters(filters);
    let b = build(&tax, p.clone(), &seen, &names, None).unwrap();
    let step = b.manifest().filters.last().unwrap();
    assert_eq!(
        (step.removed, step.note.as_deref()),
        (0, Some("skipped: no image counts were given"))
    );
    // Leaves c0..c3 get 20 images, c4..c7 get 5; a3 leaves have no entry (0 images).
    let counts: Vec<(String, u64)> = names
        .iter()
        .filter(|n| n.len() == 6 && !n.starts_with("a3"))
        .map(|n| {
            (
                n.clone(),
                if n.ends_with(['0', '1', '2', '3']) {
                    20
                } else {
                    5
                },
            )
        })
        .collect();
    let counts = ImageCounts::new(InputRef::new("counts", b"", counts.len()), counts);
    let b = build(&tax, p, &seen, &names, Some(&counts)).unwrap();
    let step = b.manifest().filters.last().unwrap();
    // Removed: c4..c7 everywhere (5 images; 16 + 32) and the 32 leaves of a3 (no entry).
    assert_eq!(step.removed, 80);
    assert!(b.ranking().iter().all(|c| counts.get(&c.wnid) >= 10));
    assert_eq!(b.manifest().eligible, 32);
}

#[test]
fn descendant_subtree_and_list_filters() {
    let dir = tempfile::tempdir().unwrap();
    let (tax, names) = common::synthetic_taxonomy(dir.path());
    // Seen = a group node: its leaves are descendants.
    let seen = vec!["a1b1".to_string()];
    let base = vec![Filter::Seen, Filter::AncestorsOfSeen, Filter::PoolLeaves];
    let removed = |filters: Vec<Filter>| {
        let b = build(
            &tax,
            LevelParams::generic(1, 1).filters(filters),
            &seen,
            &names,
            None,
        )
        .unwrap();
        (
            b.manifest().filters.last().unwrap().removed,
            b.manifest().eligible,
        )
    };
    // Non-leaves left after seen (a1b1) and its ancestors (a1, root): a0, a2, a3 and 15 groups.
    assert_eq!(removed(base.clone()), (18, 128));
    let mut f = base.clone();
    f.push(Filter::DescendantsOfSeen);
    assert_eq!(removed(f), (8, 120));
    let mut f = base.clone();
    f.push(Filter::Subtree { root: "a3".into() });
    assert_eq!(removed(f), (32, 96));
    let mut f = base;
    f.push(Filter::List {
        source: "x".into(),
        names: vec!["a0b0c0".into(), "nothing".into()],
    });
    let b = build(
        &tax,
        LevelParams::generic(1, 1).filters(f),
        &seen,
        &names,
        None,
    )
    .unwrap();
    let step = b.manifest().filters.last().unwrap();
    assert_eq!(
        (step.removed, step.note.as_deref()),
        (1, Some("1 listed names are not in the taxonomy"))
    );
    let err = build(
        &tax,
        LevelParams::generic(1, 1).filters(vec![Filter::Subtree {
            root: "nope".into(),
        }]),
        &seen,
        &names,
        None,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("subtree root is not in the taxonomy, e.g. nope"),
        "{err}"
    );
}

#[test]
fn invalid_parameters_are_rejected_before_building() {
    for p in [
        LevelParams::generic(0, 10),
        LevelParams::generic(3, 0),
        LevelParams::generic(1, 1).cuts(Cuts::EqualWidth { levels: 0 }),
        LevelParams::generic(1, 1).cuts(Cuts::Thresholds(vec![0.2, 0.5])),
        LevelParams::generic(1, 1).cuts(Cuts::Thresholds(vec![f64::NAN])),
        LevelParams::generic(1, 1).cuts(Cuts::Thresholds(vec![])),
    ] {
        assert!(matches!(LevelBuilder::new(p), Err(Error::InvalidParam(_))));
    }
}

#[test]
fn other_measures_and_ic_sources() {
    let dir = tempfile::tempdir().unwrap();
    let (tax, names) = common::synthetic_taxonomy(dir.path());
    let seen = common::synthetic_seen();
    let b = build(
        &tax,
        LevelParams::generic(4, 12).measure(Measure::WuPalmer),
        &seen,
        &names,
        None,
    )
    .unwrap();
    assert_eq!(b.manifest().params["ic"], "unused");
    assert_eq!(b.manifest().params["measure"], "wup");
    // Wu-Palmer of two leaves under the same group: 2*depth(group)/(2*depth(leaf)) with NLTK's +1: 2*3/(4+4) = 0.75.
    assert!((b.levels()[0].concepts[0].similarity - 0.75).abs() < 1e-12);
    let b = build(
        &tax,
        LevelParams::generic(4, 12).ic(IcSource::Intrinsic),
        &seen,
        &names,
        None,
    )
    .unwrap();
    assert_eq!(b.manifest().params["ic"], "intrinsic");
    let err = build(
        &tax,
        LevelParams::generic(4, 12).ic(IcSource::ImageCounts),
        &seen,
        &names,
        None,
    )
    .unwrap_err();
    assert!(matches!(err, Error::CountsNeededForIc));
}

/// A random forest-free taxonomy: node i > 0 gets a parent among 0..i (and sometimes a second one).
fn random_taxonomy(
    dir: &std::path::Path,
    parents: &[(usize, Option<usize>)],
) -> (Taxonomy, Vec<String>) {
    let mut edges = String::new();
    for (i, (p, q)) in parents.iter().enumerate() {
        let child = i + 1;
        edges.push_str(&format!("n{}\tn{child}\n", p % child));
        if let Some(q) = q {
            if q % child != p % child {
                edges.push_str(&format!("n{}\tn{child}\n", q % child));
            }
        }
    }
    let path = dir.join("isa.tsv");
    std::fs::write(&path, edges).unwrap();
    let names = (0..=parents.len()).map(|i| format!("n{i}")).collect();
    (Taxonomy::from_isa_file(&path).unwrap(), names)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Levels hold no seen concept, no ancestor of one and no ancestor of each other; each level is
    /// sorted; every similarity equals the pairwise maximum computed by `similarity`.
    #[test]
    fn levels_satisfy_the_filter_invariants(
        parents in prop::collection::vec((0usize..1000, prop::option::weighted(0.2, 0usize..1000)), 20..80),
        seen_picks in prop::collection::vec(0usize..1000, 1..8),
        k in 1usize..4,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (tax, names) = random_taxonomy(dir.path(), &parents);
        let seen: Vec<String> = seen_picks.iter().map(|i| names[i % names.len()].clone()).collect();
        let p = LevelParams::generic(k, 1).cuts(Cuts::Blocks { levels: k, per_level: 2 }).allow_smaller(true);
        let b = match build(&tax, p, &seen, &names, None) {
            Ok(b) => b,
            Err(Error::TooFewEligible { .. } | Error::NothingEligible) => return Ok(()),
            Err(e) => panic!("{e}"),
        };
        let seen_ids: Vec<_> = seen.iter().map(|s| tax.id(s).unwrap()).collect();
        let pool: Vec<_> = names.iter().map(|s| tax.id(s).unwrap()).collect();
        let ic = InformationContent::subtree_members(&tax, &pool).unwrap();
        let level_ids: Vec<_> = b.levels().iter().flat_map(|l| l.concepts.iter().map(|c| tax.id(&c.wnid).unwrap())).collect();
        for lv in b.levels() {
            for w in lv.concepts.windows(2) {
                prop_assert!(w[0].similarity >= w[1].similarity);
            }
            for c in &lv.concepts {
                let id = tax.id(&c.wnid).unwrap();
                for &s in &seen_ids {
                    prop_assert!(!tax.is_ancestor(id, s), "{} is seen or above a seen concept", c.wnid);
                }
                for &o in &level_ids {
                    prop_assert!(o == id || !tax.is_ancestor(id, o), "{} is above another level concept", c.wnid);
                }
                let best = seen_ids.iter().map(|&s| similarity(&tax, Some(&ic), Measure::Lin, id, s).unwrap()).fold(f64::MIN, f64::max);
                prop_assert!((best - c.similarity).abs() < 1e-12, "{}: {} vs pairwise {}", c.wnid, c.similarity, best);
                let nearest = tax.id(&c.nearest_seen).unwrap();
                let at_nearest = similarity(&tax, Some(&ic), Measure::Lin, id, nearest).unwrap();
                prop_assert!((at_nearest - c.similarity).abs() < 1e-12);
            }
        }
    }
}
