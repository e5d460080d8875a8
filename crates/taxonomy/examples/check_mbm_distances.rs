//! Checks hiercog's padded LCA-height distances against the distance files of
//! fiveai/making-better-mistakes (CC BY-NC-SA, so not redistributed here):
//!
//! ```text
//! xz -dk data/imagenet_ilsvrc_distances.txt.xz      # in a clone of that repository
//! cargo run --release -p hiercog-taxonomy --example check_mbm_distances -- \
//!     MBM/data/imagenet_isa.txt MBM/data/imagenet_ilsvrc_distances.txt
//! ```
//!
//! The is-a file becomes a user taxonomy; its leaves are the label set; every leaf pair listed in
//! the distance file is compared with [`hiercog_taxonomy::DistanceConvention::PaddedLcaHeight`].

use std::collections::HashMap;
use std::path::Path;

use hiercog_taxonomy::{distance_matrix, DistanceConvention, Taxonomy};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        return Err("usage: check_mbm_distances ISA_FILE DISTANCES_TXT".into());
    }
    let tax = Taxonomy::from_isa_file(Path::new(&args[1]))?;
    let leaves: Vec<_> = tax.all().filter(|&c| tax.children(c).is_empty()).collect();
    let pos: HashMap<&str, usize> = leaves
        .iter()
        .enumerate()
        .map(|(i, &c)| (tax.name(c), i))
        .collect();
    let m = distance_matrix(&tax, &leaves, DistanceConvention::PaddedLcaHeight)?;
    let (mut checked, mut wrong) = (0usize, 0usize);
    for line in std::fs::read_to_string(&args[2])?.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(&i), Some(&j)) = (pos.get(f[0]), pos.get(f[1])) else {
            continue;
        };
        let want: f64 = f[2].parse()?;
        checked += 1;
        if m.get(i, j) != want {
            wrong += 1;
            if wrong <= 5 {
                eprintln!(
                    "{} {}: reference {want}, hiercog {}",
                    f[0],
                    f[1],
                    m.get(i, j)
                );
            }
        }
    }
    println!(
        "{} leaves, {checked} leaf pairs compared, {wrong} differ",
        leaves.len()
    );
    if wrong > 0 || checked == 0 {
        return Err("mismatch".into());
    }
    Ok(())
}
