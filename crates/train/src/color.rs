//! Photometric augmentation of MoCo-v2 (and SimCLR/BYOL): colour jitter, random grayscale and
//! Gaussian blur, as torchvision defines them on float images (`transforms/_functional_tensor.py`:
//! `adjust_brightness/contrast/saturation/hue`, `rgb_to_grayscale`, `gaussian_blur`;
//! `ColorJitter.get_params`, `RandomApply`, `RandomGrayscale`, `GaussianBlur`).
//!
//! The ops work on a CHW image of `f32` in [0, 1] ([`FloatImage`]); [`ColorAugmentation::apply`]
//! takes the 8-bit crop, converts it (`v / 255`), applies the drawn ops and converts back with
//! torchvision's `convert_image_dtype` rule (`⌊v · 255.999⌋`). The random choices come from the
//! caller's generator, keyed by (seed, epoch, sample index) like every other augmentation.
//! Draw order: jitter applied? (p), the order of the four ops (a permutation), the four factors
//! (brightness, contrast, saturation, hue — all drawn, as torchvision does), grayscale? (p),
//! blur? (p), σ.

use image::RgbImage;
use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// torchvision's `ColorJitter(brightness, contrast, saturation, hue)`: factors uniform in
/// [max(0, 1 − x), 1 + x] (hue: [−hue, hue], hue ≤ 0.5), applied in a random order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColorJitter {
    /// Brightness strength (0 = off).
    pub brightness: f64,
    /// Contrast strength (0 = off).
    pub contrast: f64,
    /// Saturation strength (0 = off).
    pub saturation: f64,
    /// Hue shift bound, a fraction of the colour circle, at most 0.5 (0 = off).
    pub hue: f64,
}

/// torchvision's `GaussianBlur(kernel_size, sigma)`: σ uniform in `sigma`, a separable
/// `kernel_size` × `kernel_size` Gaussian with reflect padding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GaussianBlur {
    /// Odd kernel side.
    pub kernel_size: usize,
    /// Range of σ (pixels).
    pub sigma: (f64, f64),
}

/// The photometric ops of one view, each applied with its probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColorAugmentation {
    /// Colour jitter and its probability (`RandomApply([ColorJitter(...)], p)`).
    pub jitter: Option<(ColorJitter, f64)>,
    /// Probability of converting to grayscale (`RandomGrayscale(p)`, 3 channels kept).
    pub grayscale: f64,
    /// Gaussian blur and its probability.
    pub blur: Option<(GaussianBlur, f64)>,
}

impl ColorAugmentation {
    /// MoCo-v2's ops for crops of side `size`: jitter (0.4, 0.4, 0.4, 0.1) with p = 0.8,
    /// grayscale p = 0.2, blur σ ∈ [0.1, 2]·size/224 with p = 0.5. The reference blurs 224 px
    /// crops; smaller crops (CPU training) get σ scaled with the side so that the blur removes
    /// the same share of the image's detail. The kernel covers ±3σ_max (13 at 224 px).
    pub fn moco_v2(size: u32) -> Self {
        let scale = size as f64 / 224.0;
        let sigma = (0.1 * scale, 2.0 * scale);
        ColorAugmentation {
            jitter: Some((
                ColorJitter {
                    brightness: 0.4,
                    contrast: 0.4,
                    saturation: 0.4,
                    hue: 0.1,
                },
                0.8,
            )),
            grayscale: 0.2,
            blur: Some((
                GaussianBlur {
                    kernel_size: 2 * (3.0 * sigma.1).ceil() as usize + 1,
                    sigma,
                },
                0.5,
            )),
        }
    }

