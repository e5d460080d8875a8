//! Rasterises one image of a concept: its [`VisualFactors`] are the class prototype; a per-image
//! seed draws the instance (the prototype's latent jittered, [`Variation::instance_sigma`]) and the
//! nuisance: pose, scale, position, background gradient, distractor objects in front of and
//! behind the object, colour jitter, effective resolution and pixel noise.

use std::f64::consts::{PI, TAU};

use image::RgbImage;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::factors::{Pattern, ShapeFamily, VisualFactors, N_BANDS};
use crate::{Error, Result};

/// How much the images of one concept vary and how cluttered and degraded they are: the knobs of
/// the set's difficulty. Coarse factors (outline) survive every nuisance; fine ones (colour, pattern)
/// are blurred by colour jitter and low resolution, as fine-grained cues are in photographs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variation {
    /// Standard deviation of the per-image jitter of the concept's latent vector in each band:
    /// shape family, geometry, colour, pattern type, pattern detail, context (latent units; the
    /// bands' variances at a concept are 2, 1, 1, 1, 1, 1).
    pub instance_sigma: [f64; N_BANDS],
    /// Radius range of the concept's object, as a fraction of the image side.
    pub object_radius: [f64; 2],
    /// Each image holds 0..=`max_distractors` smaller objects of no listed concept, each in front of
    /// (occluding) or behind the object with even odds.
    pub max_distractors: u32,
    /// Standard deviation of the per-image hue rotation of the whole image, in degrees.
    pub hue_jitter: f64,
    /// Largest relative per-image change (uniform ±) of saturation, contrast and brightness.
    pub tone_jitter: f64,
    /// Each image is drawn at a random fraction in `[min_resolution, 1]` of its side, then scaled up
    /// (bilinear): fine pattern detail is lost at the low end, outlines survive.
    pub min_resolution: f64,
    /// Largest standard deviation of the per-pixel noise (0..1 intensity scale).
    pub max_noise: f64,
}

impl Default for Variation {
    /// The built-in default, tuned so that a linear probe on EfficientNet-Lite0 features with 24
    /// training images per class neither saturates nor fails (crate README, *Measured*): instances
    /// vary in colour and pattern detail (the cues that tell siblings apart) but keep their
    /// outline and pattern type, so most mistakes go to near relatives.
    fn default() -> Self {
        Variation {
            instance_sigma: [0.0, 0.1, 0.45, 0.0, 0.8, 0.0],
            object_radius: [0.22, 0.36],
            max_distractors: 3,
            hue_jitter: 12.0,
            tone_jitter: 0.2,
            min_resolution: 0.4,
            max_noise: 0.04,
        }
    }
}

impl Variation {
    /// Every value is finite and in its range.
    pub(crate) fn validate(&self) -> Result<()> {
        let bad = |name: &'static str, value: String, hint: &'static str| {
            Err(Error::BadParam { name, value, hint })
        };
        if self
            .instance_sigma
            .iter()
            .any(|s| !(0.0..=10.0).contains(s))
        {
            return bad(
                "variation.instance_sigma",
                format!("{:?}", self.instance_sigma),
                "use six standard deviations between 0 and 10 (latent units)",
            );
        }
        let [r0, r1] = self.object_radius;
        if !(0.02..=0.5).contains(&r0) || !(r0..=0.5).contains(&r1) {
            return bad(
                "variation.object_radius",
                format!("{:?}", self.object_radius),
                "use [smallest, largest] with 0.02 <= smallest <= largest <= 0.5",
            );
        }
        if self.max_distractors > 16 {
            return bad(
                "variation.max_distractors",
                self.max_distractors.to_string(),
                "use at most 16 distractor objects per image",
            );
        }
        if !(0.0..=180.0).contains(&self.hue_jitter) {
            return bad(
                "variation.hue_jitter",
                self.hue_jitter.to_string(),
                "use a standard deviation between 0 and 180 degrees",
            );
        }
        if !(0.0..=0.9).contains(&self.tone_jitter) {
            return bad(
                "variation.tone_jitter",
                self.tone_jitter.to_string(),
                "use a relative change between 0 and 0.9",
            );
        }
        if !(self.min_resolution > 0.0 && self.min_resolution <= 1.0) {
            return bad(
                "variation.min_resolution",
                self.min_resolution.to_string(),
                "use a fraction of the image side in (0, 1]",
            );
        }
        if !(0.0..=0.5).contains(&self.max_noise) {
            return bad(
                "variation.max_noise",
                self.max_noise.to_string(),
                "use a noise standard deviation between 0 and 0.5",
            );
        }
        Ok(())
    }
}

