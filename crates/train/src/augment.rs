//! Training-time augmentation: torchvision's `RandomResizedCrop` + horizontal flip, optionally
//! MoCo-v2's photometric ops in between ([`crate::color`]), and multi-crop (t-ReX's global and
//! local views). Decoding, the Pillow-exact bicubic resize and the normalisation are
//! `hiercog-nn`'s (the same code as feature extraction).
//!
//! Every random choice comes from a [`SampleRng`] keyed by (seed, epoch, sample index), so the
//! views of an image do not depend on which worker thread makes them.

use crate::color::ColorAugmentation;
use hiercog_nn::preprocess::{resize_bicubic, Preprocess};
use image::RgbImage;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The generator of one sample's random choices in one epoch.
pub struct SampleRng(ChaCha8Rng);

impl SampleRng {
    /// Keyed by what it is for (`purpose`), the run's seed, the epoch and the sample's index.
    pub fn new(purpose: &str, seed: u64, epoch: usize, index: usize) -> Self {
        let mut h = Sha256::new();
        h.update(purpose.as_bytes());
        h.update(seed.to_le_bytes());
        h.update((epoch as u64).to_le_bytes());
        h.update((index as u64).to_le_bytes());
        let mut key = [0u8; 32];
        key.copy_from_slice(&h.finalize());
        SampleRng(ChaCha8Rng::from_seed(key))
    }

    /// The underlying generator.
    pub fn rng(&mut self) -> &mut ChaCha8Rng {
        &mut self.0
    }
}

/// torchvision's `RandomResizedCrop(size, scale, ratio)`, optional photometric ops, then an
/// optional horizontal flip (MoCo-v2's order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CropSpec {
    /// Side of the square output.
    pub size: u32,
    /// Range of the crop's area as a fraction of the image's.
    pub scale: (f64, f64),
    /// Range of the crop's aspect ratio (width / height), sampled log-uniformly.
    pub ratio: (f64, f64),
    /// Flip horizontally with probability ½.
    pub flip: bool,
    /// Colour jitter, grayscale and blur after the crop (none for plain crops; absent from the
    /// serialised form then, so the run keys of plain recipes are unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<ColorAugmentation>,
}

impl CropSpec {
    /// The standard training crop: scale (0.08, 1), ratio (3/4, 4/3), flip.
    pub fn standard(size: u32) -> Self {
        CropSpec {
            size,
            scale: (0.08, 1.0),
            ratio: (3.0 / 4.0, 4.0 / 3.0),
            flip: true,
            color: None,
        }
    }

    /// A crop of scale range `scale` (e.g. t-ReX's global (0.25, 1) and local (0.05, 0.25)).
    pub fn with_scale(size: u32, scale: (f64, f64)) -> Self {
        CropSpec {
            scale,
            ..CropSpec::standard(size)
        }
    }

    /// The crop window `(left, top, width, height)` in a `w`×`h` image: torchvision's
    /// `RandomResizedCrop.get_params` (ten tries, then the central crop of clamped ratio).
    pub fn window(&self, w: u32, h: u32, rng: &mut impl Rng) -> (u32, u32, u32, u32) {
        let area = (w as f64) * (h as f64);
        let (lr0, lr1) = (self.ratio.0.ln(), self.ratio.1.ln());
        for _ in 0..10 {
            let target = area * rng.random_range(self.scale.0..=self.scale.1);
            let aspect = rng.random_range(lr0..=lr1).exp();
            let cw = (target * aspect).sqrt().round() as i64;
            let ch = (target / aspect).sqrt().round() as i64;
            if cw > 0 && ch > 0 && cw <= w as i64 && ch <= h as i64 {
                let top = rng.random_range(0..=(h as i64 - ch)) as u32;
                let left = rng.random_range(0..=(w as i64 - cw)) as u32;
                return (left, top, cw as u32, ch as u32);
            }
        }
        let in_ratio = w as f64 / h as f64;
        let (cw, ch) = if in_ratio < self.ratio.0 {
            (w, ((w as f64 / self.ratio.0).round() as u32).min(h))
        } else if in_ratio > self.ratio.1 {
            (((h as f64 * self.ratio.1).round() as u32).min(w), h)
        } else {
            (w, h)
        };
        ((w - cw) / 2, (h - ch) / 2, cw, ch)
    }

    /// MoCo-v2's view: scale (0.2, 1), the photometric ops of
    /// [`ColorAugmentation::moco_v2`], flip.
    pub fn moco_v2(size: u32) -> Self {
        CropSpec {
            color: Some(ColorAugmentation::moco_v2(size)),
            ..CropSpec::with_scale(size, (0.2, 1.0))
        }
    }