    /// Checks the ranges torchvision enforces; the error names the value.
    pub fn check(&self) -> Result<(), String> {
        let prob = |name: &str, p: f64| {
            if (0.0..=1.0).contains(&p) {
                Ok(())
            } else {
                Err(format!("{name} probability {p} is not in [0, 1]"))
            }
        };
        if let Some((j, p)) = &self.jitter {
            prob("colour jitter", *p)?;
            for (name, v) in [
                ("brightness", j.brightness),
                ("contrast", j.contrast),
                ("saturation", j.saturation),
            ] {
                if !(v.is_finite() && v >= 0.0) {
                    return Err(format!("colour jitter {name} {v} must be ≥ 0"));
                }
            }
            if !(0.0..=0.5).contains(&j.hue) {
                return Err(format!("colour jitter hue {} is not in [0, 0.5]", j.hue));
            }
        }
        prob("grayscale", self.grayscale)?;
        if let Some((b, p)) = &self.blur {
            prob("blur", *p)?;
            if b.kernel_size % 2 == 0 {
                return Err(format!("blur kernel size {} must be odd", b.kernel_size));
            }
            if !(b.sigma.0 > 0.0 && b.sigma.0 <= b.sigma.1 && b.sigma.1.is_finite()) {
                return Err(format!("blur σ range {:?} must be 0 < min ≤ max", b.sigma));
            }
        }
        Ok(())
    }

    /// The ops drawn for one view (see the module documentation for the order of the draws).
    pub fn draw(&self, rng: &mut impl Rng) -> Vec<ColorOp> {
        let mut ops = Vec::new();
        if let Some((j, p)) = &self.jitter {
            if rng.random::<f64>() < *p {
                let mut order = [0usize, 1, 2, 3];
                order.shuffle(rng);
                let mut factor = |x: f64| {
                    if x > 0.0 {
                        Some(rng.random_range((1.0 - x).max(0.0)..=1.0 + x))
                    } else {
                        None
                    }
                };
                let b = factor(j.brightness);
                let c = factor(j.contrast);
                let s = factor(j.saturation);
                let h = (j.hue > 0.0).then(|| rng.random_range(-j.hue..=j.hue));
                for k in order {
                    let op = match k {
                        0 => b.map(ColorOp::Brightness),
                        1 => c.map(ColorOp::Contrast),
                        2 => s.map(ColorOp::Saturation),
                        _ => h.map(ColorOp::Hue),
                    };
                    ops.extend(op);
                }
            }
        }
        if rng.random::<f64>() < self.grayscale {
            ops.push(ColorOp::Grayscale);
        }
        if let Some((b, p)) = &self.blur {
            if rng.random::<f64>() < *p {
                let sigma = rng.random_range(b.sigma.0..=b.sigma.1);
                ops.push(ColorOp::Blur {
                    kernel_size: b.kernel_size,
                    sigma,
                });
            }
        }
        ops
    }

    /// `img` with the ops drawn from `rng` (8 bits in and out).
    pub fn apply(&self, img: &RgbImage, rng: &mut impl Rng) -> RgbImage {
        let ops = self.draw(rng);
        if ops.is_empty() {
            return img.clone();
        }
        let mut x = FloatImage::from_rgb(img);
        for op in &ops {
            op.apply(&mut x);
        }
        x.to_rgb()
    }
}

/// One photometric op with its drawn parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ColorOp {
    /// `adjust_brightness(img, f)`.
    Brightness(f64),
    /// `adjust_contrast(img, f)`.
    Contrast(f64),
    /// `adjust_saturation(img, f)`.
    Saturation(f64),
    /// `adjust_hue(img, h)`.
    Hue(f64),
    /// `rgb_to_grayscale(img, num_output_channels=3)`.
    Grayscale,
    /// `gaussian_blur(img, [k, k], [σ, σ])`.
    Blur {
        /// Odd kernel side.
        kernel_size: usize,
        /// Standard deviation in pixels.
        sigma: f64,
    },
}

impl ColorOp {
    /// Applies the op in place.
    pub fn apply(&self, x: &mut FloatImage) {
        match *self {
            ColorOp::Brightness(f) => x.blend_with(f, |_, _| 0.0),
            ColorOp::Contrast(f) => {
                let gray = x.gray();
                let mean = (gray.iter().map(|&v| v as f64).sum::<f64>() / gray.len() as f64) as f32;
                x.blend_with(f, |_, _| mean);
            }
            ColorOp::Saturation(f) => {
                let gray = x.gray();
                x.blend_with(f, |_, i| gray[i]);
            }
            ColorOp::Hue(h) => x.shift_hue(h as f32),
            ColorOp::Grayscale => {
                let gray = x.gray();
                for c in 0..3 {
                    x.plane_mut(c).copy_from_slice(&gray);
                }
            }
            ColorOp::Blur { kernel_size, sigma } => x.blur(kernel_size, sigma),
        }
    }
}