/// An object placed in the scene (coordinates in pixels of the drawing resolution).
struct Placed {
    factors: VisualFactors,
    radius: f64,
    centre: (f64, f64),
    /// Sine and cosine of the rotation.
    rotation: (f64, f64),
    sqrt_aspect: f64,
    main: [f64; 3],
    second: [f64; 3],
}

impl Placed {
    fn new(factors: VisualFactors, radius: f64, centre: (f64, f64), rotation: f64) -> Self {
        let main = hsl(factors.hue, factors.saturation, factors.lightness);
        let second = hsl(factors.hue2, factors.saturation, factors.lightness2);
        Placed {
            sqrt_aspect: factors.aspect.sqrt(),
            factors,
            radius,
            centre,
            rotation: rotation.sin_cos(),
            main,
            second,
        }
    }

    /// Object-frame coordinates (outline within radius ~1) of the point `(x, y)`.
    fn local(&self, x: f64, y: f64) -> (f64, f64) {
        let (dx, dy) = (
            (x - self.centre.0) / self.radius,
            (y - self.centre.1) / self.radius,
        );
        let (rs, rc) = self.rotation;
        (
            (dx * rc + dy * rs) / self.sqrt_aspect,
            (-dx * rs + dy * rc) * self.sqrt_aspect,
        )
    }

    fn covers(&self, x: f64, y: f64) -> bool {
        // Every outline lies within radius 1 of the object frame, so within this circle in pixels.
        let reach = self.radius * self.sqrt_aspect.max(1.0 / self.sqrt_aspect);
        let (dx, dy) = (x - self.centre.0, y - self.centre.1);
        if dx * dx + dy * dy > reach * reach {
            return false;
        }
        let (u, v) = self.local(x, y);
        inside(&self.factors, u, v)
    }

    fn colour(&self, x: f64, y: f64) -> [f64; 3] {
        let (u, v) = self.local(x, y);
        surface(&self.factors, u, v, self.main, self.second)
    }
}

/// Everything of one image but its pixels, drawn from the image's own seed.
struct Scene {
    /// Drawing resolution (pixels per side), at most the output side.
    side: usize,
    /// Objects in drawing order (later ones occlude earlier ones); one of them is the concept's.
    objects: Vec<Placed>,
    bg_a: [f64; 3],
    bg_b: [f64; 3],
    bg_angle: (f64, f64),
    tone: Tone,
    noise_sigma: f64,
}

impl Scene {
    fn draw(f: &VisualFactors, size: u32, rng: &mut ChaCha8Rng, var: &Variation) -> Self {
        let side = ((size as f64 * rng.random_range(var.min_resolution..=1.0)).round() as usize)
            .clamp(8, size as usize);
        let s = side as f64;
        // Background: two colours around the concept's context (hue within ±40°, lightness within
        // ±0.2), so whole branches share surroundings while each image has its own.
        let bg = |rng: &mut ChaCha8Rng| {
            hsl(
                f.context_hue + rng.random_range(-40.0..40.0),
                rng.random_range(0.1..0.5),
                (f.context_lightness + rng.random_range(-0.2..0.2)).clamp(0.1, 0.9),
            )
        };
        let instance = f.instance(rng, var.instance_sigma);
        let [r0, r1] = var.object_radius;
        let object = Placed::new(
            instance,
            rng.random_range(r0..=r1) * s,
            (
                rng.random_range(0.36..0.64) * s,
                rng.random_range(0.36..0.64) * s,
            ),
            rng.random_range(0.0..TAU),
        );
        let n_distractors = rng.random_range(0..=var.max_distractors);
        let (mut behind, mut front) = (Vec::new(), Vec::new());
        for _ in 0..n_distractors {
            // Clutter rather than a second subject: plain and greyish, so it occludes and distracts
            // without lending a texture (the cue an ImageNet backbone weighs most) of its own.
            let mut clutter = VisualFactors::unrelated(rng);
            clutter.pattern = Pattern::Plain;
            clutter.saturation *= 0.3;
            let d = Placed::new(
                clutter,
                rng.random_range(0.07..0.16) * s,
                (
                    rng.random_range(0.05..0.95) * s,
                    rng.random_range(0.05..0.95) * s,
                ),
                rng.random_range(0.0..TAU),
            );
            if rng.random_bool(0.5) {
                front.push(d);
            } else {
                behind.push(d);
            }
        }
        let mut objects = behind;
        objects.push(object);
        objects.extend(front);
        Scene {
            side,
            objects,
            bg_a: bg(rng),
            bg_b: bg(rng),
            bg_angle: rng.random_range(0.0..TAU).sin_cos(),
            tone: Tone::draw(rng, var),
            noise_sigma: rng.random_range(0.0..=var.max_noise),
        }
    }

