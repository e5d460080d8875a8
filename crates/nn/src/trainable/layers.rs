//! Trainable layers with PyTorch's default initialisations, written with candle ops only so that
//! the same code runs (and differentiates) on every device.

use candle_core::{Module, ModuleT, Result, Tensor};
use candle_nn::{BatchNorm, BatchNormConfig, Init, VarBuilder};

/// A bias-free 2-D convolution (the layer before a BatchNorm), He-normal initialised
/// (`kaiming_normal_(mode="fan_out", nonlinearity="relu")`, torchvision's ResNet init).
pub struct Conv {
    weight: Tensor,
    stride: usize,
    padding: usize,
}

impl Conv {
    /// A `k`×`k` convolution from `cin` to `cout` channels, padding `k / 2`.
    pub fn new(vb: VarBuilder, cin: usize, cout: usize, k: usize, stride: usize) -> Result<Self> {
        let std = (2.0 / (cout * k * k) as f64).sqrt();
        let weight = vb.get_with_hints(
            (cout, cin, k, k),
            "weight",
            Init::Randn {
                mean: 0.0,
                stdev: std,
            },
        )?;
        Ok(Conv {
            weight,
            stride,
            padding: k / 2,
        })
    }
}

impl Module for Conv {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.conv2d(&self.weight, self.padding, self.stride, 1, 1)
    }
}

/// BatchNorm with PyTorch's defaults (ε = 1e-5, momentum 0.1, γ = 1, β = 0); batch statistics in
/// training mode, running statistics in evaluation mode.
pub fn batch_norm(vb: VarBuilder, channels: usize) -> Result<BatchNorm> {
    candle_nn::batch_norm(channels, BatchNormConfig::default(), vb)
}

/// A fully connected layer with PyTorch's default init: weight and bias uniform in ±1/√fan_in.
pub fn linear(
    vb: VarBuilder,
    input: usize,
    output: usize,
    bias: bool,
) -> Result<candle_nn::Linear> {
    let bound = 1.0 / (input as f64).sqrt();
    let init = Init::Uniform {
        lo: -bound,
        up: bound,
    };
    let weight = vb.get_with_hints((output, input), "weight", init)?;
    let bias = if bias {
        Some(vb.get_with_hints(output, "bias", init)?)
    } else {
        None
    };
    Ok(candle_nn::Linear::new(weight, bias))
}

/// Conv → BatchNorm, the unit of every ResNet layer.
pub struct ConvBn {
    conv: Conv,
    bn: BatchNorm,
}

impl ConvBn {
    /// Conv named `{conv}` and BatchNorm named `{bn}` under `vb` (torchvision's key names).
    pub fn new(
        vb: &VarBuilder,
        names: (&str, &str),
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
    ) -> Result<Self> {
        Ok(ConvBn {
            conv: Conv::new(vb.pp(names.0), cin, cout, k, stride)?,
            bn: batch_norm(vb.pp(names.1), cout)?,
        })
    }

    /// The normalised convolution output (no activation).
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.bn.forward_t(&self.conv.forward(x)?, train)
    }
}

/// torchvision's stem max-pool, `MaxPool2d(3, stride=2, padding=1)`, as the maximum of nine strided
/// views (candle differentiates max-pooling only when kernel = stride). The zero padding equals
/// PyTorch's −∞ padding because the input is a ReLU output (≥ 0).
pub fn max_pool_3x3_s2_p1(x: &Tensor) -> Result<Tensor> {
    let (b, c, h, w) = x.dims4()?;
    let (ho, wo) = ((h - 1) / 2 + 1, (w - 1) / 2 + 1);
    // Padded so that offset 2 + 2·out fits: left 1, right whatever remains.
    let xp = x
        .pad_with_zeros(2, 1, 2 * ho + 1 - h)?
        .pad_with_zeros(3, 1, 2 * wo + 1 - w)?;
    let wp = 2 * wo + 2;
    let mut out: Option<Tensor> = None;
    for dy in 0..3 {
        let rows = xp
            .narrow(2, dy, 2 * ho)?
            .reshape((b, c, ho, 2, wp))?
            .narrow(3, 0, 1)?
            .squeeze(3)?;
        for dx in 0..3 {
            let v = rows
                .narrow(3, dx, 2 * wo)?
                .reshape((b, c, ho, wo, 2))?
                .narrow(4, 0, 1)?
                .squeeze(4)?;
            out = Some(match out {
                None => v,
                Some(o) => o.maximum(&v)?,
            });
        }
    }
    Ok(out.expect("nine views"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn max_pool_matches_a_direct_loop() {
        for (h, w) in [(8, 8), (7, 9), (5, 4)] {
            let data: Vec<f32> = (0..2 * h * w).map(|i| ((i * 37) % 11) as f32).collect();
            let x = Tensor::from_vec(data.clone(), (1, 2, h, w), &Device::Cpu).unwrap();
            let y = max_pool_3x3_s2_p1(&x).unwrap();
            let (ho, wo) = ((h - 1) / 2 + 1, (w - 1) / 2 + 1);
            assert_eq!(y.dims(), [1, 2, ho, wo]);
            let y = y.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            for c in 0..2 {
                for i in 0..ho {
                    for j in 0..wo {
                        let mut m = f32::MIN;
                        for di in 0..3 {
                            for dj in 0..3 {
                                let (r, s) = ((2 * i + di) as isize - 1, (2 * j + dj) as isize - 1);
                                if r >= 0 && s >= 0 && (r as usize) < h && (s as usize) < w {
                                    m = m.max(data[c * h * w + r as usize * w + s as usize]);
                                }
                            }
                        }
                        assert_eq!(y[c * ho * wo + i * wo + j], m, "{h}x{w} c{c} ({i},{j})");
                    }
                }
            }
        }
    }
}
