//! Time to generate the built-in default set (152 concepts x 40 images, 224x224):
//! `cargo bench -p hiercog-synth --bench generate [-- IMAGES_PER_CONCEPT]`. Prints a table; asserts nothing.

use std::time::Instant;

use hiercog_synth::{generate, SynthParams};
use hiercog_taxonomy::Taxonomy;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let per: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(40);
    let tax = Taxonomy::wordnet()?;
    let params = SynthParams {
        images_per_concept: per,
        ..SynthParams::default()
    };
    let tmp = tempfile::tempdir()?;
    let t0 = Instant::now();
    let m = generate(&tax, &params, &tmp.path().join("synth"), &|_, _| {})?;
    let fresh = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    generate(&tax, &params, &tmp.path().join("synth"), &|_, _| {})?;
    let rerun = t1.elapsed().as_secs_f64();
    let threads = rayon::current_num_threads();
    println!("| images | size | threads | generate (s) | images/s | idempotent re-run (s) |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {threads} | {fresh:.2} | {:.0} | {rerun:.3} |",
        m.n_images(),
        params.size,
        m.n_images() as f64 / fresh
    );
    Ok(())
}
