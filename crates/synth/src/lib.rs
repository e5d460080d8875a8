//! hiercog-synth: a deterministic SYNTHETIC hierarchical image set over real WordNet concepts, the
//! built-in default when no labelled photographs are available offline.
//!
//! Each concept of the shipped list ([`default_concepts`], 152 ImageNet-1K wnids) gets
//! [`VisualFactors`] inherited down its WordNet hypernym path ([`visual_factors`]): near-root
//! ancestors fix the shape family and the surroundings, middle ones the geometry and the pattern
//! type, colour drifts all the way down, the concept itself adds its pattern frequency and
//! orientation, so semantic and visual distance agree by construction. [`generate`] renders
//! [`SynthParams::images_per_concept`] images per concept into the ImageNet layout
//! `out/<wnid>/<wnid>_<i>.png`: each one instance of its concept (its factors jittered) with seeded
//! nuisance (pose, scale, position, background, clutter, colour jitter, resolution, noise), in the
//! amounts of [`Variation`]; with a [`SynthManifest`] (`manifest.json`) and a `README.txt` that says
//! the set is synthetic. [`default_seen`] proposes a seen set whose complement spreads over several
//! semantic distances.

#![warn(missing_docs)]

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
pub use render::Variation;

/// The README's example, compiled and run as a doc test.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