/// A CHW RGB image of `f32` in [0, 1] (torchvision's float image tensor).
#[derive(Debug, Clone, PartialEq)]
pub struct FloatImage {
    /// Width.
    pub width: usize,
    /// Height.
    pub height: usize,
    /// `3 × height × width` values, channel-major.
    pub data: Vec<f32>,
}

impl FloatImage {
    /// `ToTensor`: `v / 255`.
    pub fn from_rgb(img: &RgbImage) -> Self {
        let (w, h) = (img.width() as usize, img.height() as usize);
        let mut data = vec![0f32; 3 * w * h];
        for (i, px) in img.pixels().enumerate() {
            for c in 0..3 {
                data[c * w * h + i] = px.0[c] as f32 / 255.0;
            }
        }
        FloatImage {
            width: w,
            height: h,
            data,
        }
    }

    /// `convert_image_dtype(img, torch.uint8)`: `⌊v · 255.999⌋`.
    pub fn to_rgb(&self) -> RgbImage {
        let plane = self.width * self.height;
        RgbImage::from_fn(self.width as u32, self.height as u32, |x, y| {
            let i = y as usize * self.width + x as usize;
            image::Rgb(std::array::from_fn(|c| {
                (self.data[c * plane + i] * 255.999).clamp(0.0, 255.0) as u8
            }))
        })
    }

    fn plane_mut(&mut self, c: usize) -> &mut [f32] {
        let plane = self.width * self.height;
        &mut self.data[c * plane..(c + 1) * plane]
    }

    /// `0.2989 r + 0.587 g + 0.114 b` per pixel.
    fn gray(&self) -> Vec<f32> {
        let plane = self.width * self.height;
        let (r, rest) = self.data.split_at(plane);
        let (g, b) = rest.split_at(plane);
        (0..plane)
            .map(|i| 0.2989 * r[i] + 0.587 * g[i] + 0.114 * b[i])
            .collect()
    }

    /// torchvision's `_blend`: `clamp(f · x + (1 − f) · other, 0, 1)`, `other(channel, pixel)`.
    fn blend_with(&mut self, f: f64, other: impl Fn(usize, usize) -> f32) {
        let (a, b) = (f as f32, (1.0 - f) as f32);
        let plane = self.width * self.height;
        for (k, v) in self.data.iter_mut().enumerate() {
            *v = (a * *v + b * other(k / plane, k % plane)).clamp(0.0, 1.0);
        }
    }

    /// `adjust_hue`: RGB → HSV, `h = (h + shift) mod 1`, HSV → RGB (torchvision's `_rgb2hsv`,
    /// `_hsv2rgb`).
    fn shift_hue(&mut self, shift: f32) {
        let plane = self.width * self.height;
        for i in 0..plane {
            let (r, g, b) = (self.data[i], self.data[plane + i], self.data[2 * plane + i]);
            let maxc = r.max(g).max(b);
            let minc = r.min(g).min(b);
            let eqc = maxc == minc;
            let cr = maxc - minc;
            let s = cr / if eqc { 1.0 } else { maxc };
            let div = if eqc { 1.0 } else { cr };
            let (rc, gc, bc) = ((maxc - r) / div, (maxc - g) / div, (maxc - b) / div);
            let h = if maxc == r {
                bc - gc
            } else if maxc == g {
                2.0 + rc - bc
            } else {
                4.0 + gc - rc
            };
            let h = ((h / 6.0 + 1.0) % 1.0 + shift).rem_euclid(1.0);
            let v = maxc;
            let hi = (h * 6.0).floor();
            let f = h * 6.0 - hi;
            let p = (v * (1.0 - s)).clamp(0.0, 1.0);
            let q = (v * (1.0 - s * f)).clamp(0.0, 1.0);
            let t = (v * (1.0 - s * (1.0 - f))).clamp(0.0, 1.0);
            let (r, g, b) = match (hi as i32).rem_euclid(6) {
                0 => (v, t, p),
                1 => (q, v, p),
                2 => (p, v, t),
                3 => (p, q, v),
                4 => (t, p, v),
                _ => (v, p, q),
            };
            self.data[i] = r;
            self.data[plane + i] = g;
            self.data[2 * plane + i] = b;
        }
    }

