//! Seeded parameter initialisation: the same seed gives the same initial weights on every device
//! and whatever the order in which layers are built.
//!
//! candle's `VarMap` draws initial values from an unseeded generator (the CPU backend cannot be
//! seeded at all), so trained weights would differ run to run. [`SeededInit`] is a `VarBuilder`
//! backend that draws each variable on the CPU from a ChaCha stream keyed by (seed, variable name),
//! then moves it to the target device and registers it in a [`VarMap`].

use candle_core::{DType, Device, Result, Shape, Tensor, Var};
use candle_nn::init::NormalOrUniform;
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder, VarMap};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use sha2::{Digest, Sha256};

/// A `VarBuilder` backend creating variables in a [`VarMap`] with seeded initial values.
struct SeededInit {
    vars: VarMap,
    seed: u64,
}

/// A `VarBuilder` whose new variables are drawn from `seed` and kept in `vars` (an existing
/// variable of the same name is returned as is).
pub fn seeded_var_builder(vars: &VarMap, seed: u64, device: &Device) -> VarBuilder<'static> {
    VarBuilder::from_backend(
        Box::new(SeededInit {
            vars: vars.clone(),
            seed,
        }),
        DType::F32,
        device.clone(),
    )
}

/// A generator for one variable: keyed by the seed and the variable's full name.
fn stream(seed: u64, name: &str) -> ChaCha8Rng {
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update(name.as_bytes());
    let digest = h.finalize();
    let mut key = [0u8; 32];
    key.copy_from_slice(&digest);
    ChaCha8Rng::from_seed(key)
}

/// Draws `n` values of `init` for a tensor of `shape`.
fn draw(init: Init, shape: &Shape, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let n = shape.elem_count();
    let uniform = |rng: &mut ChaCha8Rng, lo: f64, up: f64| -> Vec<f32> {
        (0..n).map(|_| rng.random_range(lo..up) as f32).collect()
    };
    let normal = |rng: &mut ChaCha8Rng, mean: f64, std: f64| -> Vec<f32> {
        (0..n)
            .map(|_| {
                let z: f64 = StandardNormal.sample(rng);
                (mean + std * z) as f32
            })
            .collect()
    };
    match init {
        Init::Const(c) => vec![c as f32; n],
        Init::Uniform { lo, up } => uniform(rng, lo, up),
        Init::Randn { mean, stdev } => normal(rng, mean, stdev),
        Init::Kaiming {
            dist,
            fan,
            non_linearity,
        } => {
            let std = non_linearity.gain() / (fan.for_shape(shape) as f64).sqrt();
            match dist {
                NormalOrUniform::Uniform => {
                    let bound = 3f64.sqrt() * std;
                    uniform(rng, -bound, bound)
                }
                NormalOrUniform::Normal => normal(rng, 0.0, std),
            }
        }
    }
}

impl SimpleBackend for SeededInit {
    fn get(&self, s: Shape, name: &str, h: Init, dtype: DType, dev: &Device) -> Result<Tensor> {
        let mut vars = self.vars.data().lock().expect("var map lock poisoned");
        if let Some(v) = vars.get(name) {
            if v.shape() != &s {
                candle_core::bail!(
                    "variable {name} exists with shape {:?}, requested {:?}",
                    v.shape(),
                    s
                );
            }
            return Ok(v.as_tensor().clone());
        }
        let values = draw(h, &s, &mut stream(self.seed, name));
        let t = Tensor::from_vec(values, s, &Device::Cpu)?
            .to_dtype(dtype)?
            .to_device(dev)?;
        let var = Var::from_tensor(&t)?;
        let t = var.as_tensor().clone();
        vars.insert(name.to_string(), var);
        Ok(t)
    }

    fn get_unchecked(&self, name: &str, _dtype: DType, _dev: &Device) -> Result<Tensor> {
        candle_core::bail!("variable {name} needs a shape to be created")
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.vars
            .data()
            .lock()
            .expect("var map lock poisoned")
            .contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_values_in_any_build_order() {
        let normal = Init::Randn {
            mean: 0.,
            stdev: 1.,
        };
        let uniform = Init::Uniform { lo: -1., up: 1. };
        let a = VarMap::new();
        let vb = seeded_var_builder(&a, 7, &Device::Cpu);
        let x = vb.get_with_hints((3, 4), "x", normal).unwrap();
        let y = vb.get_with_hints(5, "y", uniform).unwrap();
        let b = VarMap::new();
        let vb = seeded_var_builder(&b, 7, &Device::Cpu);
        let y2 = vb.get_with_hints(5, "y", uniform).unwrap();
        let x2 = vb.get_with_hints((3, 4), "x", normal).unwrap();
        let v = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(v(&x), v(&x2));
        assert_eq!(v(&y), v(&y2));
        let c = VarMap::new();
        let x3 = seeded_var_builder(&c, 8, &Device::Cpu)
            .get_with_hints((3, 4), "x", normal)
            .unwrap();
        assert_ne!(v(&x), v(&x3));
        // Variables are shared with the map: what the optimizer sets, the model reads.
        let stored = a.data().lock().unwrap()["x"].clone();
        stored
            .set(&Tensor::zeros((3, 4), DType::F32, &Device::Cpu).unwrap())
            .unwrap();
        assert_eq!(v(&x), vec![0f32; 12]);
    }
}
