//! Writing and reading benchmark directories: round trip, determinism, splits from an image tree,
//! and atomicity (a failed write leaves nothing behind).

mod common;

use std::path::Path;

use hiercog_cog::{
    count_images, load_benchmark, BuildInputs, ConceptList, Error, Filter, ImageTreeSplits,
    LevelBuilder, LevelParams, Split, SplitParams, WriteOptions,
};
use hiercog_taxonomy::Taxonomy;

/// Builds 3 levels x 8 of the synthetic taxonomy with an image tree where leaf `..c<k>` has
/// 3 + 2k images (c0 and c1 fall below the 6-image minimum).
fn setup(dir: &Path) -> (Taxonomy, std::path::PathBuf, hiercog_cog::Benchmark) {
    let (tax, names) = common::synthetic_taxonomy(dir);
    let root = dir.join("images");
    for n in names.iter().filter(|n| n.len() == 6) {
        let k: usize = n[5..].parse().unwrap();
        std::fs::create_dir_all(root.join(n)).unwrap();
        for i in 0..3 + 2 * k {
            std::fs::write(root.join(n).join(format!("{n}_{i}.JPEG")), b"").unwrap();
        }
    }
    let counts = count_images(&root, |_| {}).unwrap();
    let seen = ConceptList::from_names("seen", common::synthetic_seen());
    let pool = ConceptList::from_names("pool", names);
    let inputs = BuildInputs {
        taxonomy: &tax,
        taxonomy_source: "isa".into(),
        seen: &seen,
        pool: &pool,
        counts: Some(&counts),
    };
    let filters = vec![
        Filter::Seen,
        Filter::AncestorsOfSeen,
        Filter::PoolLeaves,
        Filter::MinImages { min: 6 },
    ];
    let b = LevelBuilder::new(LevelParams::generic(3, 8).filters(filters))
        .unwrap()
        .build(&inputs)
        .unwrap();
    (tax, root, b)
}

#[test]
fn round_trip_with_splits_plots_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let (_, root, b) = setup(dir.path());
    let out = dir.path().join("bench");
    let splits = ImageTreeSplits::new(
        &root,
        SplitParams {
            seed: 7,
            test: 2,
            train_cap: 4,
        },
    )
    .unwrap();
    let mut calls = 0;
    b.write(
        &out,
        &WriteOptions::default(),
        Some(&splits),
        |_, done, total| {
            calls += 1;
            assert!(done <= total);
        },
    )
    .unwrap();
    assert_eq!(calls, 24);
    for f in [
        "manifest.json",
        "levels/L1.tsv",
        "levels/L3.tsv",
        "ranking.tsv",
        "removed.tsv",
        "splits/L2.tsv",
        "report.md",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    for f in ["similarity_histogram", "ranked_similarity"] {
        assert!(
            out.join("plots").join(format!("{f}.png")).is_file()
                && out.join("plots").join(format!("{f}.svg")).is_file()
        );
    }
    let back = load_benchmark(&out).unwrap();
    assert_eq!(
        back.levels(),
        b.levels(),
        "similarities read back bit for bit"
    );
    assert_eq!(back.ranking(), b.ranking());
    assert_eq!(back.removed(), b.removed());
    let m = back.manifest();
    assert_eq!(m.filters, b.manifest().filters);
    let sp = m.splits.as_ref().unwrap();
    assert_eq!(
        sp.per_level
            .iter()
            .map(|c| (c.train, c.test))
            .collect::<Vec<_>>(),
        [(32, 16); 3]
    );

    let train = back.split_files("L1", Split::Train).unwrap();
    let test = back.split_files("l1", Split::Test).unwrap();
    assert_eq!((train.len(), test.len()), (32, 16));
    let level = back.level("L1").unwrap();
    let wnids = level.sorted_wnids();
    for it in train.iter().chain(&test) {
        assert!(
            it.path.starts_with(&root) && it.path.is_file(),
            "{}",
            it.path.display()
        );
        assert_eq!(wnids[it.label], it.wnid);
        assert!(it.path.parent().unwrap().ends_with(&it.wnid));
    }
    assert!(
        train
            .windows(2)
            .all(|w| (w[0].label, &w[0].path) < (w[1].label, &w[1].path)),
        "naver/cog order"
    );
    assert!(
        test.iter().all(|t| !train.iter().any(|r| r.path == t.path)),
        "train and test are disjoint"
    );

    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    for needle in [
        "## Filters",
        "`min-images:6`",
        "## Levels",
        "## Nearest neighbours per level",
        "## Splits",
        "plots/ranked_similarity.png",
    ] {
        assert!(report.contains(needle), "report lacks {needle}:\n{report}");
    }
}

