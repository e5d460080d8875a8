//! Bias and activation in place over a GEMM output.

use super::Activation;
use candle_core::{CpuStorage, Layout};
use rayon::prelude::*;

/// In place `act(y + bias)` over the rows of a `(rows, C)` GEMM output.
pub(crate) struct BiasAct<'a> {
    pub bias: &'a [f32],
    pub act: Activation,
}

impl candle_core::InplaceOp1 for BiasAct<'_> {
    fn name(&self) -> &'static str {
        "bias-act"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> candle_core::Result<()> {
        let (s, e) = match layout.contiguous_offsets() {
            Some(o) => o,
            None => candle_core::bail!("bias-act: output must be contiguous"),
        };
        let data = match storage {
            CpuStorage::F32(v) => &mut v[s..e],
            _ => candle_core::bail!("bias-act: expected f32"),
        };
        let c = self.bias.len();
        let (bias, act) = (self.bias, self.act);
        data.par_chunks_mut((c * 64).max(1)).for_each(|block| {
            for row in block.chunks_mut(c) {
                for (v, &b) in row.iter_mut().zip(bias) {
                    *v = act.apply(*v + b);
                }
            }
        });
        Ok(())
    }
}
