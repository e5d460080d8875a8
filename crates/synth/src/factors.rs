//! Visual factors inherited down the taxonomy.
//!
//! Each concept gets a latent vector built as a Brownian motion along its hypernym path, with
//! "time" `t` = intrinsic information content (0 at the root, 1 at the shipped concept itself).
//! Every concept `q` on the path adds, to every latent dimension `k`, a seeded standard normal
//! draw scaled by `sqrt(overlap([t(parent q), t(q)], band k) / |band k|)`. Dimensions are grouped
//! in bands of `t`: shape family dims move only near the root, geometry dims in the upper middle,
//! pattern type in the lower middle, pattern frequency and orientation near the leaves, colour
//! all the way from the top categories down, and the background's palette (context) near the root. So two concepts share every increment above their
//! lowest common ancestor `a`, and `E |f_x - f_y|^2 = 2 Σ_k var_k overlap([t(a), 1], band k) /
//! |band k|`, a strictly decreasing function of `t(a)`: the deeper the common ancestor, the more
//! alike they look. Rendering parameters are fixed functions of the latent vector.

use hiercog_taxonomy::{ConceptId, InformationContent, Taxonomy};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A group of latent dimensions that moves over one stretch `[start, end]` of IC time, reaching
/// variance `var` per dimension at a concept.
#[derive(Clone, Copy)]
struct Band {
    first: usize,
    count: usize,
    start: f64,
    end: f64,
    var: f64,
}

impl Band {
    fn dims(&self) -> std::ops::Range<usize> {
        self.first..self.first + self.count
    }
}

/// Outline: fixed near the root. Its dims get the largest variance: a change of outline is the
/// most visible change, so it weighs most in the latent distance (rendering uses their argmax).
const FAMILY: Band = Band {
    first: 0,
    count: 6,
    start: 0.0,
    end: 0.5,
    var: 2.0,
};
/// Vertex count, aspect, roundness, lobe depth: the upper middle of the tree.
const GEOMETRY: Band = Band {
    first: 6,
    count: 4,
    start: 0.3,
    end: 0.8,
    var: 1.0,
};
/// Main colour (hue plane, saturation, lightness) and second hue: drifts over the whole path
/// below the top categories, so colour, the cue an ImageNet backbone weighs most, is alike
/// among close concepts at every depth (a palette per branch, refined down to the leaves).
const COLOUR: Band = Band {
    first: 10,
    count: 5,
    start: 0.15,
    end: 1.0,
    var: 1.0,
};
/// Pattern type (plain, stripes, dots, checker): settled in the middle of the tree.
const PATTERN: Band = Band {
    first: 15,
    count: 4,
    start: 0.35,
    end: 0.85,
    var: 1.0,
};
/// Pattern frequency and orientation: the finest distinctions, near the leaves.
const DETAIL: Band = Band {
    first: 19,
    count: 2,
    start: 0.6,
    end: 1.0,
    var: 1.0,
};
/// Surroundings (background hue plane and lightness): fixed near the root, as the habitat of
/// animals or the setting of vehicles is shared by whole branches in photographs.
const CONTEXT: Band = Band {
    first: 21,
    count: 3,
    start: 0.0,
    end: 0.45,
    var: 1.0,
};
/// Length of the latent vector.
pub const LATENT_DIM: usize = 24;
/// The bands in latent order; [`crate::Variation::instance_sigma`] follows this order.
const BANDS: [Band; 6] = [FAMILY, GEOMETRY, COLOUR, PATTERN, DETAIL, CONTEXT];
/// Number of latent bands.
pub(crate) const N_BANDS: usize = BANDS.len();

/// Outline of the object; chosen by the coarsest (near-root) factors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShapeFamily {
    /// A regular polygon with `vertices` corners, blended towards a disc by `roundness`.
    Polygon,
    /// A star with `vertices + 2` points, as deep as `lobe` says.
    Star,
    /// A disc with a wavy rim of `vertices` lobes.
    Blob,
    /// `vertices` arms from a common centre, as wide as `lobe` says.
    Asterisk,
    /// A polygon outline with a hole whose size `lobe` sets.
    Ring,
    /// A disc with a bite taken out of one side, as deep as `lobe` says.
    Crescent,
}

