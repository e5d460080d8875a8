//! End-to-end generation: layout, determinism, idempotence, atomicity and bad input.

use std::path::Path;

use hiercog_synth::{
    default_concepts, default_seen, generate, render_png, visual_factors, Error, SynthManifest,
    SynthParams, Variation, MANIFEST_FILE, README_FILE,
};
use hiercog_taxonomy::{InformationContent, Measure, SetSimilarity, Taxonomy};

fn small(seed: u64) -> SynthParams {
    SynthParams {
        concepts: vec!["n02099601".into(), "n02099712".into(), "n07742313".into()],
        images_per_concept: 3,
        size: 48,
        seed,
        variation: Variation::default(),
    }
}

fn all_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.strip_prefix(dir).unwrap().display().to_string(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn writes_imagenet_layout_with_manifest_and_notice() {
    let tax = Taxonomy::wordnet().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("set");
    let calls = std::sync::Mutex::new(Vec::new());
    let m = generate(&tax, &small(1), &out, &|d, t| {
        calls.lock().unwrap().push((d, t))
    })
    .unwrap();
    assert_eq!(*calls.lock().unwrap(), vec![(0, 9), (3, 9), (6, 9), (9, 9)]);
    assert!(m.synthetic);
    assert_eq!(m.n_images(), 9);
    assert_eq!(m.concepts[0].name, "golden_retriever");
    for wnid in ["n02099601", "n02099712", "n07742313"] {
        for i in 0..3 {
            let p = out.join(wnid).join(format!("{wnid}_{i}.png"));
            let img = image::open(&p).unwrap();
            assert_eq!((img.width(), img.height()), (48, 48), "{}", p.display());
            assert_eq!(img.color(), image::ColorType::Rgb8);
        }
    }
    assert!(out.join(MANIFEST_FILE).is_file());
    assert_eq!(SynthManifest::load(&out).unwrap().params, small(1));
    let readme = std::fs::read_to_string(out.join(README_FILE)).unwrap();
    assert!(readme.starts_with("SYNTHETIC IMAGE SET"), "{readme}");
    // Only the set itself: the staging directory is gone.
    let names: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("set")]);
}

#[test]
fn same_seed_gives_identical_bytes_and_other_seeds_differ() {
    let tax = Taxonomy::wordnet().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let a = generate(&tax, &small(7), &tmp.path().join("a"), &|_, _| {}).unwrap();
    generate(&tax, &small(7), &tmp.path().join("b"), &|_, _| {}).unwrap();
    generate(&tax, &small(8), &tmp.path().join("c"), &|_, _| {}).unwrap();
    let (fa, fb, fc) = (
        all_files(&tmp.path().join("a")),
        all_files(&tmp.path().join("b")),
        all_files(&tmp.path().join("c")),
    );
    assert_eq!(fa, fb);
    let png = |files: &[(String, Vec<u8>)], name: &str| {
        files
            .iter()
            .find(|f| f.0.ends_with(name))
            .unwrap()
            .1
            .clone()
    };
    assert_ne!(png(&fa, "n02099601_0.png"), png(&fc, "n02099601_0.png"));
    // Images of one concept differ from each other (nuisance), and an image does not depend on
    // which other concepts are generated with it.
    assert_ne!(png(&fa, "n02099601_0.png"), png(&fa, "n02099601_1.png"));
    let alone = SynthParams {
        concepts: vec!["n02099601".into()],
        ..small(7)
    };
    let f = visual_factors(&tax, &alone.concepts, 7).unwrap();
    assert_eq!(
        render_png(&f[0], "n02099601", 0, &alone),
        png(&fa, "n02099601_0.png")
    );
    assert_eq!(a.concepts[0].factors, f[0]);
}

#[test]
fn rerun_is_idempotent_and_other_params_are_refused() {
    let tax = Taxonomy::wordnet().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("set");
    let first = generate(&tax, &small(3), &out, &|_, _| {}).unwrap();
    let probe = out.join("n02099601/n02099601_0.png");
    std::fs::write(&probe, b"marker").unwrap();
    let calls = std::sync::Mutex::new(Vec::new());
    let again = generate(&tax, &small(3), &out, &|d, t| {
        calls.lock().unwrap().push((d, t))
    })
    .unwrap();
    assert_eq!(again.params, first.params);
    assert_eq!(
        std::fs::read(&probe).unwrap(),
        b"marker",
        "a complete set is not rewritten"
    );
    assert_eq!(*calls.lock().unwrap(), vec![(9, 9)]);

    let err = generate(&tax, &small(4), &out, &|_, _| {}).unwrap_err();
    assert!(
        matches!(err, Error::OutputExists { .. }) && err.to_string().contains("other parameters"),
        "{err}"
    );

    std::fs::remove_file(&probe).unwrap();
    let err = generate(&tax, &small(3), &out, &|_, _| {}).unwrap_err();
    assert!(err.to_string().contains("incomplete"), "{err}");

    let foreign = tmp.path().join("photos");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("cat.jpg"), b"x").unwrap();
    let err = generate(&tax, &small(3), &foreign, &|_, _| {}).unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
    assert!(
        foreign.join("cat.jpg").exists(),
        "user files are never removed"
    );
}

