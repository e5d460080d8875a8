//! The loss a recipe minimises, behind a small trait: plain cross-entropy here; the hierarchical
//! losses of `hiercog-losses` implement it too.

use candle_core::{DType, Result, Tensor, D};

/// A training loss over logits and integer targets.
pub trait Objective: Send + Sync {
    /// The mean loss of a batch: `logits` `(B, C)` f32, `targets` `(B,)` u32.
    fn loss(&self, logits: &Tensor, targets: &Tensor) -> Result<Tensor>;
    /// The loss as a recipe names it, e.g. `ce` or `ce:0.1` (recorded with the model).
    fn spec(&self) -> String;
}

/// Cross-entropy with optional label smoothing ε: `(1 − ε)·CE(y) + ε·mean_c(−log p_c)`
/// (`torch.nn.CrossEntropyLoss(label_smoothing=ε)`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CrossEntropy {
    pub smoothing: f64,
}

impl Objective for CrossEntropy {
    fn loss(&self, logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
        let logp = candle_nn::ops::log_softmax(&logits.to_dtype(DType::F32)?, D::Minus1)?;
        let nll = logp
            .gather(&targets.to_dtype(DType::U32)?.unsqueeze(1)?, 1)?
            .neg()?
            .mean_all()?;
        if self.smoothing == 0.0 {
            return Ok(nll);
        }
        let uniform = logp.mean(D::Minus1)?.neg()?.mean_all()?;
        (nll * (1.0 - self.smoothing))? + (uniform * self.smoothing)?
    }

    fn spec(&self) -> String {
        if self.smoothing == 0.0 {
            "ce".into()
        } else {
            format!("ce:{}", self.smoothing)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn cross_entropy_matches_candle_and_the_smoothing_formula() {
        let dev = Device::Cpu;
        let logits = Tensor::new(&[[2.0f32, -1.0, 0.5], [0.1, 0.2, 3.0]], &dev).unwrap();
        let t = Tensor::new(&[0u32, 1], &dev).unwrap();
        let ours = CrossEntropy { smoothing: 0.0 }.loss(&logits, &t).unwrap();
        let theirs = candle_nn::loss::cross_entropy(&logits, &t).unwrap();
        let (a, b) = (
            ours.to_scalar::<f32>().unwrap(),
            theirs.to_scalar::<f32>().unwrap(),
        );
        assert!((a - b).abs() < 1e-6);
        // By hand: row losses with ε = 0.1 over 3 classes.
        let row = |l: [f64; 3], y: usize| {
            let lse = l.iter().map(|v| v.exp()).sum::<f64>().ln();
            let nll = lse - l[y];
            let mean_neg = l.iter().map(|v| lse - v).sum::<f64>() / 3.0;
            0.9 * nll + 0.1 * mean_neg
        };
        let want = (row([2.0, -1.0, 0.5], 0) + row([0.1, 0.2, 3.0], 1)) / 2.0;
        let got = CrossEntropy { smoothing: 0.1 }
            .loss(&logits, &t)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!((got as f64 - want).abs() < 1e-6, "{got} vs {want}");
    }
}