const FAMILIES: [ShapeFamily; 6] = [
    ShapeFamily::Polygon,
    ShapeFamily::Star,
    ShapeFamily::Blob,
    ShapeFamily::Asterisk,
    ShapeFamily::Ring,
    ShapeFamily::Crescent,
];

/// Surface pattern; chosen by the finest (near-leaf) factors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pattern {
    /// One colour with soft radial shading.
    Plain,
    /// Parallel bands of the two colours.
    Stripes,
    /// A grid of round dots of the second colour.
    Dots,
    /// A checkerboard of the two colours.
    Checker,
}

const PATTERNS: [Pattern; 4] = [
    Pattern::Plain,
    Pattern::Stripes,
    Pattern::Dots,
    Pattern::Checker,
];

/// A concept's latent vector and the rendering parameters derived from it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VisualFactors {
    /// The inherited latent vector ([`LATENT_DIM`] values); distances between concepts are taken here.
    pub latent: Vec<f64>,
    /// Outline of the object.
    pub family: ShapeFamily,
    /// Corners of polygons/rings, points of stars, arms of asterisks, lobes of blobs (3..=8).
    pub vertices: u32,
    /// Width/height ratio of the outline.
    pub aspect: f64,
    /// 0 = sharp corners, 1 = round.
    pub roundness: f64,
    /// Family-specific depth: star point depth, ring hole, arm width, crescent bite (0..1).
    pub lobe: f64,
    /// Main colour, HSL (hue in degrees).
    pub hue: f64,
    /// Saturation of the main colour (0..1).
    pub saturation: f64,
    /// Lightness of the main colour (0..1).
    pub lightness: f64,
    /// Surface pattern drawn with the main and the second colour.
    pub pattern: Pattern,
    /// Pattern cycles across the object.
    pub pattern_freq: f64,
    /// Pattern orientation in radians.
    pub pattern_angle: f64,
    /// Second colour of the pattern, HSL.
    pub hue2: f64,
    /// Lightness of the pattern's second colour (0..1).
    pub lightness2: f64,
    /// Hue (degrees) and lightness around which the background colours of its images are drawn.
    pub context_hue: f64,
    /// Lightness (0..1) around which the background colours are drawn.
    pub context_lightness: f64,
}

impl VisualFactors {
    /// Euclidean distance between latent vectors.
    pub fn distance(&self, other: &VisualFactors) -> f64 {
        self.latent
            .iter()
            .zip(&other.latent)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f64>()
            .sqrt()
    }

    /// One instance of the concept: its latent vector plus independent normal jitter with standard
    /// deviation `sigma[b]` in band `b` (shape family, geometry, appearance). Images of one concept
    /// vary like the members of a real class; the concept's own factors are the mean.
    pub(crate) fn instance(&self, rng: &mut ChaCha8Rng, sigma: [f64; N_BANDS]) -> VisualFactors {
        let draws = normals(rng, LATENT_DIM);
        let mut z = self.latent.clone();
        for (band, s) in BANDS.iter().zip(sigma) {
            for k in band.dims() {
                z[k] += s * draws[k];
            }
        }
        VisualFactors::from_latent(z)
    }

    /// An object of no listed concept: a latent vector drawn from the prior of every concept's
    /// latent (each band at its full variance), for the distractors of a scene.
    pub(crate) fn unrelated(rng: &mut ChaCha8Rng) -> VisualFactors {
        let draws = normals(rng, LATENT_DIM);
        let mut z = vec![0.0; LATENT_DIM];
        for band in &BANDS {
            for k in band.dims() {
                z[k] = band.var.sqrt() * draws[k];
            }
        }
        VisualFactors::from_latent(z)
    }