#[test]
fn set_of_an_older_format_is_refused() {
    let tax = Taxonomy::wordnet().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("set");
    generate(&tax, &small(3), &out, &|_, _| {}).unwrap();
    // A format-1 manifest (no `variation`): today's defaults would fill the gap, so the version is
    // what tells the images apart.
    let path = out.join(MANIFEST_FILE);
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    manifest["format_version"] = 1.into();
    manifest["params"]
        .as_object_mut()
        .unwrap()
        .remove("variation");
    std::fs::write(&path, manifest.to_string()).unwrap();
    let err = generate(&tax, &small(3), &out, &|_, _| {}).unwrap_err();
    assert!(
        matches!(err, Error::OutputExists { .. }) && err.to_string().contains("format 1"),
        "{err}"
    );
}

#[test]
fn stale_partial_directory_is_replaced() {
    let tax = Taxonomy::wordnet().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let stale = tmp.path().join(".set.partial");
    std::fs::create_dir_all(stale.join("n00000000")).unwrap();
    std::fs::write(stale.join("n00000000/junk.png"), b"half").unwrap();
    generate(&tax, &small(3), &tmp.path().join("set"), &|_, _| {}).unwrap();
    assert!(!stale.exists());
    assert!(!tmp.path().join("set/n00000000").exists());
}

#[test]
fn bad_input_is_a_clear_error() {
    let tax = Taxonomy::wordnet().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("set");
    let with = |concepts: Vec<&str>| SynthParams {
        concepts: concepts.into_iter().map(String::from).collect(),
        ..small(0)
    };

    let err = generate(
        &tax,
        &with(vec!["n02099601", "n99999999"]),
        &out,
        &|_, _| {},
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, Error::Concept { index: 1, .. })
            && msg.contains("n99999999")
            && msg.contains("unknown concept"),
        "{msg}"
    );

    let err = generate(&tax, &with(vec!["dog"]), &out, &|_, _| {}).unwrap_err();
    assert!(err.to_string().contains("malformed wnid"), "{err}");

    let err = generate(
        &tax,
        &with(vec!["n02099601", "n02099601"]),
        &out,
        &|_, _| {},
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Duplicate {
                first: 0,
                second: 1,
                ..
            }
        ),
        "{err}"
    );

    for p in [
        SynthParams {
            images_per_concept: 0,
            ..small(0)
        },
        SynthParams {
            size: 8,
            ..small(0)
        },
        SynthParams {
            variation: Variation {
                max_distractors: 100,
                ..Variation::default()
            },
            ..small(0)
        },
        with(vec![]),
    ] {
        assert!(matches!(
            generate(&tax, &p, &out, &|_, _| {}).unwrap_err(),
            Error::BadParam { .. }
        ));
    }
    assert!(
        !out.exists() && !tmp.path().join(".set.partial").exists(),
        "nothing written on bad input"
    );
}

#[test]
fn default_seen_spreads_unseen_over_semantic_distances() {
    let tax = Taxonomy::wordnet().unwrap();
    let all = default_concepts();
    let seen = default_seen(&tax, &all).unwrap();
    let unseen: Vec<&String> = all.iter().filter(|c| !seen.contains(c)).collect();
    assert!(
        seen.len() >= 20 && unseen.len() >= 40,
        "{} seen, {} unseen",
        seen.len(),
        unseen.len()
    );
    // Food (the minority top subtree) is entirely unseen.
    let food: Vec<&String> = all.iter().filter(|w| w.starts_with("n07")).collect();
    assert!(food.iter().all(|w| !seen.contains(w)));

    // Max Lin similarity (SemCor IC, as the level builder uses) of each unseen concept to the seen set.
    let ic = InformationContent::semcor(&tax).unwrap();
    let seen_ids: Vec<_> = seen.iter().map(|w| tax.id(w).unwrap()).collect();
    let set = SetSimilarity::new(&tax, Some(&ic), Measure::Lin, &seen_ids).unwrap();
    let mut sims: Vec<f64> = unseen
        .iter()
        .map(|w| set.best(tax.id(w).unwrap()).0)
        .collect();
    sims.sort_by(f64::total_cmp);
    println!("{} seen, {} unseen", seen.len(), unseen.len());
    let deciles: Vec<String> = (0..=10)
        .map(|d| format!("{:.2}", sims[(d * (sims.len() - 1)) / 10]))
        .collect();
    println!("unseen max-Lin deciles: {}", deciles.join(" "));
    println!(
        "unseen max-Lin to seen: min {:.2} median {:.2} max {:.2}",
        sims[0],
        sims[sims.len() / 2],
        sims[sims.len() - 1]
    );
    // Several distances: far (< 0.3), middle and close (> 0.7) unseen concepts all occur.
    assert!(sims.iter().any(|&s| s < 0.3));
    assert!(sims.iter().filter(|&&s| (0.3..0.7).contains(&s)).count() >= 5);
    assert!(sims.iter().filter(|&&s| s > 0.7).count() >= 5);
}