    /// The augmented view of `img`: crop, bicubic resize to `size`², photometric ops, maybe flip.
    pub fn apply(&self, img: &RgbImage, rng: &mut impl Rng) -> RgbImage {
        let (left, top, cw, ch) = self.window(img.width(), img.height(), rng);
        let crop = image::imageops::crop_imm(img, left, top, cw, ch).to_image();
        let mut out = resize_bicubic(&crop, self.size, self.size);
        if let Some(color) = &self.color {
            out = color.apply(&out, rng);
        }
        if self.flip && rng.random_bool(0.5) {
            image::imageops::flip_horizontal_in_place(&mut out);
        }
        out
    }
}

/// A group of views of the same kind: `count` crops by `crop` per image (one forward pass each
/// group, since all its views share a size).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViewGroup {
    /// Views of each image in the group.
    pub count: usize,
    /// How each of them is cropped (size, scale and ratio ranges, colour augmentation).
    pub crop: CropSpec,
}

/// The views made of each training image: one group (plain training: one crop), or a global and
/// a local group (t-ReX's multi-crop). Every view is classified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Augmentation {
    /// The groups, the global one first (plain recipes use only it).
    pub groups: Vec<ViewGroup>,
}

impl Augmentation {
    /// One standard crop per image at `size`.
    pub fn single(size: u32) -> Self {
        Augmentation {
            groups: vec![ViewGroup {
                count: 1,
                crop: CropSpec::standard(size),
            }],
        }
    }

    /// Multi-crop: `global` crops at `global_size` of scale (0.25, 1) and `local` crops at
    /// `local_size` of scale (0.05, 0.25) (t-ReX's ranges).
    pub fn multi_crop(global: usize, global_size: u32, local: usize, local_size: u32) -> Self {
        let mut groups = vec![ViewGroup {
            count: global,
            crop: CropSpec::with_scale(global_size, (0.25, 1.0)),
        }];
        if local > 0 {
            groups.push(ViewGroup {
                count: local,
                crop: CropSpec::with_scale(local_size, (0.05, 0.25)),
            });
        }
        Augmentation { groups }
    }

    /// MoCo's two views of each image (query and key), both [`CropSpec::moco_v2`] at `size`.
    pub fn moco_v2(size: u32) -> Self {
        Augmentation {
            groups: vec![ViewGroup {
                count: 2,
                crop: CropSpec::moco_v2(size),
            }],
        }
    }

    /// Views per image, all groups.
    pub fn views_per_image(&self) -> usize {
        self.groups.iter().map(|g| g.count).sum()
    }

    /// The normalised CHW views of one image, group by group: `out[g]` holds `count_g` views.
    pub fn views(
        &self,
        img: &RgbImage,
        norm: &Preprocess,
        rng: &mut impl Rng,
    ) -> Vec<Vec<Vec<f32>>> {
        self.groups
            .iter()
            .map(|g| {
                (0..g.count)
                    .map(|_| norm.normalize(&g.crop.apply(img, rng)))
                    .collect()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_stay_inside_and_follow_the_scale() {
        let spec = CropSpec::with_scale(32, (0.25, 1.0));
        let mut r = SampleRng::new("t", 1, 0, 0);
        for _ in 0..500 {
            let (l, t, w, h) = spec.window(120, 80, r.rng());
            assert!(l + w <= 120 && t + h <= 80 && w > 0 && h > 0);
            let frac = (w * h) as f64 / (120.0 * 80.0);
            assert!(frac > 0.2 && frac < 1.05, "{frac}");
        }
        // An impossible ratio falls back to the clamped central crop.
        let thin = CropSpec {
            scale: (0.9, 1.0),
            ratio: (10.0, 20.0),
            ..CropSpec::standard(8)
        };
        assert_eq!(thin.window(100, 100, r.rng()), (0, 45, 100, 10));
    }

    #[test]
    fn same_key_same_views_other_key_other_views() {
        let img = RgbImage::from_fn(40, 30, |x, y| image::Rgb([x as u8 * 6, y as u8 * 8, 7]));
        let aug = Augmentation::multi_crop(2, 16, 3, 8);
        let norm = Preprocess::imagenet(16, 16);
        let a = aug.views(&img, &norm, SampleRng::new("aug", 5, 2, 9).rng());
        let b = aug.views(&img, &norm, SampleRng::new("aug", 5, 2, 9).rng());
        let c = aug.views(&img, &norm, SampleRng::new("aug", 5, 3, 9).rng());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!((a.len(), a[0].len(), a[1].len()), (2, 2, 3));
        assert_eq!((a[0][0].len(), a[1][0].len()), (3 * 16 * 16, 3 * 8 * 8));
    }
}
