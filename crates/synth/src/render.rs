//! Rasterises one image of a concept: its [`VisualFactors`] fix the object, a per-image seed fixes
//! the nuisance (rotation, scale, position, background gradient, brightness, pixel noise).

use std::f64::consts::{PI, TAU};

use image::RgbImage;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::factors::{Pattern, ShapeFamily, VisualFactors};

/// Per-image nuisance, drawn from the image's own seed.
struct Nuisance {
    rotation: f64,
    /// Object radius as a fraction of the image size.
    radius: f64,
    centre: (f64, f64),
    bg_a: [f64; 3],
    bg_b: [f64; 3],
    bg_angle: f64,
    brightness: f64,
    noise_sigma: f64,
}

impl Nuisance {
    fn draw(rng: &mut ChaCha8Rng) -> Self {
        let bg = |rng: &mut ChaCha8Rng| {
            hsl(
                rng.random_range(0.0..360.0),
                rng.random_range(0.0..0.35),
                rng.random_range(0.25..0.85),
            )
        };
        Nuisance {
            rotation: rng.random_range(0.0..TAU),
            radius: rng.random_range(0.26..0.40),
            centre: (rng.random_range(0.38..0.62), rng.random_range(0.38..0.62)),
            bg_a: bg(rng),
            bg_b: bg(rng),
            bg_angle: rng.random_range(0.0..TAU),
            brightness: rng.random_range(0.88..1.12),
            noise_sigma: rng.random_range(0.01..0.04),
        }
    }
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

/// Renders a `size`×`size` RGB image of the concept with factors `f`, nuisance from `image_seed`.
pub fn render(f: &VisualFactors, size: u32, image_seed: u64) -> RgbImage {
    let mut rng = ChaCha8Rng::seed_from_u64(image_seed);
    let nz = Nuisance::draw(&mut rng);
    let mut noise = PixelNoise(rng.random::<u64>() | 1);
    let main = hsl(f.hue, f.saturation, f.lightness).map(|x| (x * nz.brightness).min(1.0));
    let second = hsl(f.hue2, f.saturation, f.lightness2).map(|x| (x * nz.brightness).min(1.0));
    let sz = size as f64;
    let radius = nz.radius * sz;
    let (cx, cy) = (nz.centre.0 * sz, nz.centre.1 * sz);
    let (rs, rc) = nz.rotation.sin_cos();
    let sqrt_aspect = f.aspect.sqrt();
    let (gs, gc) = nz.bg_angle.sin_cos();
    let local = |x: f64, y: f64| {
        let (dx, dy) = ((x - cx) / radius, (y - cy) / radius);
        (
            (dx * rc + dy * rs) / sqrt_aspect,
            (-dx * rs + dy * rc) * sqrt_aspect,
        )
    };
    let background = |x: f64, y: f64| {
        let g = (((x / sz - 0.5) * gc + (y / sz - 0.5) * gs + 0.7) / 1.4).clamp(0.0, 1.0);
        [0, 1, 2].map(|k| nz.bg_a[k] * (1.0 - g) + nz.bg_b[k] * g)
    };
    let colour = |x: f64, y: f64, is_in: bool| {
        let (u, v) = local(x, y);
        if is_in {
            surface(f, u, v, main, second)
        } else {
            background(x, y)
        }
    };
    let n = size as usize;
    // Outline test at pixel centres; pixels on the outline get 2x2 supersampling (anti-aliasing).
    let mask: Vec<bool> = (0..n * n)
        .map(|i| {
            let (u, v) = local((i % n) as f64 + 0.5, (i / n) as f64 + 0.5);
            inside(f, u, v)
        })
        .collect();
    let on_edge = |px: usize, py: usize| {
        let m = mask[py * n + px];
        (px > 0 && mask[py * n + px - 1] != m)
            || (px + 1 < n && mask[py * n + px + 1] != m)
            || (py > 0 && mask[(py - 1) * n + px] != m)
            || (py + 1 < n && mask[(py + 1) * n + px] != m)
    };
    const SUB: [f64; 2] = [0.25, 0.75];
    let mut img = RgbImage::new(size, size);
    for (py, row) in img.rows_mut().enumerate() {
        for (px, pixel) in row.enumerate() {
            let (x0, y0) = (px as f64, py as f64);
            let col = if on_edge(px, py) {
                let mut acc = [0.0; 3];
                for sy in SUB {
                    for sx in SUB {
                        let (x, y) = (x0 + sx, y0 + sy);
                        let (u, v) = local(x, y);
                        let c = colour(x, y, inside(f, u, v));
                        for (a, c) in acc.iter_mut().zip(c) {
                            *a += c / 4.0;
                        }
                    }
                }
                acc
            } else {
                colour(x0 + 0.5, y0 + 0.5, mask[py * n + px])
            };
            for (out, c) in pixel.0.iter_mut().zip(col) {
                let val = c + nz.noise_sigma * noise.next();
                *out = (val.clamp(0.0, 1.0) * 255.0).round() as u8;
            }
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
}
