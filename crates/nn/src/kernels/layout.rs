//! Layout changes and reductions on NHWC that candle's generic strided code does slowly
//! (its permute-and-copy of an NCHW batch cost as much as EfficientNet-Lite0's stem).

use super::cpu_slice;
use candle_core::{CpuStorage, Layout, Shape};
use rayon::prelude::*;

/// `(B, C, H, W)` → `(B, H, W, C)`, one output row (`W · C` values) per task.
pub(crate) struct ToNhwcOp;

impl candle_core::CustomOp1 for ToNhwcOp {
    fn name(&self) -> &'static str {
        "nchw-to-nhwc"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = cpu_slice(storage, layout, self.name())?;
        let (b, c, h, w) = layout.shape().dims4()?;
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(w * c)
            .enumerate()
            .for_each(|(row, dst)| {
                let (image, y) = (row / h, row % h);
                for ch in 0..c {
                    let src = &x[((image * c + ch) * h + y) * w..][..w];
                    for (px, &v) in src.iter().enumerate() {
                        dst[px * c + ch] = v;
                    }
                }
            });
        Ok((CpuStorage::F32(out), Shape::from((b, h, w, c))))
    }
}

/// `(B, H, W, C)` → `(B, C)`: the mean over each image's pixels, summed in pixel order.
pub(crate) struct GlobalAvgPoolOp;

impl candle_core::CustomOp1 for GlobalAvgPoolOp {
    fn name(&self) -> &'static str {
        "global-avg-pool-nhwc"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = cpu_slice(storage, layout, self.name())?;
        let (b, h, w, c) = layout.shape().dims4()?;
        let mut out = vec![0f32; b * c];
        out.par_chunks_mut(c).enumerate().for_each(|(image, sums)| {
            for pixel in x[image * h * w * c..][..h * w * c].chunks(c) {
                sums.iter_mut().zip(pixel).for_each(|(s, v)| *s += v);
            }
            let scale = 1.0 / (h * w) as f32;
            sums.iter_mut().for_each(|s| *s *= scale);
        });
        Ok((CpuStorage::F32(out), Shape::from((b, c))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    #[test]
    fn match_candle_permute_and_mean() {
        let (b, c, h, w) = (2, 3, 5, 7);
        let v = crate::kernels::test_values(b * c * h * w, 1);
        let x = Tensor::from_vec(v, (b, c, h, w), &Device::Cpu).unwrap();
        let got = x.apply_op1_no_bwd(&ToNhwcOp).unwrap();
        let want = x.permute((0, 2, 3, 1)).unwrap().contiguous().unwrap();
        let (got, want) = (got.flatten_all().unwrap(), want.flatten_all().unwrap());
        assert_eq!(
            got.to_vec1::<f32>().unwrap(),
            want.to_vec1::<f32>().unwrap()
        );
        let nhwc = x.permute((0, 2, 3, 1)).unwrap().contiguous().unwrap();
        let got = nhwc.apply_op1_no_bwd(&GlobalAvgPoolOp).unwrap();
        let want = nhwc.reshape((b, h * w, c)).unwrap().mean(1).unwrap();
        for (g, w) in got
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
            .iter()
            .zip(want.flatten_all().unwrap().to_vec1::<f32>().unwrap())
        {
            assert!((g - w).abs() < 1e-6, "{g} vs {w}");
        }
    }
}
