//! Regenerates the embedded WordNet snapshot `data/wordnet30-nouns.hcwn` from a WordNet 3.0 dict
//! directory (Debian: package `wordnet-base`, directory `/usr/share/wordnet`).
//!
//! `cargo run --release -p hiercog-taxonomy --example make_snapshot -- WORDNET_DICT_DIR OUT_FILE`

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        return Err("usage: make_snapshot WORDNET_DICT_DIR OUT_FILE (e.g. /usr/share/wordnet crates/taxonomy/data/wordnet30-nouns.hcwn)".into());
    }
    let tax = hiercog_taxonomy::Taxonomy::from_wordnet_dir(&PathBuf::from(&args[1]))?;
    let bytes = hiercog_taxonomy::write_snapshot(&tax)?;
    let back = hiercog_taxonomy::read_snapshot(&bytes)?;
    if back.len() != tax.len() {
        return Err("snapshot round trip lost concepts".into());
    }
    std::fs::write(&args[2], &bytes)?;
    println!(
        "{} synsets, {} bytes -> {}",
        tax.len(),
        bytes.len(),
        args[2]
    );
    Ok(())
}
