//! Hand-checked values on small user taxonomies, and clear errors on bad input.

use std::io::Write;

use hiercog_taxonomy::{
    distance_matrix, distance_matrix_within, lca_distance, similarity, DistanceConvention, Error,
    InformationContent, Measure, SetSimilarity, Taxonomy,
};

fn isa(text: &str) -> hiercog_taxonomy::Result<Taxonomy> {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    Taxonomy::from_isa_file(f.path())
}

/// root ─ animal ─ dog ─ {terrier, hound}; animal ─ cat; root ─ plant ─ tree ─ {oak, pine ─ bristlecone}
const TREE: &str =
    "# a toy tree\nroot\tanimal\nanimal\tdog\ndog\tterrier\ndog\thound\nanimal\tcat\n\
root\tplant\nplant\ttree\ntree\toak\ntree\tpine\npine\tbristlecone\n";

#[test]
fn lca_heights_on_a_hand_checked_tree() {
    let t = isa(TREE).unwrap();
    let ids: Vec<_> = ["terrier", "hound", "cat", "oak", "bristlecone"]
        .iter()
        .map(|n| t.id(n).unwrap())
        .collect();
    // Induced heights: dog 1, animal 2, pine 1, tree 2, plant 3, root 4.
    let m = distance_matrix(&t, &ids, DistanceConvention::LcaHeight).unwrap();
    let want = [
        [0.0, 1.0, 2.0, 4.0, 4.0],
        [1.0, 0.0, 2.0, 4.0, 4.0],
        [2.0, 2.0, 0.0, 4.0, 4.0],
        [4.0, 4.0, 4.0, 0.0, 2.0],
        [4.0, 4.0, 4.0, 2.0, 0.0],
    ];
    for (i, row) in want.iter().enumerate() {
        assert_eq!(m.row(i), row, "row {i}");
    }
    assert_eq!(m.max(), 4.0);
    // Padded: D = depth(bristlecone) = 4; d = 4 - depth(LCA).
    let p = distance_matrix(&t, &ids, DistanceConvention::PaddedLcaHeight).unwrap();
    let want = [
        [0.0, 2.0, 3.0, 4.0, 4.0],
        [2.0, 0.0, 3.0, 4.0, 4.0],
        [3.0, 3.0, 0.0, 4.0, 4.0],
        [4.0, 4.0, 4.0, 0.0, 2.0],
        [4.0, 4.0, 4.0, 2.0, 0.0],
    ];
    for (i, row) in want.iter().enumerate() {
        assert_eq!(p.row(i), row, "padded row {i}");
    }
    // Heights depend on the label set: with {terrier, cat} alone, animal has height 2 still,
    // and with {terrier, hound} dog has height 1.
    let (terrier, hound, cat) = (ids[0], ids[1], ids[2]);
    assert_eq!(
        lca_distance(&t, terrier, cat, DistanceConvention::LcaHeight).unwrap(),
        2.0
    );
    assert_eq!(
        lca_distance(&t, terrier, hound, DistanceConvention::LcaHeight).unwrap(),
        1.0
    );
    assert_eq!(
        lca_distance(&t, terrier, hound, DistanceConvention::PaddedLcaHeight).unwrap(),
        1.0,
        "D = 3, depth(dog) = 2"
    );
    // A label above another label: d(dog, terrier) = h(dog) = 1 with labels {dog, terrier}.
    let dog = t.id("dog").unwrap();
    assert_eq!(
        lca_distance(&t, dog, terrier, DistanceConvention::LcaHeight).unwrap(),
        1.0
    );
}

