//! Image decoding and the reference preprocessing: `Resize(shorter side, bicubic)`,
//! `CenterCrop`, `ToTensor`, `Normalize`, reproduced to the pixel.
//!
//! The resize is a port of Pillow's `ImagingResample` (bicubic, a = −0.5, antialiased: the
//! filter support grows with the downscale factor) in its 8-bit fixed-point form, horizontal
//! pass first, so on a PNG the tensor equals torchvision's bit for bit (up to float rounding
//! of the normalization). JPEGs are decoded by `image` (zune-jpeg) rather than libjpeg-turbo:
//! IDCT and chroma upsampling differ by a grey level or two on some pixels, the one residual
//! difference from the PyTorch pipeline (see the parity tests for its size).

use crate::error::{Error, Result};
use image::RgbImage;
use std::path::Path;

/// How a backbone wants its input: resize, crop and per-channel normalization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocess {
    /// Target length of the shorter side after resizing.
    pub resize: u32,
    /// Side of the square center crop.
    pub crop: u32,
    /// Per-channel mean, on the [0, 1] scale of `ToTensor`.
    pub mean: [f32; 3],
    /// Per-channel standard deviation, on the [0, 1] scale.
    pub std: [f32; 3],
}

use serde::{Deserialize, Serialize};

impl Preprocess {
    /// ImageNet mean/std (torchvision, timm DeiT) at 224: the CoG protocol's default.
    pub fn imagenet(resize: u32, crop: u32) -> Self {
        Preprocess {
            resize,
            crop,
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
        }
    }

    /// TensorFlow's `(x − 127) / 128` on 0..255 pixels, written as mean/std on the [0, 1] scale;
    /// the scaling the TF-Lite EfficientNets were trained with.
    pub fn tf_lite(resize: u32, crop: u32) -> Self {
        Preprocess {
            resize,
            crop,
            mean: [127.0 / 255.0; 3],
            std: [128.0 / 255.0; 3],
        }
    }

    /// Mean 0.5, std 0.5 (Google's original ViT weights).
    pub fn half(resize: u32, crop: u32) -> Self {
        Preprocess {
            resize,
            crop,
            mean: [0.5; 3],
            std: [0.5; 3],
        }
    }

    /// Decodes `path` and returns the normalized CHW tensor data (3 × crop × crop floats).
    pub fn load(&self, path: &Path) -> Result<Vec<f32>> {
        let img = decode_rgb(path)?;
        Ok(self.apply(&img))
    }

    /// Resize, crop and normalize an RGB image into CHW floats.
    pub fn apply(&self, img: &RgbImage) -> Vec<f32> {
        self.normalize(&resize_and_center_crop(img, self.resize, self.crop))
    }

    /// `ToTensor` + `Normalize` of an 8-bit RGB image into CHW floats.
    pub fn normalize(&self, img: &RgbImage) -> Vec<f32> {
        let (w, h) = img.dimensions();
        let plane = (w * h) as usize;
        let mut out = vec![0f32; 3 * plane];
        for (i, px) in img.pixels().enumerate() {
            for c in 0..3 {
                // Same order of operations as torchvision: v / 255, then (v − mean) / std.
                let v = px.0[c] as f32 / 255.0;
                out[c * plane + i] = (v - self.mean[c]) / self.std[c];
            }
        }
        out
    }
}