    /// Index of the top object at `(x, y)`, if any.
    fn top(&self, x: f64, y: f64) -> Option<usize> {
        (0..self.objects.len())
            .rev()
            .find(|&i| self.objects[i].covers(x, y))
    }

    fn background(&self, x: f64, y: f64) -> [f64; 3] {
        let s = self.side as f64;
        let (gs, gc) = self.bg_angle;
        let g = (((x / s - 0.5) * gc + (y / s - 0.5) * gs + 0.7) / 1.4).clamp(0.0, 1.0);
        [0, 1, 2].map(|k| self.bg_a[k] * (1.0 - g) + self.bg_b[k] * g)
    }

    fn colour(&self, x: f64, y: f64, top: Option<usize>) -> [f64; 3] {
        match top {
            Some(i) => self.objects[i].colour(x, y),
            None => self.background(x, y),
        }
    }

    /// The scene at its drawing resolution, colour-jittered; outline pixels get 2×2 supersampling.
    fn rasterise(&self) -> RgbImage {
        let n = self.side;
        let ids: Vec<Option<usize>> = (0..n * n)
            .map(|i| self.top((i % n) as f64 + 0.5, (i / n) as f64 + 0.5))
            .collect();
        let on_edge = |px: usize, py: usize| {
            let m = ids[py * n + px];
            (px > 0 && ids[py * n + px - 1] != m)
                || (px + 1 < n && ids[py * n + px + 1] != m)
                || (py > 0 && ids[(py - 1) * n + px] != m)
                || (py + 1 < n && ids[(py + 1) * n + px] != m)
        };
        const SUB: [f64; 2] = [0.25, 0.75];
        let mut img = RgbImage::new(n as u32, n as u32);
        for (py, row) in img.rows_mut().enumerate() {
            for (px, pixel) in row.enumerate() {
                let (x0, y0) = (px as f64, py as f64);
                let col = if on_edge(px, py) {
                    let mut acc = [0.0; 3];
                    for sy in SUB {
                        for sx in SUB {
                            let (x, y) = (x0 + sx, y0 + sy);
                            let c = self.colour(x, y, self.top(x, y));
                            for (a, c) in acc.iter_mut().zip(c) {
                                *a += c / 4.0;
                            }
                        }
                    }
                    acc
                } else {
                    self.colour(x0 + 0.5, y0 + 0.5, ids[py * n + px])
                };
                let col = self.tone.apply(col);
                for (out, c) in pixel.0.iter_mut().zip(col) {
                    *out = (c.clamp(0.0, 1.0) * 255.0).round() as u8;
                }
            }
        }
        img
    }
}

/// Per-image colour jitter of the whole image: hue rotation about the grey axis, then
/// saturation, contrast and brightness.
struct Tone {
    /// Hue rotation as a 3×3 matrix acting on RGB.
    rotation: [[f64; 3]; 3],
    saturation: f64,
    contrast: f64,
    brightness: f64,
}

impl Tone {
    fn draw(rng: &mut ChaCha8Rng, var: &Variation) -> Self {
        let angle = var.hue_jitter.to_radians() * crate::factors::normals(rng, 1)[0];
        let mut jitter = || 1.0 + var.tone_jitter * rng.random_range(-1.0..=1.0);
        Tone {
            rotation: hue_rotation(angle),
            saturation: jitter(),
            contrast: jitter(),
            brightness: jitter(),
        }
    }