#[test]
fn distances_within_a_shared_hierarchy_compare_across_label_sets() {
    let t = isa(TREE).unwrap();
    let id = |n: &str| t.id(n).unwrap();
    let dogs = [id("terrier"), id("hound")];
    let all: Vec<_> = ["terrier", "hound", "cat", "oak", "bristlecone"]
        .iter()
        .map(|n| id(n))
        .collect();
    // Alone, the two dogs induce dog (height 1) and its ancestors as a chain: d = 1.
    let alone = distance_matrix(&t, &dogs, DistanceConvention::LcaHeight).unwrap();
    assert_eq!(alone.get(0, 1), 1.0);
    // In the hierarchy of all five labels, d(terrier, hound) is the same as in the full matrix,
    // and d(cat, oak) = h(root) = 4 whichever subset holds them.
    let shared = distance_matrix_within(&t, &dogs, &all, DistanceConvention::LcaHeight).unwrap();
    let full = distance_matrix(&t, &all, DistanceConvention::LcaHeight).unwrap();
    assert_eq!(shared.get(0, 1), full.get(0, 1));
    let far = [id("cat"), id("oak")];
    assert_eq!(
        distance_matrix(&t, &far, DistanceConvention::LcaHeight)
            .unwrap()
            .get(0, 1),
        3.0,
        "alone, cat and oak induce root with height 3"
    );
    let far_shared = distance_matrix_within(&t, &far, &all, DistanceConvention::LcaHeight).unwrap();
    assert_eq!(far_shared.get(0, 1), full.get(2, 3));
    assert_eq!(far_shared.get(0, 1), 4.0);
    // Padded: D is the deepest label of the shared hierarchy (bristlecone, depth 4).
    let padded =
        distance_matrix_within(&t, &dogs, &all, DistanceConvention::PaddedLcaHeight).unwrap();
    assert_eq!(padded.get(0, 1), 4.0 - 2.0);
}

#[test]
fn lca_height_in_a_dag_takes_the_lowest_common_ancestor() {
    // x sits under both a (deep) and r; y under a. LCA(x, y) = a, not r.
    let t = isa("r\tq\nq\ta\na\tx\nr\tx\na\ty\n").unwrap();
    let (x, y) = (t.id("x").unwrap(), t.id("y").unwrap());
    assert_eq!(
        lca_distance(&t, x, y, DistanceConvention::LcaHeight).unwrap(),
        1.0
    );
    assert_eq!(
        lca_distance(&t, x, y, DistanceConvention::PaddedLcaHeight).unwrap(),
        1.0
    );
    assert_eq!(t.min_depth(x), 1);
    assert_eq!(t.max_depth(x), 3);
    assert_eq!(t.hypernym_paths(x).len(), 2);
}

#[test]
fn depth_measures_on_a_hand_checked_tree() {
    let t = isa(TREE).unwrap();
    let id = |n| t.id(n).unwrap();
    // terrier -> dog -> animal <- cat: 3 edges.
    assert_eq!(
        similarity(&t, None, Measure::Path, id("terrier"), id("cat")).unwrap(),
        0.25
    );
    // LCH: D = 4 (bristlecone), -ln(4 / 8).
    let lch = similarity(&t, None, Measure::LeacockChodorow, id("terrier"), id("cat")).unwrap();
    assert!((lch - 2f64.ln()).abs() < 1e-15);
    // Wu-Palmer: LCS animal, depth = max_depth + 1 = 2; 2·2 / ((2+2) + (1+2)) = 4/7.
    let wup = similarity(&t, None, Measure::WuPalmer, id("terrier"), id("cat")).unwrap();
    assert!((wup - 4.0 / 7.0).abs() < 1e-15);
    assert_eq!(
        t.lowest_common_subsumers(id("terrier"), id("oak")),
        vec![id("root")]
    );
    assert!(t.is_ancestor(id("animal"), id("hound")));
    assert!(!t.is_ancestor(id("plant"), id("hound")));
    assert_eq!(t.roots(), vec![id("root")]);
    assert_eq!(t.descendants(id("dog")).len(), 3);
}

