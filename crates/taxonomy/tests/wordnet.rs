//! The embedded WordNet 3.0 snapshot: size, known synsets, ImageNet coverage, round trip, and the
//! fast max-over-set similarity against brute force.

use hiercog_taxonomy::{
    read_snapshot, similarity, write_snapshot, ConceptId, InformationContent, Measure,
    SetSimilarity, Taxonomy,
};

const IN21K: &str = include_str!("../../cog/data/imagenet21k_fall11_wnids.txt");
const IN1K: &str = include_str!("../../cog/data/imagenet1k_wnids.txt");

fn ids(tax: &Taxonomy, text: &str) -> Vec<ConceptId> {
    text.split_whitespace()
        .map(|w| tax.id(w).unwrap())
        .collect()
}

#[test]
fn embedded_snapshot_has_all_noun_synsets() {
    let tax = Taxonomy::wordnet().unwrap();
    assert_eq!(tax.len(), 82_115);
    assert!(tax.is_wordnet());
    let dog = tax.id("n02084071").unwrap();
    assert_eq!(tax.lemmas(dog)[0], "dog");
    assert_eq!(tax.nltk_name(dog), "dog.n.01");
    assert!(tax
        .gloss(dog)
        .unwrap()
        .starts_with("a member of the genus Canis"));
    let entity = tax.id("n00001740").unwrap();
    assert_eq!(tax.roots(), vec![entity]);
    assert_eq!(tax.taxonomy_max_depth(), 19);
    assert!(tax.is_ancestor(entity, dog));
    assert_eq!(ids(&tax, IN1K).len(), 1000);
    assert_eq!(ids(&tax, IN21K).len(), 21_841);
    // Instance hypernyms are parents, as NLTK follows them: Mark Twain is an instance of two classes.
    let twain = tax.id("n10900730").unwrap();
    assert_eq!(tax.n_hypernyms(twain), 0);
    assert_eq!(tax.parents(twain).len(), 2);
    assert_eq!(tax.lemmas(twain)[2], "Mark_Twain");
}

#[test]
fn snapshot_round_trips() {
    let tax = Taxonomy::wordnet().unwrap();
    let back = read_snapshot(&write_snapshot(&tax).unwrap()).unwrap();
    assert_eq!(back.len(), tax.len());
    for c in tax.all().step_by(97) {
        assert_eq!(back.name(c), tax.name(c));
        assert_eq!(back.lemmas(c), tax.lemmas(c));
        assert_eq!(back.parents(c), tax.parents(c));
        assert_eq!(back.sense_count(c), tax.sense_count(c));
        assert_eq!(back.gloss(c), tax.gloss(c));
    }
    assert!(read_snapshot(b"HCWN\x63\0\0\0").is_err(), "unknown version");
    assert!(read_snapshot(b"not a snapshot").is_err());
}

/// Brute force: the first set member reaching the maximum, skipping undefined pairs.
fn brute(
    tax: &Taxonomy,
    ic: Option<&InformationContent>,
    m: Measure,
    set: &[ConceptId],
    c: ConceptId,
) -> (f64, ConceptId) {
    let mut best = (f64::NEG_INFINITY, set[0]);
    let mut found = false;
    for &s in set {
        if let Ok(v) = similarity(tax, ic, m, c, s) {
            if !found || v > best.0 {
                best = (v, s);
                found = true;
            }
        }
    }
    best
}

#[test]
fn fast_set_similarity_equals_pairwise_maximum() {
    let tax = Taxonomy::wordnet().unwrap();
    let in1k = ids(&tax, IN1K);
    let in21k = ids(&tax, IN21K);
    let ics = [
        InformationContent::semcor(&tax).unwrap(),
        InformationContent::intrinsic(&tax),
        InformationContent::subtree_members(&tax, &in21k).unwrap(),
    ];
    // 125 seen concepts, about 120 candidates (IN-21K, IN-1K members, the root, non-ImageNet synsets).
    let set: Vec<ConceptId> = in1k.iter().copied().step_by(8).collect();
    let mut cands: Vec<ConceptId> = in21k.iter().copied().step_by(300).collect();
    cands.extend(in1k.iter().copied().step_by(97));
    cands.extend(tax.all().step_by(2500));
    cands.push(tax.id("n00001740").unwrap());
    for ic in &ics {
        for m in [Measure::Lin, Measure::Resnik, Measure::JiangConrath] {
            let fast = SetSimilarity::new(&tax, Some(ic), m, &set).unwrap();
            let got = fast.best_many(&cands);
            for (&c, g) in cands.iter().zip(&got) {
                let want = brute(&tax, Some(ic), m, &set, c);
                assert!(
                    (g.0 - want.0).abs() <= 1e-12 * want.0.abs() && g.1 == want.1,
                    "{m} {}: fast {g:?}, pairwise {want:?}",
                    tax.name(c)
                );
            }
        }
    }
    for m in [Measure::Path, Measure::LeacockChodorow, Measure::WuPalmer] {
        let fast = SetSimilarity::new(&tax, None, m, &set).unwrap();
        for &c in cands.iter().step_by(3) {
            assert_eq!(
                fast.best(c),
                brute(&tax, None, m, &set, c),
                "{m} {}",
                tax.name(c)
            );
        }
    }
}

#[test]
fn info_describes_a_synset_by_names() {
    let tax = Taxonomy::wordnet().unwrap();
    let info = tax.info(tax.id("n02084071").unwrap());
    assert_eq!(
        (info.id.as_str(), info.name.as_str()),
        ("n02084071", "dog.n.01")
    );
    assert_eq!(info.lemmas[..2], ["dog", "domestic_dog"]);
    assert_eq!((info.min_depth, info.max_depth), (8, 13));
    // dog is a canine and a domestic animal: two hypernyms, two paths from entity.
    assert_eq!(info.hypernyms, ["n02083346", "n01317541"]);
    assert!(info.instance_hypernyms.is_empty());
    assert_eq!(info.hypernym_paths.len(), 2);
    assert!(info
        .hypernym_paths
        .iter()
        .all(|p| p[0] == "n00001740" && p.last().unwrap() == "n02084071"));
    assert!(info.children.contains(&"n02085374".to_string())); // toy dog
}