    fn from_latent(latent: Vec<f64>) -> Self {
        let z = &latent;
        let argmax = |r: std::ops::Range<usize>| {
            r.clone()
                .max_by(|&a, &b| z[a].total_cmp(&z[b]))
                .map_or(0, |i| i - r.start)
        };
        let (g, c, d, x) = (GEOMETRY.first, COLOUR.first, DETAIL.first, CONTEXT.first);
        VisualFactors {
            family: FAMILIES[argmax(FAMILY.dims())],
            vertices: 3 + ((phi(z[g + 1]) * 6.0) as u32).min(5),
            aspect: (0.35 * z[g]).exp().clamp(0.5, 2.0),
            roundness: phi(z[g + 2]),
            lobe: phi(z[g + 3]),
            hue: z[c + 1].atan2(z[c]).to_degrees().rem_euclid(360.0),
            saturation: 0.45 + 0.5 * phi(z[c + 2]),
            lightness: 0.3 + 0.35 * phi(z[c + 3]),
            pattern: PATTERNS[argmax(PATTERN.dims())],
            pattern_freq: 2.0 + 5.0 * phi(z[d]),
            pattern_angle: std::f64::consts::PI * phi(z[d + 1]),
            hue2: 0.0, // set below from hue
            lightness2: 0.0,
            context_hue: z[x + 1].atan2(z[x]).to_degrees().rem_euclid(360.0),
            context_lightness: 0.25 + 0.5 * phi(z[x + 2]),
            latent: latent.clone(),
        }
        .with_second_colour(z[c + 4])
    }

    fn with_second_colour(mut self, z: f64) -> Self {
        self.hue2 = (self.hue + 40.0 + 280.0 * phi(z)).rem_euclid(360.0);
        // Contrast: a dark main colour gets a light second one and vice versa.
        self.lightness2 = if self.lightness < 0.47 { 0.8 } else { 0.2 };
        self
    }
}

/// Standard normal CDF (Abramowitz–Stegun 26.2.17 via erf, |error| < 1.5e-7): maps a latent value to (0, 1).
fn phi(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs() / std::f64::consts::SQRT_2);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-(x * x) / 2.0).exp();
    if x >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

/// 64-bit FNV-1a of a concept name, to seed its increments independently of its position in any list.
pub(crate) fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Seeded standard normal draws (Box–Muller).
pub(crate) fn normals(rng: &mut ChaCha8Rng, n: usize) -> Vec<f64> {
    (0..n)
        .map(|_| {
            let u1: f64 = 1.0 - rng.random::<f64>();
            let u2: f64 = rng.random();
            (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
        })
        .collect()
}

/// Resolves wnids to concepts, rejecting unknown and repeated ones with the entry number.
pub fn resolve(tax: &Taxonomy, wnids: &[String]) -> Result<Vec<ConceptId>> {
    let mut seen = std::collections::HashMap::new();
    wnids
        .iter()
        .enumerate()
        .map(|(i, w)| {
            if let Some(first) = seen.insert(w.as_str(), i) {
                return Err(Error::Duplicate {
                    wnid: w.clone(),
                    first,
                    second: i,
                });
            }
            tax.id(w).map_err(|cause| Error::Concept {
                wnid: w.clone(),
                index: i,
                cause,
            })
        })
        .collect()
}

/// The IC "time" of every concept on the path and the seeded increments it adds.
struct Inheritance<'a> {
    tax: &'a Taxonomy,
    ic: InformationContent,
    seed: u64,
}

impl Inheritance<'_> {
    /// Latent vector of `leaf`: the sum of increments along its first (NLTK-order) hypernym path.
    fn latent(&self, leaf: ConceptId) -> Vec<f64> {
        let path = self.tax.hypernym_paths(leaf).swap_remove(0);
        let mut z = vec![0.0; LATENT_DIM];
        let mut t_prev = 0.0;
        for &q in &path {
            let t = if q == leaf {
                1.0
            } else {
                self.ic.ic(q).clamp(t_prev, 1.0)
            };
            let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ fnv1a(self.tax.name(q)));
            let draws = normals(&mut rng, LATENT_DIM);
            for band in &BANDS {
                let overlap = (t.min(band.end) - t_prev.max(band.start)).max(0.0);
                let scale = (band.var * overlap / (band.end - band.start)).sqrt();
                for k in band.dims() {
                    z[k] += scale * draws[k];
                }
            }
            t_prev = t;
        }
        z
    }
}