#[test]
fn ic_measures_on_a_hand_checked_tree() {
    let t = isa(TREE).unwrap();
    let id = |n| t.id(n).unwrap();
    // Subtree-member IC with members {terrier, hound, oak}: dog = -ln(2/3), root = 0.
    let ic =
        InformationContent::subtree_members(&t, &[id("terrier"), id("hound"), id("oak")]).unwrap();
    assert!((ic.ic(id("dog")) + (2.0f64 / 3.0).ln()).abs() < 1e-15);
    assert_eq!(ic.ic(id("root")), 0.0);
    assert_eq!(ic.ic(id("cat")), 1e300, "no member below: NLTK's 1e300");
    let lin = similarity(&t, Some(&ic), Measure::Lin, id("terrier"), id("hound")).unwrap();
    assert!((lin - 2.0 * (2.0f64 / 3.0).ln() / (2.0 * (1.0f64 / 3.0).ln())).abs() < 1e-15);
    // JCN: identical -> 1e300; either IC 0 -> 0 (NLTK's conventions).
    assert_eq!(
        similarity(&t, Some(&ic), Measure::JiangConrath, id("oak"), id("oak")).unwrap(),
        1e300
    );
    assert_eq!(
        similarity(&t, Some(&ic), Measure::JiangConrath, id("root"), id("oak")).unwrap(),
        0.0
    );
    // Lin of the root with itself: 0/0, which NLTK raises as ZeroDivisionError.
    assert!(matches!(
        similarity(&t, Some(&ic), Measure::Lin, id("root"), id("root")),
        Err(Error::Undefined { .. })
    ));
    assert!(matches!(
        similarity(&t, None, Measure::Lin, id("oak"), id("oak")),
        Err(Error::MissingIc { .. })
    ));
    // Intrinsic: leaves 1, the root 0 (it subsumes all 11 concepts).
    let intr = InformationContent::intrinsic(&t);
    assert_eq!(intr.ic(id("oak")), 1.0);
    assert_eq!(intr.ic(id("root")), 0.0);
    // User counts: Resnik propagation; a count on cat reaches animal and root.
    let counts =
        InformationContent::from_counts(&t, &[(id("cat"), 3.0), (id("oak"), 1.0)]).unwrap();
    assert!((counts.ic(id("animal")) + (3.0f64 / 4.0).ln()).abs() < 1e-15);
    assert_eq!(counts.ic(id("dog")), 1e300);
    assert!(InformationContent::from_counts(&t, &[(id("cat"), -1.0)]).is_err());
    // The same from a counts file; a bad line is named by file and line.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("counts.tsv");
    std::fs::write(
        &file,
        "# images per concept\ncat\t3\noak 1  # a space works too\n",
    )
    .unwrap();
    let from_file = InformationContent::from_counts_file(&t, &file).unwrap();
    assert_eq!(from_file.ic(id("animal")), counts.ic(id("animal")));
    std::fs::write(&file, "cat\t3\nunicorn\t1\n").unwrap();
    let err = InformationContent::from_counts_file(&t, &file).unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "{}:2: unknown concept \"unicorn\"",
            file.display()
        )),
        "{err}"
    );
    assert!(
        InformationContent::semcor(&t).is_err(),
        "user taxonomies have no sense counts"
    );
}

#[test]
fn a_forest_has_no_common_subsumer_across_trees() {
    let t = isa("a\tb\nc\td\n").unwrap();
    let (b, d) = (t.id("b").unwrap(), t.id("d").unwrap());
    for m in [Measure::Path, Measure::LeacockChodorow, Measure::WuPalmer] {
        assert!(
            matches!(
                similarity(&t, None, m, b, d),
                Err(Error::NoCommonSubsumer { .. })
            ),
            "{m}"
        );
    }
    let ic = InformationContent::intrinsic(&t);
    assert_eq!(
        similarity(&t, Some(&ic), Measure::Resnik, b, d).unwrap(),
        0.0,
        "NLTK: LCS IC 0"
    );
    assert_eq!(
        lca_distance(&t, b, d, DistanceConvention::LcaHeight).unwrap(),
        f64::INFINITY
    );
    let set = SetSimilarity::new(&t, None, Measure::Path, &[d]).unwrap();
    assert_eq!(set.best(b), (f64::NEG_INFINITY, d));
}

