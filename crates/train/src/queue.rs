//! The two pieces of state that t-ReX and MoCo share: an exponential-moving-average copy of the
//! encoder ([`EmaCopy`]: t-ReX's EMA encoder, MoCo's key encoder) and a ring buffer of its
//! outputs with their labels ([`FeatureQueue`]: t-ReX's memory, MoCo's queue of negatives).

use candle_core::{Result, Tensor, Var};
use candle_nn::VarMap;
use std::collections::HashMap;

/// Variables `{prefix}.{name}` that follow the variables `name` by EMA.
pub struct EmaCopy {
    /// (model variable, its EMA twin) for every learned variable of the followed prefixes.
    pairs: Vec<(Var, Var)>,
}

impl EmaCopy {
    /// Pairs every learned variable of `vars` whose name starts with one of `sources` (BatchNorm
    /// running statistics excluded: the copy keeps its own, from its own forward passes) with its
    /// twin `{prefix}.{name}`, which must exist, and copies the model's values into the twins.
    pub fn new(vars: &VarMap, sources: &[&str], prefix: &str) -> Result<Self> {
        let map = vars.data().lock().expect("var map lock poisoned");
        let mut names: Vec<&String> = map
            .keys()
            .filter(|k| sources.iter().any(|s| k.starts_with(s)))
            .filter(|k| !k.ends_with("running_mean") && !k.ends_with("running_var"))
            .collect();
        names.sort();
        let mut pairs = Vec::new();
        for name in names {
            let twin = format!("{prefix}.{name}");
            let ema = map
                .get(&twin)
                .ok_or_else(|| candle_core::Error::Msg(format!("EMA variable {twin} missing")))?;
            let model = &map[name];
            ema.set(model.as_tensor())?;
            pairs.push((model.clone(), ema.clone()));
        }
        Ok(EmaCopy { pairs })
    }

    /// `ema ← m · ema + (1 − m) · model` for every pair.
    pub fn update(&self, momentum: f64) -> Result<()> {
        for (model, ema) in &self.pairs {
            ema.set(
                &((ema.as_tensor() * momentum)?
                    + (model.as_tensor().detach() * (1.0 - momentum))?)?,
            )?;
        }
        Ok(())
    }

    /// The (model, EMA) variable pairs.
    #[cfg(test)]
    pub fn pairs(&self) -> &[(Var, Var)] {
        &self.pairs
    }
}

/// A ring buffer of `size` feature rows and their labels; the oldest rows are overwritten.
pub struct FeatureQueue {
    /// `(size, dim)` f32.
    pub features: Tensor,
    /// `(size,)` u32.
    pub labels: Tensor,
    /// Where the next row goes.
    pub ptr: usize,
}

impl FeatureQueue {
    /// Writes `features` (detached) and `labels` at the pointer; what does not fit before the end
    /// is dropped and the pointer wraps to 0 (the references' queues, whose batches divide the
    /// size).
    pub fn enqueue(&mut self, features: &Tensor, labels: &Tensor) -> Result<()> {
        let size = self.features.dim(0)?;
        let n = features.dim(0)?.min(size - self.ptr);
        let f = features.narrow(0, 0, n)?.detach();
        let l = labels.narrow(0, 0, n)?;
        self.features = self
            .features
            .slice_assign(&[self.ptr..self.ptr + n, 0..f.dim(1)?], &f)?;
        self.labels = self
            .labels
            .unsqueeze(1)?
            .slice_assign(&[self.ptr..self.ptr + n, 0..1], &l.unsqueeze(1)?)?
            .squeeze(1)?;
        self.ptr = (self.ptr + n) % size;
        Ok(())
    }

    /// The queue as checkpoint tensors `{prefix}.features`, `{prefix}.labels`, `{prefix}.ptr`.
    pub fn state(&self, prefix: &str) -> Result<HashMap<String, Tensor>> {
        let ptr = Tensor::from_slice(&[self.ptr as u32], 1, self.features.device())?;
        Ok(HashMap::from([
            (format!("{prefix}.features"), self.features.clone()),
            (format!("{prefix}.labels"), self.labels.clone()),
            (format!("{prefix}.ptr"), ptr),
        ]))
    }

    /// Restores [`FeatureQueue::state`]; the shapes must be this queue's.
    pub fn load_state(&mut self, prefix: &str, tensors: &HashMap<String, Tensor>) -> Result<()> {
        let get = |k: String| {
            tensors
                .get(&k)
                .cloned()
                .ok_or_else(|| candle_core::Error::Msg(format!("{k} missing")))
        };
        let features = get(format!("{prefix}.features"))?;
        let labels = get(format!("{prefix}.labels"))?;
        if features.dims() != self.features.dims() || labels.dims() != self.labels.dims() {
            candle_core::bail!(
                "{prefix} has shape {:?}, this run's {:?}",
                features.dims(),
                self.features.dims()
            );
        }
        let ptr = get(format!("{prefix}.ptr"))?.to_vec1::<u32>()?[0] as usize;
        if ptr >= self.features.dim(0)? {
            candle_core::bail!("{prefix}.ptr = {ptr} is past the end of the queue");
        }
        self.features = features;
        self.labels = labels;
        self.ptr = ptr;
        Ok(())
    }
}
