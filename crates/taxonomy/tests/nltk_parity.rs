//! Parity with NLTK 3.10 on WordNet 3.0 nouns: every measure, every IC source, depths, names,
//! and the max-over-set similarity. Reference values: `fixtures/make_nltk_fixtures.py`.

use hiercog_taxonomy::{
    similarity, ConceptId, Error, InformationContent, Measure, SetSimilarity, Taxonomy,
};

const PAIRS: &str = include_str!("fixtures/pairs.tsv");
const SYNSETS: &str = include_str!("fixtures/synsets.tsv");
const SETSIM: &str = include_str!("fixtures/setsim.tsv");
const IN21K: &str = include_str!("../../cog/data/imagenet21k_fall11_wnids.txt");
const IN1K: &str = include_str!("../../cog/data/imagenet1k_wnids.txt");

fn ids(tax: &Taxonomy, text: &str) -> Vec<ConceptId> {
    text.split_whitespace()
        .map(|w| tax.id(w).unwrap())
        .collect()
}

/// The three IC sources of the fixtures, in their column order.
fn ic_sources(tax: &Taxonomy) -> Vec<(&'static str, InformationContent)> {
    vec![
        ("semcor", InformationContent::semcor(tax).unwrap()),
        ("intrinsic", InformationContent::intrinsic(tax)),
        (
            "in21k",
            InformationContent::subtree_members(tax, &ids(tax, IN21K)).unwrap(),
        ),
    ]
}

/// Relative tolerance 1e-9 (absolute near zero).
fn close(got: f64, want: f64) -> bool {
    got == want || (got - want).abs() <= 1e-9 * got.abs().max(want.abs()).max(1e-12)
}

/// Compares a hiercog result with an NLTK fixture cell (`None`, `ZeroDivisionError` or a float).
fn check(got: hiercog_taxonomy::Result<f64>, want: &str, what: &str) {
    match (want, got) {
        ("None", Err(Error::NoCommonSubsumer { .. })) => {}
        ("ZeroDivisionError", Err(Error::Undefined { .. })) => {}
        (w, Ok(v)) if w.parse::<f64>().is_ok_and(|w| close(v, w)) => {}
        (w, got) => panic!("{what}: NLTK {w}, hiercog {got:?}"),
    }
}

#[test]
fn every_measure_and_ic_source_matches_nltk_on_random_pairs() {
    let tax = Taxonomy::wordnet().unwrap();
    let ics = ic_sources(&tax);
    let mut lines = PAIRS.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let mut compared = 0;
    for line in lines {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), header.len());
        let (a, b) = (tax.id(f[0]).unwrap(), tax.id(f[1]).unwrap());
        for (col, want) in header.iter().zip(&f).skip(2) {
            let (m, ic) = match col.split_once('_') {
                None => (col.parse::<Measure>().unwrap(), None),
                Some((m, src)) => (
                    m.parse().unwrap(),
                    Some(&ics.iter().find(|(n, _)| *n == src).unwrap().1),
                ),
            };
            check(
                similarity(&tax, ic, m, a, b),
                want,
                &format!("{col}({}, {})", f[0], f[1]),
            );
            compared += 1;
        }
    }
    assert_eq!(compared, 3000 * 12);
}

#[test]
fn names_depths_paths_and_ic_values_match_nltk() {
    let tax = Taxonomy::wordnet().unwrap();
    let ics = ic_sources(&tax);
    let mut lines = SYNSETS.lines();
    lines.next();
    for line in lines {
        let f: Vec<&str> = line.split('\t').collect();
        let c = tax.id(f[0]).unwrap();
        assert_eq!(tax.nltk_name(c), f[1], "{}", f[0]);
        assert_eq!(tax.lemmas(c).join("|"), f[2], "{}", f[0]);
        assert_eq!(tax.min_depth(c).to_string(), f[3], "min_depth {}", f[0]);
        assert_eq!(tax.max_depth(c).to_string(), f[4], "max_depth {}", f[0]);
        assert_eq!(
            tax.hypernym_paths(c).len().to_string(),
            f[5],
            "paths {}",
            f[0]
        );
        for ((name, ic), want) in ics.iter().zip(&f[6..9]) {
            check(Ok(ic.ic(c)), want, &format!("IC {name} of {}", f[0]));
        }
    }
}

#[test]
fn max_over_imagenet1k_matches_nltk_lin_with_in21k_ic() {
    let tax = Taxonomy::wordnet().unwrap();
    let ic = InformationContent::subtree_members(&tax, &ids(&tax, IN21K)).unwrap();
    let seen = ids(&tax, IN1K);
    let set = SetSimilarity::new(&tax, Some(&ic), Measure::Lin, &seen).unwrap();
    for line in SETSIM.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let (v, arg) = set.best(tax.id(f[0]).unwrap());
        check(Ok(v), f[1], f[0]);
        // NLTK's loop keeps the first member reaching the maximum, as hiercog's tie rule does.
        assert_eq!(tax.name(arg), f[2], "argmax for {}", f[0]);
    }
}