#[test]
fn writing_is_deterministic_and_refuses_to_overwrite_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let (_, root, b) = setup(dir.path());
    let splits = ImageTreeSplits::new(
        &root,
        SplitParams {
            seed: 1,
            test: 2,
            train_cap: 4,
        },
    )
    .unwrap();
    let opts = WriteOptions {
        force: false,
        no_plots: true,
    };
    let (a, c) = (dir.path().join("a"), dir.path().join("c"));
    b.write(&a, &opts, Some(&splits), |_, _, _| {}).unwrap();
    b.write(&c, &opts, Some(&splits), |_, _, _| {}).unwrap();
    for f in [
        "levels/L1.tsv",
        "ranking.tsv",
        "removed.tsv",
        "splits/L3.tsv",
        "report.md",
    ] {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(c.join(f)).unwrap(),
            "{f} differs"
        );
    }
    let strip_root = |p: &Path| std::fs::read_to_string(p.join("manifest.json")).unwrap();
    assert_eq!(strip_root(&a), strip_root(&c));
    let err = b.write(&a, &opts, None, |_, _, _| {}).unwrap_err();
    assert!(matches!(err, Error::OutputExists { .. }), "{err}");
    b.write(
        &a,
        &WriteOptions {
            force: true,
            no_plots: true,
        },
        None,
        |_, _, _| {},
    )
    .unwrap();
    assert!(
        !a.join("splits").exists(),
        "forced write replaced the whole directory"
    );
    assert!(load_benchmark(&a)
        .unwrap()
        .split_files("L1", Split::Train)
        .is_err());
}

#[test]
fn a_failed_write_leaves_nothing_half_written() {
    let dir = tempfile::tempdir().unwrap();
    let (_, root, b) = setup(dir.path());
    // One level concept loses its images after counting: drawing its split fails mid-way.
    let victim = &b.levels()[2].concepts[3].wnid;
    for e in std::fs::read_dir(root.join(victim)).unwrap() {
        std::fs::remove_file(e.unwrap().path()).unwrap();
    }
    let splits = ImageTreeSplits::new(
        &root,
        SplitParams {
            seed: 1,
            test: 2,
            train_cap: 4,
        },
    )
    .unwrap();
    let out = dir.path().join("out");
    let err = b
        .write(&out, &WriteOptions::default(), Some(&splits), |_, _, _| {})
        .unwrap_err();
    assert!(
        matches!(&err, Error::TooFewImages { wnid, found: 0, .. } if wnid == victim),
        "{err}"
    );
    assert!(!out.exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        leftovers
            .iter()
            .all(|n| !n.to_string_lossy().starts_with(".out")),
        "{leftovers:?}"
    );
    // An existing benchmark survives a failed forced rewrite.
    b.write(
        &out,
        &WriteOptions {
            force: false,
            no_plots: true,
        },
        None,
        |_, _, _| {},
    )
    .unwrap();
    let before = std::fs::read(out.join("manifest.json")).unwrap();
    assert!(b
        .write(
            &out,
            &WriteOptions {
                force: true,
                no_plots: true
            },
            Some(&splits),
            |_, _, _| {}
        )
        .is_err());
    assert_eq!(std::fs::read(out.join("manifest.json")).unwrap(), before);
}

#[test]
fn loading_reports_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let err = load_benchmark(dir.path()).unwrap_err();
    assert!(matches!(err, Error::NotABenchmark { .. }), "{err}");
    let (_, _, b) = setup(dir.path());
    let out = dir.path().join("b");
    b.write(
        &out,
        &WriteOptions {
            force: false,
            no_plots: true,
        },
        None,
        |_, _, _| {},
    )
    .unwrap();
    let l2 = out.join("levels/L2.tsv");
    let text = std::fs::read_to_string(&l2).unwrap();
    std::fs::write(&l2, text.replacen("\t0.", "\tzero.", 1)).unwrap();
    let err = load_benchmark(&out).unwrap_err().to_string();
    assert!(
        err.contains("L2.tsv:2") && err.contains("not a number"),
        "{err}"
    );
    std::fs::write(out.join("manifest.json"), "{").unwrap();
    assert!(matches!(
        load_benchmark(&out).unwrap_err(),
        Error::Manifest { .. }
    ));
    let missing = load_benchmark(&dir.path().join("nope")).unwrap_err();
    assert!(matches!(missing, Error::NotABenchmark { .. }));
    let err = b.level("L9").unwrap_err().to_string();
    assert!(err.contains("L1, L2, L3"), "{err}");
}