    fn apply(&self, c: [f64; 3]) -> [f64; 3] {
        let r = self
            .rotation
            .map(|row| row[0] * c[0] + row[1] * c[1] + row[2] * c[2]);
        let grey = (r[0] + r[1] + r[2]) / 3.0;
        r.map(|x| {
            let saturated = grey + self.saturation * (x - grey);
            (0.5 + self.contrast * (saturated - 0.5)) * self.brightness
        })
    }
}

/// Rotation by `angle` radians about the grey axis (1, 1, 1)/√3 (Rodrigues): a hue shift that
/// keeps greys grey.
fn hue_rotation(angle: f64) -> [[f64; 3]; 3] {
    let (s, c) = angle.sin_cos();
    let k = 1.0 / 3f64.sqrt();
    let (a, b) = (c + (1.0 - c) / 3.0, (1.0 - c) / 3.0);
    [
        [a, b - k * s, b + k * s],
        [b + k * s, a, b - k * s],
        [b - k * s, b + k * s, a],
    ]
}

/// HSL (hue in degrees, s and l in 0..1) to linear-ish RGB in 0..1.
fn hsl(h: f64, s: f64, l: f64) -> [f64; 3] {
    let c = (1.0 - (2.0 * l - 1.0).abs()) * s;
    let hp = h.rem_euclid(360.0) / 60.0;
    let x = c * (1.0 - (hp.rem_euclid(2.0) - 1.0).abs());
    let (r, g, b) = match hp as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = l - c / 2.0;
    [r + m, g + m, b + m]
}

/// Whether the point `(u, v)` (object frame, radius ~1) lies inside the outline.
fn inside(f: &VisualFactors, u: f64, v: f64) -> bool {
    let rho = (u * u + v * v).sqrt();
    let ang = v.atan2(u);
    let n = f.vertices as f64;
    // Regular n-gon radius at angle `ang`, blended towards a circle by roundness.
    let polygon = |ang: f64| {
        let sector = TAU / n;
        let a = ang.rem_euclid(sector) - sector / 2.0;
        let r = (PI / n).cos() / a.cos();
        r + (1.0 - r) * f.roundness * 0.7
    };
    match f.family {
        ShapeFamily::Polygon => rho <= polygon(ang),
        ShapeFamily::Star => {
            let points = n + 2.0;
            let wave = 0.5 + 0.5 * (points * ang).cos();
            let sharp = wave.powf(1.0 + 2.0 * (1.0 - f.roundness));
            rho <= 1.0 - (0.25 + 0.4 * f.lobe) * (1.0 - sharp)
        }
        ShapeFamily::Blob => {
            let r = 0.82
                + 0.12 * (n * ang).sin() * (0.4 + 0.6 * f.lobe)
                + 0.06 * ((n - 1.0) * ang + 1.3).cos();
            rho <= r
        }
        ShapeFamily::Asterisk => {
            let sector = TAU / n;
            let a = ang.rem_euclid(sector);
            let off = a.min(sector - a);
            let half_width = 0.12 + 0.18 * f.lobe;
            rho <= 1.0 && rho * off.sin() <= half_width || rho <= half_width * (1.0 + f.roundness)
        }
        ShapeFamily::Ring => {
            let outer = polygon(ang);
            rho <= outer && rho >= outer * (0.3 + 0.35 * f.lobe)
        }
        ShapeFamily::Crescent => {
            let d = 0.35 + 0.4 * f.lobe;
            let (du, dv) = (u - d, v - 0.15 * f.roundness);
            rho <= 0.95 && (du * du + dv * dv).sqrt() >= 0.8
        }
    }
}

/// Colour of the object surface at `(u, v)`.
fn surface(f: &VisualFactors, u: f64, v: f64, main: [f64; 3], second: [f64; 3]) -> [f64; 3] {
    let (s, c) = f.pattern_angle.sin_cos();
    let (pu, pv) = (u * c + v * s, -u * s + v * c);
    let freq = f.pattern_freq;
    let use_second = match f.pattern {
        Pattern::Plain => false,
        Pattern::Stripes => (PI * freq * pu).sin() > 0.0,
        Pattern::Dots => {
            let period = 2.0 / freq;
            let du = pu.rem_euclid(period) - period / 2.0;
            let dv = pv.rem_euclid(period) - period / 2.0;
            du * du + dv * dv < (0.3 * period).powi(2)
        }
        Pattern::Checker => ((freq * pu / 2.0).floor() + (freq * pv / 2.0).floor()) as i64 % 2 == 0,
    };
    if use_second {
        second
    } else if f.pattern == Pattern::Plain {
        // Plain objects get soft radial shading instead.
        let k = 1.0 - 0.3 * (u * u + v * v).min(1.0);
        main.map(|x| x * k)
    } else {
        main
    }
}