/// Decodes a JPEG/PNG file into 8-bit RGB (Pillow's `.convert("RGB")`: alpha dropped, grey
/// replicated). The format is sniffed from the content, not the extension.
pub fn decode_rgb(path: &Path) -> Result<RgbImage> {
    let reader = image::ImageReader::open(path)
        .map_err(|e| Error::Image {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?
        .with_guessed_format()
        .map_err(|e| Error::Image {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    let img = reader.decode().map_err(|e| Error::Image {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    Ok(img.to_rgb8())
}

/// torchvision's `Resize(size)` with an int: the shorter side becomes `size`, the longer one
/// `int(size * long / short)` (truncated), Pillow bicubic with antialiasing.
pub fn resize_shorter_side(img: &RgbImage, size: u32) -> RgbImage {
    let (nw, nh) = shorter_side_size(img.dimensions(), size);
    resize_bicubic(img, nw, nh)
}

fn shorter_side_size((w, h): (u32, u32), size: u32) -> (u32, u32) {
    if w <= h {
        (size, (size as u64 * h as u64 / w as u64) as u32)
    } else {
        ((size as u64 * w as u64 / h as u64) as u32, size)
    }
}

/// [`center_crop`]`(`[`resize_shorter_side`]`(img, resize), crop)`, the same pixels, computing
/// only the cropped part of the resized image.
pub fn resize_and_center_crop(img: &RgbImage, resize: u32, crop: u32) -> RgbImage {
    let (nw, nh) = shorter_side_size(img.dimensions(), resize);
    if nw < crop || nh < crop {
        return center_crop(&resize_bicubic(img, nw, nh), crop);
    }
    let top = round_half_even((nh - crop) as f64 / 2.0);
    let left = round_half_even((nw - crop) as f64 / 2.0);
    resize_bicubic_region(img, nw, nh, left, top, crop, crop)
}

/// torchvision's `CenterCrop(size)`: offsets `round((dim − size) / 2)` with Python's
/// round-half-to-even. Images smaller than `size` are zero-padded like torchvision does.
pub fn center_crop(img: &RgbImage, size: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    if w < size || h < size {
        // torchvision pads (left, top) = (size - dim) // 2 with zeros, then crops.
        let pad_l = size.saturating_sub(w) / 2;
        let pad_t = size.saturating_sub(h) / 2;
        let mut padded = RgbImage::new(w.max(size), h.max(size));
        image::imageops::replace(&mut padded, img, pad_l as i64, pad_t as i64);
        return center_crop(&padded, size);
    }
    let top = round_half_even((h - size) as f64 / 2.0);
    let left = round_half_even((w - size) as f64 / 2.0);
    image::imageops::crop_imm(img, left, top, size, size).to_image()
}

fn round_half_even(x: f64) -> u32 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 && r % 2.0 != 0.0 {
        (r - x.signum()) as u32
    } else {
        r as u32
    }
}

/// Pillow's fixed-point precision for 8-bit resampling: 32 − 8 − 2 bits.
const PRECISION_BITS: u32 = 22;

/// Pillow's bicubic kernel with a = −0.5.
fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// Per output pixel: first input index, tap count, and fixed-point weights (Pillow's
/// `precompute_coeffs` + `normalize_coeffs_8bpc`).
struct Taps {
    ksize: usize,
    bounds: Vec<(usize, usize)>,
    weights: Vec<i32>,
}

fn precompute_taps(in_size: u32, out_size: u32) -> Taps {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = 2.0 * filterscale;
    let ksize = support.ceil() as usize * 2 + 1;
    let mut bounds = Vec::with_capacity(out_size as usize);
    let mut weights = vec![0i32; out_size as usize * ksize];
    let mut k = vec![0f64; ksize];
    for xx in 0..out_size as usize {
        let center = (xx as f64 + 0.5) * scale;
        let ss = 1.0 / filterscale;
        // Pillow truncates `center ± support + 0.5` towards zero (C cast).
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize - xmin;
        let mut ww = 0.0;
        for (x, kx) in k.iter_mut().enumerate().take(xmax) {
            let w = bicubic((x as f64 + xmin as f64 - center + 0.5) * ss);
            *kx = w;
            ww += w;
        }
        for (x, kx) in k.iter().enumerate().take(xmax) {
            let v = if ww != 0.0 { kx / ww } else { *kx };
            let f = v * (1u64 << PRECISION_BITS) as f64;
            weights[xx * ksize + x] = if v < 0.0 {
                (f - 0.5) as i32
            } else {
                (f + 0.5) as i32
            };
        }
        bounds.push((xmin, xmax));
    }
    Taps {
        ksize,
        bounds,
        weights,
    }
}

fn clip8(v: i32) -> u8 {
    (v >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Pillow's antialiased bicubic resize of an RGB image (horizontal pass, then vertical, each
/// rounded to 8 bits), so results match `PIL.Image.resize(..., BICUBIC)` exactly.
pub fn resize_bicubic(img: &RgbImage, out_w: u32, out_h: u32) -> RgbImage {
    resize_bicubic_region(img, out_w, out_h, 0, 0, out_w, out_h)
}

/// The `w × h` region at (`left`, `top`) of [`resize_bicubic`]`(img, out_w, out_h)`, computing
/// only its pixels (each exactly as the whole resize would): a center crop after the resize
/// skips the columns and rows it would throw away.
#[allow(clippy::too_many_arguments)]
fn resize_bicubic_region(
    img: &RgbImage,
    out_w: u32,
    out_h: u32,
    left: u32,
    top: u32,
    w: u32,
    h: u32,
) -> RgbImage {
    let (in_w, in_h) = img.dimensions();
    let src = img.as_raw();
    let (cols, out_rows) = (
        left as usize..(left + w) as usize,
        top as usize..(top + h) as usize,
    );
    let need_h = out_w != in_w;
    let need_v = out_h != in_h;
    let horiz = precompute_taps(in_w, out_w);
    let vert = precompute_taps(in_h, out_h);
    // Pillow accumulates in 32-bit integers; the sums stay below 2^31 (weights sum to 2^22).
    let half = 1i32 << (PRECISION_BITS - 1);

    // Horizontal pass over only the input rows the vertical pass reads.
    let rows = if need_v {
        let first = vert.bounds[out_rows.start].0;
        let (lmin, lcnt) = vert.bounds[out_rows.end - 1];
        first..lmin + lcnt
    } else {
        out_rows.clone()
    };
    let tmp_w = cols.len();
    let tmp = if need_h {
        let mut tmp = vec![0u8; rows.len() * tmp_w * 3];
        for (y, out_row) in rows.clone().zip(tmp.chunks_mut(tmp_w * 3)) {
            let in_row = &src[y * in_w as usize * 3..][..in_w as usize * 3];
            for (xx, out_px) in cols.clone().zip(out_row.chunks_mut(3)) {
                let (xmin, xcnt) = horiz.bounds[xx];
                let k = &horiz.weights[xx * horiz.ksize..][..xcnt];
                let mut acc = [half; 3];
                for (p, &kw) in in_row[xmin * 3..][..xcnt * 3].chunks(3).zip(k) {
                    for c in 0..3 {
                        acc[c] += p[c] as i32 * kw;
                    }
                }
                for c in 0..3 {
                    out_px[c] = clip8(acc[c]);
                }
            }
        }
        tmp
    } else {
        let row_len = in_w as usize * 3;
        rows.clone()
            .flat_map(|y| &src[y * row_len..][cols.start * 3..cols.end * 3])
            .copied()
            .collect()
    };
    if !need_v {
        return RgbImage::from_raw(w, h, tmp).expect("buffer sized above");
    }
    let row_len = tmp_w * 3;
    let mut out = vec![0u8; out_rows.len() * row_len];
    // Tap by tap over whole rows (the same sums in the same order as pixel by pixel, but
    // contiguous, so they vectorize).
    let mut acc = vec![0i32; row_len];
    for (yy, out_row) in out_rows.zip(out.chunks_mut(row_len)) {
        let (ymin, ycnt) = vert.bounds[yy];
        let k = &vert.weights[yy * vert.ksize..][..ycnt];
        acc.fill(half);
        for (y, &kw) in k.iter().enumerate() {
            let in_row = &tmp[(ymin - rows.start + y) * row_len..][..row_len];
            for (a, &v) in acc.iter_mut().zip(in_row) {
                *a += v as i32 * kw;
            }
        }
        for (o, &a) in out_row.iter_mut().zip(&acc) {
            *o = clip8(a);
        }
    }
    RgbImage::from_raw(w, h, out).expect("buffer sized above")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_half_even_matches_python() {
        assert_eq!(round_half_even(0.5), 0);
        assert_eq!(round_half_even(1.5), 2);
        assert_eq!(round_half_even(2.5), 2);
        assert_eq!(round_half_even(3.0), 3);
        assert_eq!(round_half_even(3.4), 3);
    }

    #[test]
    fn taps_sum_to_one_in_fixed_point() {
        for (i, o) in [(500, 224), (224, 224), (100, 224), (7, 3)] {
            let t = precompute_taps(i, o);
            for xx in 0..o as usize {
                let s: i64 = t.weights[xx * t.ksize..][..t.bounds[xx].1]
                    .iter()
                    .map(|&w| w as i64)
                    .sum();
                assert!(
                    (s - (1 << PRECISION_BITS)).abs() <= t.ksize as i64,
                    "{i}->{o}: {s}"
                );
            }
        }
    }

    /// The fused resize + crop gives the two-step pixels, for downscales, upscales, one side
    /// unchanged, and crops larger than the resized image.
    #[test]
    fn resize_and_crop_fused_equals_two_steps() {
        let img = RgbImage::from_fn(61, 43, |x, y| {
            image::Rgb([
                (x * 7 + y * 3) as u8,
                (x * y) as u8,
                (255 - x * 4 + y) as u8,
            ])
        });
        for (resize, crop) in [(24, 20), (43, 40), (43, 43), (90, 64), (30, 31), (24, 50)] {
            let two_steps = center_crop(&resize_shorter_side(&img, resize), crop);
            let fused = resize_and_center_crop(&img, resize, crop);
            assert_eq!(fused, two_steps, "resize {resize}, crop {crop}");
        }
    }

    #[test]
    fn constant_image_stays_constant() {
        let img = RgbImage::from_pixel(37, 53, image::Rgb([10, 200, 77]));
        let r = resize_shorter_side(&img, 24);
        assert_eq!(r.dimensions(), (24, 34));
        assert!(r.pixels().all(|p| p.0 == [10, 200, 77]));
        let c = center_crop(&r, 24);
        assert_eq!(c.dimensions(), (24, 24));
    }

    #[test]
    fn normalize_is_channel_major() {
        let mut img = RgbImage::new(2, 1);
        img.put_pixel(1, 0, image::Rgb([255, 0, 127]));
        let p = Preprocess::tf_lite(2, 2);
        let v = p.normalize(&img);
        assert_eq!(v.len(), 6);
        assert!((v[1] - 1.0).abs() < 1e-6);
        assert!((v[3] + 127.0 / 128.0).abs() < 1e-6);
        assert!(v[5].abs() < 1e-6);
    }
}
