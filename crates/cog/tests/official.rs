//! Import of pickles in the official files' shapes (written by `fixtures/make_fixtures.py` with
//! Python's pickle and numpy) and `compare` against scipy / set arithmetic references.

mod common;

use hiercog_cog::{
    compare, import_official, load_benchmark, read_official_levels, spearman, BuildInputs,
    ConceptList, Error, LevelParams, Split, WriteOptions,
};
use hiercog_taxonomy::Taxonomy;

/// The 20 concepts the fixture script picked: ranks floor(j (n-1) / 19) of the reference ranking.
fn reference_picks() -> Vec<String> {
    let text = std::fs::read_to_string(common::fixture("imagenet_cog_ranking.tsv")).unwrap();
    let rows: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    let n = rows.len();
    (0..20)
        .map(|j| rows[j * (n - 1) / 19].to_string())
        .collect()
}

fn import(
    levels: &str,
    splits: Option<&str>,
) -> hiercog_cog::Result<(hiercog_cog::Benchmark, Option<hiercog_cog::OfficialSplits>)> {
    let tax = Taxonomy::wordnet().unwrap();
    let (seen, pool) = (ConceptList::imagenet1k(), ConceptList::imagenet21k());
    let inputs = BuildInputs {
        taxonomy: &tax,
        taxonomy_source: "builtin".into(),
        seen: &seen,
        pool: &pool,
        counts: None,
    };
    let splits = splits.map(common::fixture);
    import_official(
        &common::fixture(levels),
        splits.as_deref(),
        &inputs,
        &LevelParams::imagenet_cog(),
    )
}

#[test]
fn list_and_dict_level_files_read_the_same() {
    let a = read_official_levels(&common::fixture("official_levels_list.pkl")).unwrap();
    let b = read_official_levels(&common::fixture("official_levels_dict.pkl")).unwrap();
    assert_eq!(a, b);
    let picks = reference_picks();
    assert_eq!(a.iter().flatten().cloned().collect::<Vec<_>>(), picks);
}

#[test]
fn import_scores_concepts_and_writes_the_official_splits() {
    let (bench, splits) = import("official_levels_list.pkl", Some("official_splits.pkl")).unwrap();
    let reference = std::fs::read_to_string(common::fixture("imagenet_cog_ranking.tsv")).unwrap();
    let sim: std::collections::HashMap<&str, f64> = reference
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0], f[1].parse().unwrap())
        })
        .collect();
    assert_eq!(bench.levels().len(), 5);
    for lv in bench.levels() {
        assert_eq!(lv.concepts.len(), 4);
        for c in &lv.concepts {
            assert!(
                (c.similarity - sim[c.wnid.as_str()]).abs() < 1e-12,
                "{}",
                c.wnid
            );
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("official");
    let splits = splits.unwrap().with_images_root("/data/in21k");
    bench
        .write(
            &out,
            &WriteOptions {
                force: false,
                no_plots: true,
            },
            Some(&splits),
            |_, _, _| {},
        )
        .unwrap();
    let back = load_benchmark(&out).unwrap();
    assert_eq!(back.manifest().kind, "imported");
    let train = back.split_files("L2", Split::Train).unwrap();
    let test = back.split_files("L2", Split::Test).unwrap();
    assert_eq!(test.len(), 8, "2 test images per concept");
    let first = &back.level("L2").unwrap().sorted_wnids()[0].to_string();
    let t0 = &train[0];
    assert_eq!(
        t0.path,
        std::path::Path::new("/data/in21k")
            .join(first)
            .join(format!("{first}_0.JPEG")),
        "leading / stripped"
    );
    assert_eq!((t0.label, t0.wnid.as_str()), (0, first.as_str()));
    let per_level = &back.manifest().splits.as_ref().unwrap().per_level;
    assert_eq!(per_level[1].train, train.len());
}

#[test]
fn compare_matches_the_reference_overlaps_and_scipy_spearman() {
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::fixture("compare_reference.json")).unwrap(),
    )
    .unwrap();
    let (a, _) = import("official_levels_dict.pkl", None).unwrap();
    let (b, _) = import("other_levels.pkl", None).unwrap();
    let c = compare(&a, &b);
    for (lc, r) in c.levels.iter().zip(reference["levels"].as_array().unwrap()) {
        assert_eq!(
            lc.common as u64,
            r["common"].as_u64().unwrap(),
            "{}",
            lc.level
        );
        assert!(
            (lc.jaccard - r["jaccard"].as_f64().unwrap()).abs() < 1e-15,
            "{}",
            lc.level
        );
    }
    assert_eq!(c.common as u64, reference["common_all"].as_u64().unwrap());
    // The two moved concepts sit in L1 of one and L2 of the other.
    assert_eq!((c.confusion[0][1], c.confusion[1][0]), (1, 1));
    assert_eq!(c.same_level, c.common - 2);
    // Same taxonomy and IC on both sides: identical similarities, perfect rank agreement.
    assert_eq!(c.spearman, Some(1.0));
    let ex = &reference["spearman_example"];
    let v = |k: &str| {
        ex[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect::<Vec<_>>()
    };
    let rho = spearman(&v("x"), &v("y")).unwrap();
    assert!(
        (rho - ex["rho"].as_f64().unwrap()).abs() < 1e-12,
        "{rho} vs scipy {}",
        ex["rho"]
    );
    let md = c.to_markdown();
    assert!(
        md.contains("Jaccard") && md.contains("13 of the 15 common concepts (86.67%)"),
        "{md}"
    );
}

#[test]
fn bad_official_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    // Not a pickle at all.
    let junk = dir.path().join("junk.pkl");
    std::fs::write(&junk, b"hello").unwrap();
    assert!(matches!(
        read_official_levels(&junk).unwrap_err(),
        Error::Pickle(_)
    ));
    // Truncated pickle.
    let full = std::fs::read(common::fixture("official_levels_list.pkl")).unwrap();
    let cut = dir.path().join("cut.pkl");
    std::fs::write(&cut, &full[..full.len() / 2]).unwrap();
    assert!(matches!(
        read_official_levels(&cut).unwrap_err(),
        Error::Pickle(_)
    ));
    // A pickle of the wrong shape: the split file given as the level file.
    let err = read_official_levels(&common::fixture("official_splits.pkl")).unwrap_err();
    assert!(matches!(err, Error::OfficialShape { .. }), "{err}");
    assert!(err.to_string().contains("level key"), "{err}");
    // Missing file.
    assert!(matches!(
        read_official_levels(&dir.path().join("none.pkl")).unwrap_err(),
        Error::Pickle(_) | Error::Read { .. }
    ));
    // A level file whose concepts are missing from the split file.
    let (bench, _) = import("other_levels.pkl", None).unwrap();
    let splits =
        hiercog_cog::OfficialSplits::read(&common::fixture("official_splits.pkl")).unwrap();
    let out = dir.path().join("x");
    let err = bench
        .write(
            &out,
            &WriteOptions {
                force: false,
                no_plots: true,
            },
            Some(&splits),
            |_, _, _| {},
        )
        .unwrap_err();
    assert!(matches!(err, Error::MissingSplit { .. }), "{err}");
    assert!(!out.exists());
}