    /// `gaussian_blur` with a `k`×`k` kernel: the normalised 1-D Gaussian at
    /// `linspace(−(k−1)/2, (k−1)/2, k)`, applied along rows then columns (the 2-D kernel is their
    /// outer product), reflect padding (the edge pixel not repeated).
    fn blur(&mut self, k: usize, sigma: f64) {
        let half = (k - 1) as f32 * 0.5;
        let sigma = sigma as f32;
        let pdf: Vec<f32> = (0..k)
            .map(|i| {
                let x = (i as f32 - half) / sigma;
                (-0.5 * x * x).exp()
            })
            .collect();
        let sum: f32 = pdf.iter().sum();
        let kernel: Vec<f32> = pdf.iter().map(|v| v / sum).collect();
        let (w, h) = (self.width, self.height);
        let r = (k / 2) as isize;
        let reflect = |i: isize, n: usize| -> usize {
            let n = n as isize;
            let mut i = i;
            if i < 0 {
                i = -i;
            }
            if i >= n {
                i = 2 * (n - 1) - i;
            }
            i.clamp(0, n - 1) as usize
        };
        let mut tmp = vec![0f32; w * h];
        for c in 0..3 {
            let src = self.plane_mut(c).to_vec();
            for y in 0..h {
                for x in 0..w {
                    tmp[y * w + x] = kernel
                        .iter()
                        .enumerate()
                        .map(|(t, kv)| kv * src[y * w + reflect(x as isize + t as isize - r, w)])
                        .sum();
                }
            }
            let dst = self.plane_mut(c);
            for y in 0..h {
                for x in 0..w {
                    dst[y * w + x] = kernel
                        .iter()
                        .enumerate()
                        .map(|(t, kv)| kv * tmp[reflect(y as isize + t as isize - r, h) * w + x])
                        .sum();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augment::SampleRng;

    #[test]
    fn moco_v2_ranges_and_draws() {
        let aug = ColorAugmentation::moco_v2(224);
        aug.check().unwrap();
        assert_eq!(aug.blur.as_ref().unwrap().0.kernel_size, 13);
        let small = ColorAugmentation::moco_v2(64);
        small.check().unwrap();
        assert_eq!(small.blur.as_ref().unwrap().0.kernel_size, 5);
        // Over many draws each op appears about as often as its probability says.
        let (mut jitter, mut gray, mut blur) = (0, 0, 0);
        for i in 0..2000 {
            let ops = aug.draw(SampleRng::new("t", 0, 0, i).rng());
            jitter += ops.iter().any(|o| matches!(o, ColorOp::Hue(_))) as usize;
            gray += ops.contains(&ColorOp::Grayscale) as usize;
            blur += ops.iter().any(|o| matches!(o, ColorOp::Blur { .. })) as usize;
            for o in ops {
                match o {
                    ColorOp::Brightness(f) | ColorOp::Contrast(f) | ColorOp::Saturation(f) => {
                        assert!((0.6..=1.4).contains(&f))
                    }
                    ColorOp::Hue(h) => assert!((-0.1..=0.1).contains(&h)),
                    ColorOp::Blur { sigma, .. } => assert!((0.1..=2.0).contains(&sigma)),
                    ColorOp::Grayscale => {}
                }
            }
        }
        assert!((1500..1700).contains(&jitter), "{jitter}");
        assert!((330..470).contains(&gray), "{gray}");
        assert!((900..1100).contains(&blur), "{blur}");
        let bad = ColorAugmentation {
            grayscale: 1.5,
            ..ColorAugmentation::moco_v2(32)
        };
        assert!(bad.check().unwrap_err().contains("1.5"));
    }

    #[test]
    fn identity_factors_keep_the_image() {
        let img = RgbImage::from_fn(7, 5, |x, y| image::Rgb([x as u8 * 30, y as u8 * 50, 90]));
        let mut x = FloatImage::from_rgb(&img);
        for op in [
            ColorOp::Brightness(1.0),
            ColorOp::Contrast(1.0),
            ColorOp::Saturation(1.0),
            ColorOp::Hue(0.0),
        ] {
            op.apply(&mut x);
        }
        assert_eq!(x.to_rgb(), img);
    }
}
