//! Helpers shared by the end-to-end tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use hiercog_taxonomy::Taxonomy;

/// The committed fixtures.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A balanced user taxonomy `root -> a0..a3 -> a0b0..a3b3 -> a0b0c0..a3b3c7` (4 x 4 x 8 = 128 leaves),
/// written as an is-a file in `dir`; returns the taxonomy and every concept name (pool order).
pub fn synthetic_taxonomy(dir: &Path) -> (Taxonomy, Vec<String>) {
    let mut edges = String::from("# parent\tchild\n");
    let mut names = vec!["root".to_string()];
    for a in 0..4 {
        let an = format!("a{a}");
        edges.push_str(&format!("root\t{an}\n"));
        names.push(an.clone());
        for b in 0..4 {
            let bn = format!("{an}b{b}");
            edges.push_str(&format!("{an}\t{bn}\n"));
            names.push(bn.clone());
            for c in 0..8 {
                let cn = format!("{bn}c{c}");
                edges.push_str(&format!("{bn}\t{cn}\n"));
                names.push(cn);
            }
        }
    }
    let path = dir.join("isa.tsv");
    std::fs::write(&path, edges).unwrap();
    (Taxonomy::from_isa_file(&path).unwrap(), names)
}

/// The 16 seen concepts of the synthetic taxonomy: leaves c0..c3 of groups a0b0, a0b1, a1b0 and
/// a2b0. With the pool-subtree IC over all 149 concepts, an unseen leaf's Lin similarity to this
/// set is ln(149/9)/ln(149) in those four groups (16 leaves; LCS = its b group, 9 concepts),
/// ln(149/37)/ln(149) elsewhere under a0, a1, a2 (64 leaves; LCS = its a group) and 0 under a3
/// (32 leaves; LCS = root).
pub fn synthetic_seen() -> Vec<String> {
    ["a0b0", "a0b1", "a1b0", "a2b0"]
        .iter()
        .flat_map(|g| (0..4).map(move |c| format!("{g}c{c}")))
        .collect()
}