/// Visual factors of each concept, in the order given. Errors on unknown or repeated wnids.
pub fn visual_factors(tax: &Taxonomy, wnids: &[String], seed: u64) -> Result<Vec<VisualFactors>> {
    let ids = resolve(tax, wnids)?;
    let inh = Inheritance {
        tax,
        ic: InformationContent::intrinsic(tax),
        seed,
    };
    Ok(ids
        .into_iter()
        .map(|c| VisualFactors::from_latent(inh.latent(c)))
        .collect())
}

/// Expected squared latent distance of two shipped concepts whose lowest common ancestor has IC
/// time `t_lca` (see the module doc): the model the inheritance property test checks against.
pub fn expected_sq_distance(t_lca: f64) -> f64 {
    BANDS
        .iter()
        .map(|b| {
            2.0 * b.var * b.count as f64 * (b.end - t_lca.max(b.start)).max(0.0) / (b.end - b.start)
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phi_matches_known_values() {
        assert!((phi(0.0) - 0.5).abs() < 1e-9);
        assert!((phi(1.0) - 0.841_344_746).abs() < 1e-6);
        assert!((phi(-1.96) - 0.024_997_895).abs() < 1e-6);
    }

    #[test]
    fn expected_distance_decreases_with_lca_depth() {
        let v: Vec<f64> = (0..=10)
            .map(|i| expected_sq_distance(i as f64 / 10.0))
            .collect();
        assert_eq!(v[0], 2.0 * (2.0 * 6.0 + 4.0 + 5.0 + 4.0 + 2.0 + 3.0));
        assert_eq!(v[10], 0.0);
        assert!(v.windows(2).all(|w| w[0] > w[1]), "{v:?}");
    }

    #[test]
    fn instances_keep_the_concepts_distances_in_expectation() {
        // E|x_a - x_b|^2 = |f_a - f_b|^2 + 2 Σ_b sigma_b^2 count_b for independent instances x_a,
        // x_b: instance variation adds a constant, so the ordering by taxonomy distance is kept.
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let a = VisualFactors::unrelated(&mut rng);
        let b = VisualFactors::unrelated(&mut rng);
        let sigma = [0.0, 0.1, 0.45, 0.0, 0.8, 0.3];
        let n = 4000;
        let (mut mean_a, mut sq) = (vec![0.0; LATENT_DIM], 0.0);
        for _ in 0..n {
            let (xa, xb) = (a.instance(&mut rng, sigma), b.instance(&mut rng, sigma));
            for (m, x) in mean_a.iter_mut().zip(&xa.latent) {
                *m += x / n as f64;
            }
            sq += xa.distance(&xb).powi(2) / n as f64;
        }
        let added: f64 = BANDS
            .iter()
            .zip(sigma)
            .map(|(band, s)| 2.0 * s * s * band.count as f64)
            .sum();
        let expected = a.distance(&b).powi(2) + added;
        assert!(
            (sq - expected).abs() < 0.03 * expected,
            "{sq} vs {expected}"
        );
        let bias: f64 = mean_a
            .iter()
            .zip(&a.latent)
            .map(|(m, z)| (m - z).abs())
            .sum();
        assert!(
            bias < 0.1,
            "instances average to the concept: off by {bias}"
        );
        // Bands with sigma 0 never move, so outline and pattern type stay those of the concept.
        let x = a.instance(&mut rng, sigma);
        assert_eq!((x.family, x.pattern), (a.family, a.pattern));
    }

    #[test]
    fn normals_have_unit_variance() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let x = normals(&mut rng, 20_000);
        let mean = x.iter().sum::<f64>() / x.len() as f64;
        let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / x.len() as f64;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "mean {mean} var {var}"
        );
    }
}