#[test]
fn bad_user_taxonomies_are_rejected_with_the_line() {
    match isa("a\tb\nb\tc\nc\ta\n") {
        Err(Error::Cycle { cycle, .. }) => {
            assert!(cycle.contains('a') && cycle.contains('c'), "{cycle}")
        }
        other => panic!("expected a cycle error, got {other:?}"),
    }
    assert!(matches!(isa("a\ta\n"), Err(Error::Cycle { .. })));
    match isa("a\tb\na\tb\tc\n") {
        Err(e @ Error::IsaParse { line: 2, .. }) => {
            assert!(e.to_string().contains("parent<TAB>child"))
        }
        other => panic!("expected a parse error on line 2, got {other:?}"),
    }
    assert!(matches!(isa("# nothing\n\n"), Err(Error::IsaParse { .. })));
    let missing = Taxonomy::from_isa_file(std::path::Path::new("does/not/exist.tsv"));
    assert!(matches!(missing, Err(Error::Io(_))));
    // Space-separated files (the making-better-mistakes format) work too.
    assert_eq!(isa("n1 n2\nn1 n3\n").unwrap().len(), 3);
    let t = isa(TREE).unwrap();
    assert!(matches!(t.id("unicorn"), Err(Error::UnknownConcept { .. })));
}

#[test]
fn bad_wordnet_directories_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let err = Taxonomy::from_wordnet_dir(dir.path()).unwrap_err();
    assert!(
        matches!(err, Error::WordNetRead { ref path, .. } if path.ends_with("data.noun")),
        "{err}"
    );
    // The cause is in the message, once, and not repeated as a source.
    assert_eq!(
        err.to_string(),
        format!(
            "cannot read {}: No such file or directory (os error 2) (check the path: a WordNet \
             dict directory holds data.noun and index.noun)",
            dir.path().join("data.noun").display()
        )
    );
    assert!(std::error::Error::source(&err).is_none());
    std::fs::write(dir.path().join("data.noun"), "hello world\n").unwrap();
    let err = Taxonomy::from_wordnet_dir(dir.path()).unwrap_err();
    assert!(matches!(err, Error::WordNetParse { line: 1, .. }), "{err}");
    // A dangling hypernym pointer.
    std::fs::write(
        dir.path().join("data.noun"),
        "00000001 03 n 01 thing 0 001 @ 00000099 n 0000 | a thing\n",
    )
    .unwrap();
    let err = Taxonomy::from_wordnet_dir(dir.path()).unwrap_err();
    assert!(err.to_string().contains("00000099"), "{err}");
}

#[test]
fn a_minimal_wordnet_directory_reads_like_nltk() {
    let dir = tempfile::tempdir().unwrap();
    let data = "  1 license header line\n\
00000010 03 n 01 entity 0 000 | that which exists\n\
00000100 05 n 02 Dog 0 domestic_dog 0 001 @ 00000010 n 0000 | a dog\n\
00000200 18 n 01 Rex 0 001 @i 00000100 n 0000 | a famous dog\n";
    let index = "entity n 1 0 1 0 00000010  \ndog n 2 1 @ 2 0 00000999 00000100  \nrex n 1 1 @i 1 0 00000200  \n";
    std::fs::write(dir.path().join("data.noun"), data).unwrap();
    std::fs::write(dir.path().join("index.noun"), index).unwrap();
    std::fs::write(
        dir.path().join("cntlist.rev"),
        "dog%1:05:00:: 1 7\ndomestic_dog%1:05:00:: 1 2\nrun%2:38:00:: 1 9\n",
    )
    .unwrap();
    let t = Taxonomy::from_wordnet_dir(dir.path()).unwrap();
    let (entity, dog, rex) = (
        t.id("n00000010").unwrap(),
        t.id("n00000100").unwrap(),
        t.id("n00000200").unwrap(),
    );
    assert_eq!(
        t.nltk_name(dog),
        "dog.n.02",
        "second offset listed for `dog` in index.noun"
    );
    assert_eq!(t.sense_count(dog), 9);
    assert_eq!(t.parents(rex), [dog], "instance hypernyms are parents");
    assert_eq!(t.n_hypernyms(rex), 0);
    assert_eq!(t.gloss(rex), Some("a famous dog"));
    assert_eq!(t.roots(), vec![entity]);
    assert!(matches!(t.id("dog"), Err(Error::MalformedWnid { .. })));
    assert!(matches!(
        t.id("n00000011"),
        Err(Error::UnknownConcept { .. })
    ));
}
