//! hiercog-synth: a deterministic SYNTHETIC hierarchical image set over real WordNet concepts, the
//! built-in default when no labelled photographs are available offline.
//!
//! Each concept of the shipped list ([`default_concepts`], 92 ImageNet-1K wnids) gets
//! [`VisualFactors`] inherited down its WordNet hypernym path ([`visual_factors`]): near-root
//! ancestors fix the shape family, middle ones the geometry, the concept itself its colour and
//! pattern, so semantic and visual distance agree by construction. [`generate`] renders
//! [`SynthParams::images_per_concept`] images per concept with seeded nuisance (pose, scale,
//! position, background, noise) into the ImageNet layout `out/<wnid>/<wnid>_<i>.png`, with a
//! [`SynthManifest`] (`manifest.json`) and a `README.txt` that says the set is synthetic.
//! [`default_seen`] proposes a seen set whose complement spreads over several semantic distances.

mod concepts;
mod error;
mod factors;
mod generate;
mod render;

pub use concepts::{default_concepts, default_seen};
pub use error::{Error, Result};
pub use factors::{
    expected_sq_distance, resolve, visual_factors, Pattern, ShapeFamily, VisualFactors, LATENT_DIM,
};
pub use generate::{
    generate, render_png, SynthConcept, SynthManifest, SynthParams, MANIFEST_FILE, README_FILE,
};
