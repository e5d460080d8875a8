//! The inverted-residual block (MobileNet-V2, EfficientNet): 1×1 expand → k×k depthwise →
//! 1×1 project, plus the block's input when stride and channels allow.

use super::Conv;
use crate::error::Result;
use crate::kernels::{InvertedResidualOp, Tiling};
use candle_core::Tensor;

/// An inverted-residual block of folded convolutions. On the CPU it runs as one fused kernel
/// (the expanded activations never leave the cache); elsewhere layer by layer.
pub struct InvertedResidual {
    /// The 1×1 expansion; `None` when the expand ratio is 1.
    pub expand: Option<Conv>,
    /// The depthwise k×k convolution.
    pub depthwise: Conv,
    /// The 1×1 projection (no activation in MobileNet-V2/EfficientNet).
    pub project: Conv,
    /// Adds the input to the projection.
    pub skip: bool,
}

impl InvertedResidual {
    /// The block on an NHWC tensor.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self.fused(None) {
            Some(op) if x.device().is_cpu() => Ok(x.contiguous()?.apply_op1_no_bwd(&op)?),
            _ => self.forward_layers(x),
        }
    }

    /// The fused CPU kernel, when every convolution has its CPU form (1×1 expand and project,
    /// depthwise in the middle).
    fn fused(&self, tiling: Option<Tiling>) -> Option<InvertedResidualOp<'_>> {
        let expand = match &self.expand {
            Some(e) => Some(e.pointwise_op()?),
            None => None,
        };
        Some(InvertedResidualOp {
            expand,
            depthwise: self.depthwise.depthwise_op()?,
            project: self.project.pointwise_op()?,
            skip: self.skip,
            tiling,
        })
    }

    /// Layer by layer, each convolution on its own (non-CPU devices, and the tests' reference).
    fn forward_layers(&self, x: &Tensor) -> Result<Tensor> {
        let mut y = x.clone();
        if let Some(e) = &self.expand {
            y = e.forward(&y, None)?;
        }
        y = self.depthwise.forward(&y, None)?;
        self.project.forward(&y, self.skip.then_some(x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::{Activation, Padding};
    use candle_core::Device;

    use crate::layers::test_tensor as rand;

    fn conv(w: &Tensor, stride: usize, pad: Padding, groups: usize, act: Activation) -> Conv {
        let cout = w.dim(0).unwrap();
        let bias = (0..cout).map(|i| 0.01 * i as f32 - 0.1).collect();
        Conv::new(w, Some(bias), None, stride, pad, groups, act, &Device::Cpu).unwrap()
    }

    fn block(
        cin: usize,
        mid: usize,
        cout: usize,
        k: usize,
        stride: usize,
        h: usize,
    ) -> InvertedResidual {
        let expand = (mid != cin).then(|| {
            conv(
                &rand(&[mid, cin, 1, 1], 2),
                1,
                Padding::default(),
                1,
                Activation::Relu6,
            )
        });
        InvertedResidual {
            expand,
            depthwise: conv(
                &rand(&[mid, 1, k, k], 3),
                stride,
                Padding::tf_same(h, h + 3, k, stride),
                mid,
                Activation::Relu6,
            ),
            project: conv(
                &rand(&[cout, mid, 1, 1], 4),
                1,
                Padding::default(),
                1,
                Activation::Identity,
            ),
            skip: stride == 1 && cin == cout,
        }
    }

    /// The fused kernel agrees with the layers run one by one, for every way of cutting the
    /// rows: one strip per image, strips that wrap around the expanded-row ring, bands that
    /// recompute rows shared with the band above, stride 2, 5×5, no expansion, channel counts
    /// off the SIMD width.
    #[test]
    fn fused_block_matches_layer_by_layer() {
        let cases = [
            (8, 48, 8, 3, 1),
            (8, 48, 16, 5, 2),
            (16, 16, 8, 3, 1),
            (6, 36, 6, 5, 1),
            (5, 21, 7, 3, 2),
        ];
        let tilings = [
            None,
            Some(Tiling {
                band_rows: 100,
                strip_rows: 1,
            }),
            Some(Tiling {
                band_rows: 5,
                strip_rows: 2,
            }),
            Some(Tiling {
                band_rows: 4,
                strip_rows: 3,
            }),
        ];
        for (cin, mid, cout, k, stride) in cases {
            let h = 13;
            let b = block(cin, mid, cout, k, stride, h);
            let x = rand(&[2, h, h + 3, cin], 1);
            let want = b.forward_layers(&x).unwrap();
            for tiling in tilings {
                let got = x.apply_op1_no_bwd(&b.fused(tiling).unwrap()).unwrap();
                assert_eq!(got.dims(), want.dims());
                let d = (&got - &want).unwrap().abs().unwrap().max_all().unwrap();
                let d = d.to_scalar::<f32>().unwrap();
                assert!(
                    d < 1e-5,
                    "{cin}→{mid}→{cout} k{k} s{stride} {tiling:?}: max diff {d}"
                );
            }
        }
    }
}