/// Cheap per-pixel noise source (xorshift64*), seeded from the image's ChaCha stream: a
/// cryptographic generator per pixel would dominate the rendering time.
struct PixelNoise(u64);

impl PixelNoise {
    /// Triangular noise with unit standard deviation.
    fn next(&mut self) -> f64 {
        let mut draw = || {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
        };
        (draw() + draw() - 1.0) * 6f64.sqrt()
    }
}

/// Renders a `size`×`size` RGB image of one instance of the concept with factors `f`; the
/// instance and the nuisance come from `image_seed`, their amounts from `var`.
pub fn render(f: &VisualFactors, size: u32, image_seed: u64, var: &Variation) -> RgbImage {
    let mut rng = ChaCha8Rng::seed_from_u64(image_seed);
    let scene = Scene::draw(f, size, &mut rng, var);
    let mut noise = PixelNoise(rng.random::<u64>() | 1);
    let mut img = scene.rasterise();
    if scene.side < size as usize {
        img = image::imageops::resize(&img, size, size, image::imageops::FilterType::Triangle);
    }
    for pixel in img.pixels_mut() {
        for out in pixel.0.iter_mut() {
            let val = *out as f64 / 255.0 + scene.noise_sigma * noise.next();
            *out = (val.clamp(0.0, 1.0) * 255.0).round() as u8;
        }
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hsl_primaries() {
        let close = |a: [f64; 3], b: [f64; 3]| a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-12);
        assert!(close(hsl(0.0, 1.0, 0.5), [1.0, 0.0, 0.0]));
        assert!(close(hsl(120.0, 1.0, 0.5), [0.0, 1.0, 0.0]));
        assert!(close(hsl(240.0, 1.0, 0.5), [0.0, 0.0, 1.0]));
        assert!(close(hsl(77.0, 0.0, 0.3), [0.3, 0.3, 0.3]));
    }

    #[test]
    fn hue_rotation_keeps_greys_and_cycles_primaries() {
        let apply = |m: [[f64; 3]; 3], c: [f64; 3]| {
            m.map(|row| row[0] * c[0] + row[1] * c[1] + row[2] * c[2])
        };
        let close = |a: [f64; 3], b: [f64; 3]| a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-12);
        for angle in [0.3, -1.0, 2.5] {
            assert!(close(apply(hue_rotation(angle), [0.4; 3]), [0.4; 3]));
        }
        // A third of a turn maps red to green to blue, as a 120° hue shift does.
        let third = hue_rotation(std::f64::consts::TAU / 3.0);
        assert!(close(apply(third, [1.0, 0.0, 0.0]), [0.0, 1.0, 0.0]));
        assert!(close(apply(third, [0.0, 1.0, 0.0]), [0.0, 0.0, 1.0]));
        assert!(close(
            apply(hue_rotation(0.0), [0.2, 0.5, 0.9]),
            [0.2, 0.5, 0.9]
        ));
    }

    #[test]
    fn out_of_range_variation_is_refused() {
        assert!(Variation::default().validate().is_ok());
        let bad = [
            Variation {
                instance_sigma: [0.1, -0.1, 0.0, 0.0, 0.0, 0.0],
                ..Variation::default()
            },
            Variation {
                object_radius: [0.3, 0.2],
                ..Variation::default()
            },
            Variation {
                min_resolution: 0.0,
                ..Variation::default()
            },
            Variation {
                hue_jitter: f64::NAN,
                ..Variation::default()
            },
            Variation {
                max_noise: 0.7,
                ..Variation::default()
            },
        ];
        for v in bad {
            let err = v.validate().unwrap_err();
            assert!(err.to_string().contains("variation."), "{err}");
        }
    }
}
