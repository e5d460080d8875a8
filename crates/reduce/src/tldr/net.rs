//! The encoder and projector of TLDR as PyTorch's `nn.Sequential` builds them in the reference:
//! linear maps, batch normalisation (ε = 1e-5, running statistics with momentum 0.1) and ReLU,
//! with PyTorch's parameter names (`encoder.0.weight`, `encoder.1.running_mean`, ...) so that
//! state dictionaries line up with the reference's checkpoints.
//!
//! Forward and backward passes are written out rather than traced by an autograd: a step of the
//! default network is ≈130 GFLOP of GEMMs plus a few dozen passes over 1024 × 2048 activations, and
//! candle's CPU backend spent a third of the step in separate allocating element-wise ops. Here the
//! linear maps are faer GEMMs in fixed row blocks (`hiercog-linalg`), batch normalisation and ReLU
//! are fused row-parallel loops over buffers kept from step to step, and every sum over the batch is
//! taken column by column in f64: a step gives the same bits whatever the thread count.

use std::borrow::Cow;
use std::collections::BTreeMap;

use faer::MatRef;
use hiercog_linalg::{clear_upper_simd_state, matmul_rows};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::spec::NetKind;
use crate::error::{Error, Result};
use crate::weights::Array;

/// Batch normalisation's ε (PyTorch's default).
const BN_EPS: f64 = 1e-5;
/// Weight of the new batch in the running statistics (PyTorch's default momentum).
const BN_MOMENTUM: f64 = 0.1;
/// Rows per task of the element-wise passes.
const ROWS_PER_TASK: usize = 64;
/// Columns per task of the column sums.
const COLS_PER_TASK: usize = 64;

/// Output rows per GEMM task for an output of `rows` rows: at least two tasks, and blocks of up to
/// 512 rows, because every task repacks the whole right-hand matrix (on 1024 × 2048 × 2048, blocks
/// of 512 rows ran 16 % faster than blocks of 256: `cargo bench -p hiercog-linalg --bench gemm`).
/// From the shape alone, so that results do not depend on the thread count.
pub(crate) fn gemm_block_rows(rows: usize) -> usize {
    rows.div_ceil(2).next_multiple_of(64).clamp(64, 512)
}

/// `out = alpha·a·b (+ out)` with fixed row blocks (see [`gemm_block_rows`]).
pub(crate) fn gemm(out: &mut [f32], a: MatRef<'_, f32>, b: MatRef<'_, f32>, alpha: f32, add: bool) {
    matmul_rows(out, a, b, alpha, add, gemm_block_rows(a.nrows()));
}

/// Per-column sums of `f(row, column)` over the rows of a row-major `rows × cols` layout, each
/// column summed in f64 in row order (the same bits whatever the thread count).
pub(crate) fn column_sums(
    rows: usize,
    cols: usize,
    f: impl Fn(usize, usize) -> f64 + Sync,
) -> Vec<f64> {
    let mut out = vec![0.0f64; cols];
    out.par_chunks_mut(COLS_PER_TASK)
        .enumerate()
        .for_each(|(t, sums)| {
            clear_upper_simd_state();
            let c0 = t * COLS_PER_TASK;
            for r in 0..rows {
                for (j, s) in sums.iter_mut().enumerate() {
                    *s += f(r, c0 + j);
                }
            }
        });
    out
}

/// Runs `f(row index, row)` on every row of the row-major `data` (`cols` wide), in parallel.
pub(crate) fn for_each_row(data: &mut [f32], cols: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    data.par_chunks_mut(cols * ROWS_PER_TASK)
        .enumerate()
        .for_each(|(t, block)| {
            clear_upper_simd_state();
            for (j, row) in block.chunks_exact_mut(cols).enumerate() {
                f(t * ROWS_PER_TASK + j, row);
            }
        });
}

/// A trainable tensor with its gradient.
pub(crate) struct Param {
    /// PyTorch's shape (out × in for a linear weight).
    pub(crate) shape: Vec<usize>,
    pub(crate) value: Vec<f32>,
    pub(crate) grad: Vec<f32>,
}

impl Param {
    fn new(shape: Vec<usize>, value: Vec<f32>) -> Param {
        let grad = vec![0.0; value.len()];
        Param { shape, value, grad }
    }

    /// A uniform tensor in [−bound, bound) from `rng` (PyTorch's default initialisation).
    fn uniform(rng: &mut ChaCha8Rng, shape: &[usize], bound: f64) -> Param {
        let n: usize = shape.iter().product();
        let v = (0..n)
            .map(|_| ((rng.random::<f64>() * 2.0 - 1.0) * bound) as f32)
            .collect();
        Param::new(shape.to_vec(), v)
    }

    fn filled(n: usize, value: f32) -> Param {
        Param::new(vec![n], vec![value; n])
    }

    pub(crate) fn to_array(&self, grad: bool) -> Array {
        Array {
            shape: self.shape.clone(),
            data: if grad { &self.grad } else { &self.value }.clone(),
        }
    }
}

/// One layer of a sequential network.
pub(crate) enum Layer {
    Linear {
        /// out × in, as PyTorch stores it.
        weight: Param,
        bias: Option<Param>,
    },
    BatchNorm {
        weight: Param,
        bias: Param,
        running_mean: Vec<f32>,
        running_var: Vec<f32>,
    },
    Relu,
}

/// What a training-mode forward pass keeps for the backward pass: the output of every layer, and
/// the normalised values and inverse standard deviations of every batch normalisation. Kept
/// between steps so that its buffers are reused.
#[derive(Default)]
pub(crate) struct Tape {
    /// `outputs[i]`: the output of layer i (the input of layer i + 1).
    outputs: Vec<Vec<f32>>,
    /// Per layer: x̂ of a batch normalisation (empty otherwise).
    normalized: Vec<Vec<f32>>,
    /// Per layer: 1/√(σ² + ε) of a batch normalisation (empty otherwise).
    inv_std: Vec<Vec<f32>>,
}

impl Tape {
    /// The network's output after [`Sequential::forward_train`].
    pub(crate) fn output(&self) -> &[f32] {
        self.outputs.last().map_or(&[], |o| o)
    }
}

/// Batch normalisation of the row-major `x` (`cols` wide) with the batch's mean and biased
/// variance into `out` (`out = (x − μ)/√(σ² + ε)`); returns (μ, σ², 1/√(σ² + ε)).
pub(crate) fn batch_normalize(
    x: &[f32],
    cols: usize,
    out: &mut Vec<f32>,
) -> (Vec<f64>, Vec<f64>, Vec<f32>) {
    let rows = x.len() / cols;
    let mean: Vec<f64> = column_sums(rows, cols, |r, c| x[r * cols + c] as f64)
        .into_iter()
        .map(|s| s / rows as f64)
        .collect();
    let var: Vec<f64> = column_sums(rows, cols, |r, c| {
        let d = x[r * cols + c] as f64 - mean[c];
        d * d
    })
    .into_iter()
    .map(|s| s / rows as f64)
    .collect();
    let inv_std: Vec<f32> = var
        .iter()
        .map(|v| (1.0 / (v + BN_EPS).sqrt()) as f32)
        .collect();
    let mean32: Vec<f32> = mean.iter().map(|&m| m as f32).collect();
    out.resize(x.len(), 0.0);
    for_each_row(out, cols, |r, row| {
        let src = &x[r * cols..(r + 1) * cols];
        for (((o, &v), &m), &s) in row.iter_mut().zip(src).zip(&mean32).zip(&inv_std) {
            *o = (v - m) * s;
        }
    });
    (mean, var, inv_std)
}

/// Backward pass of a batch normalisation in training mode: from `dy` (row-major, `cols` wide),
/// x̂, 1/√(σ² + ε) and the scale γ (`None`: 1), `dy` becomes dx; returns (Σ dy·x̂, Σ dy) per column
/// (the gradients of γ and β).
pub(crate) fn batch_norm_backward(
    dy: &mut [f32],
    normalized: &[f32],
    inv_std: &[f32],
    gamma: Option<&[f32]>,
    cols: usize,
) -> (Vec<f64>, Vec<f64>) {
    let rows = dy.len() / cols;
    let d_gamma = column_sums(rows, cols, |r, c| {
        dy[r * cols + c] as f64 * normalized[r * cols + c] as f64
    });
    let d_beta = column_sums(rows, cols, |r, c| dy[r * cols + c] as f64);
    let n = rows as f64;
    // dx = γ·s/N · (N·dy − Σdy − x̂·Σ(dy·x̂))
    let coef: Vec<(f32, f32, f32)> = (0..cols)
        .map(|c| {
            let g = gamma.map_or(1.0, |g| g[c] as f64) * inv_std[c] as f64;
            (
                g as f32,
                (g * d_beta[c] / n) as f32,
                (g * d_gamma[c] / n) as f32,
            )
        })
        .collect();
    for_each_row(dy, cols, |r, row| {
        let xh = &normalized[r * cols..(r + 1) * cols];
        for ((v, &x), &(g, b, s)) in row.iter_mut().zip(xh).zip(&coef) {
            *v = g * *v - b - x * s;
        }
    });
    (d_gamma, d_beta)
}

/// A stack of layers named `{prefix}.{index}` like an `nn.Sequential`.
pub(crate) struct Sequential {
    prefix: &'static str,
    layers: Vec<Layer>,
}

impl Sequential {
    /// Linear maps between consecutive `sizes` (PyTorch's default initialisation, from `rng`),
    /// batch normalisation (and ReLU for an MLP) between them.
    pub(crate) fn new(
        prefix: &'static str,
        sizes: &[usize],
        kind: NetKind,
        rng: &mut ChaCha8Rng,
    ) -> Sequential {
        let mut layers = Vec::new();
        for (i, w) in sizes.windows(2).enumerate() {
            let (fan_in, out) = (w[0], w[1]);
            let bound = 1.0 / (fan_in as f64).sqrt();
            let weight = Param::uniform(rng, &[out, fan_in], bound);
            let bias = match kind {
                NetKind::Linear => Some(Param::uniform(rng, &[out], bound)),
                NetKind::Mlp => None,
            };
            layers.push(Layer::Linear { weight, bias });
            if i + 2 < sizes.len() {
                layers.push(Layer::BatchNorm {
                    weight: Param::filled(out, 1.0),
                    bias: Param::filled(out, 0.0),
                    running_mean: vec![0.0; out],
                    running_var: vec![1.0; out],
                });
                if kind == NetKind::Mlp {
                    layers.push(Layer::Relu);
                }
            }
        }
        Sequential { prefix, layers }
    }

    /// Width of the output of layer `i`, given the width of its input.
    fn width_after(&self, i: usize, input: usize) -> usize {
        match &self.layers[i] {
            Layer::Linear { weight, .. } => weight.shape[0],
            _ => input,
        }
    }

    /// Evaluation-mode forward pass (running statistics) of the row-major `x`, `dim` wide.
    pub(crate) fn forward_eval(&self, x: &[f32], dim: usize) -> Vec<f32> {
        // Borrowed until the first layer writes (always a linear map, which never copies `x`).
        let mut h = Cow::Borrowed(x);
        let mut width = dim;
        for (i, layer) in self.layers.iter().enumerate() {
            let next_width = self.width_after(i, width);
            match layer {
                Layer::Linear { weight, bias } => {
                    let mut out = Vec::new();
                    linear(&h, width, weight, bias.as_ref(), &mut out);
                    h = Cow::Owned(out);
                }
                Layer::BatchNorm {
                    weight,
                    bias,
                    running_mean,
                    running_var,
                } => {
                    let coef: Vec<(f32, f32)> = (0..width)
                        .map(|c| {
                            let s =
                                weight.value[c] as f64 / (running_var[c] as f64 + BN_EPS).sqrt();
                            (
                                s as f32,
                                (bias.value[c] as f64 - running_mean[c] as f64 * s) as f32,
                            )
                        })
                        .collect();
                    for_each_row(h.to_mut(), width, |_, row| {
                        for (v, &(s, t)) in row.iter_mut().zip(&coef) {
                            *v = *v * s + t;
                        }
                    });
                }
                Layer::Relu => relu(h.to_mut(), width),
            }
            width = next_width;
        }
        h.into_owned()
    }

    /// Training-mode forward pass of the row-major `x` (`dim` wide): batch statistics, running
    /// statistics updated (PyTorch's unbiased variance), everything the backward pass needs kept
    /// in `tape`.
    pub(crate) fn forward_train(&mut self, x: &[f32], dim: usize, tape: &mut Tape) {
        let count = self.layers.len();
        tape.outputs.resize_with(count, Vec::new);
        tape.normalized.resize_with(count, Vec::new);
        tape.inv_std.resize_with(count, Vec::new);
        let rows = x.len() / dim;
        let mut width = dim;
        for i in 0..count {
            let (before, rest) = tape.outputs.split_at_mut(i);
            let input: &[f32] = if i == 0 { x } else { &before[i - 1] };
            let out = &mut rest[0];
            match &mut self.layers[i] {
                Layer::Linear { weight, bias } => {
                    linear(input, width, weight, bias.as_ref(), out);
                    width = weight.shape[0];
                }
                Layer::BatchNorm {
                    weight,
                    bias,
                    running_mean,
                    running_var,
                } => {
                    let (mean, var, inv_std) =
                        batch_normalize(input, width, &mut tape.normalized[i]);
                    let unbias = rows as f64 / (rows as f64 - 1.0).max(1.0);
                    for c in 0..width {
                        running_mean[c] = (running_mean[c] as f64 * (1.0 - BN_MOMENTUM)
                            + mean[c] * BN_MOMENTUM)
                            as f32;
                        running_var[c] = (running_var[c] as f64 * (1.0 - BN_MOMENTUM)
                            + var[c] * unbias * BN_MOMENTUM)
                            as f32;
                    }
                    out.resize(rows * width, 0.0);
                    out.copy_from_slice(&tape.normalized[i]);
                    let (g, b) = (&weight.value, &bias.value);
                    for_each_row(out, width, |_, row| {
                        for ((v, g), b) in row.iter_mut().zip(g).zip(b) {
                            *v = *v * g + b;
                        }
                    });
                    tape.inv_std[i] = inv_std;
                }
                Layer::Relu => {
                    out.resize(input.len(), 0.0);
                    out.copy_from_slice(input);
                    relu(out, width);
                }
            }
        }
    }

    /// Backward pass after [`Sequential::forward_train`] of `x` (`dim` wide) recorded in `tape`:
    /// `d_out` is the gradient of the output (overwritten); parameter gradients are added to
    /// (`accumulate`) or replace their `grad`. Returns the gradient of the input when
    /// `input_grad`.
    pub(crate) fn backward(
        &mut self,
        x: &[f32],
        dim: usize,
        tape: &Tape,
        mut d_out: Vec<f32>,
        accumulate: bool,
        input_grad: bool,
    ) -> Option<Vec<f32>> {
        let rows = x.len() / dim;
        let mut widths = vec![dim];
        for i in 0..self.layers.len() {
            let w = self.width_after(i, widths[i]);
            widths.push(w);
        }
        let add = |g: &mut Vec<f32>, new: Vec<f64>| {
            for (g, n) in g.iter_mut().zip(new) {
                *g = if accumulate { *g + n as f32 } else { n as f32 };
            }
        };
        for i in (0..self.layers.len()).rev() {
            let input: &[f32] = if i == 0 { x } else { &tape.outputs[i - 1] };
            let (w_in, w_out) = (widths[i], widths[i + 1]);
            match &mut self.layers[i] {
                Layer::Linear { weight, bias } => {
                    // dW = dyᵀ·x, db = Σ dy, dx = dy·W
                    gemm(
                        &mut weight.grad,
                        MatRef::from_row_major_slice(&d_out, rows, w_out).transpose(),
                        MatRef::from_row_major_slice(input, rows, w_in),
                        1.0,
                        accumulate,
                    );
                    if let Some(b) = bias {
                        add(
                            &mut b.grad,
                            column_sums(rows, w_out, |r, c| d_out[r * w_out + c] as f64),
                        );
                    }
                    if i == 0 && !input_grad {
                        return None;
                    }
                    let mut dx = vec![0.0f32; rows * w_in];
                    gemm(
                        &mut dx,
                        MatRef::from_row_major_slice(&d_out, rows, w_out),
                        MatRef::from_row_major_slice(&weight.value, w_out, w_in),
                        1.0,
                        false,
                    );
                    d_out = dx;
                }
                Layer::BatchNorm { weight, bias, .. } => {
                    let (dg, db) = batch_norm_backward(
                        &mut d_out,
                        &tape.normalized[i],
                        &tape.inv_std[i],
                        Some(&weight.value),
                        w_in,
                    );
                    add(&mut weight.grad, dg);
                    add(&mut bias.grad, db);
                }
                Layer::Relu => {
                    let y = &tape.outputs[i];
                    for_each_row(&mut d_out, w_in, |r, row| {
                        let yr = &y[r * w_in..(r + 1) * w_in];
                        for (d, &v) in row.iter_mut().zip(yr) {
                            if v <= 0.0 {
                                *d = 0.0;
                            }
                        }
                    });
                }
            }
        }
        Some(d_out)
    }

    /// The trainable parameters in PyTorch's order, with their names.
    pub(crate) fn parameters(&self) -> Vec<(String, &Param)> {
        let mut out = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            let name = |p: &str| format!("{}.{i}.{p}", self.prefix);
            match layer {
                Layer::Linear { weight, bias } => {
                    out.push((name("weight"), weight));
                    if let Some(b) = bias {
                        out.push((name("bias"), b));
                    }
                }
                Layer::BatchNorm { weight, bias, .. } => {
                    out.push((name("weight"), weight));
                    out.push((name("bias"), bias));
                }
                Layer::Relu => {}
            }
        }
        out
    }

    /// The trainable parameters in PyTorch's order, mutable (for the optimizer).
    pub(crate) fn parameters_mut(&mut self) -> Vec<&mut Param> {
        let mut out = Vec::new();
        for layer in &mut self.layers {
            match layer {
                Layer::Linear { weight, bias } => {
                    out.push(weight);
                    if let Some(b) = bias {
                        out.push(b);
                    }
                }
                Layer::BatchNorm { weight, bias, .. } => {
                    out.push(weight);
                    out.push(bias);
                }
                Layer::Relu => {}
            }
        }
        out
    }

    /// Parameters and running statistics by name (PyTorch's `state_dict`, less
    /// `num_batches_tracked`).
    pub(crate) fn state(&self) -> BTreeMap<String, Array> {
        let mut out: BTreeMap<String, Array> = self
            .parameters()
            .into_iter()
            .map(|(n, p)| (n, p.to_array(false)))
            .collect();
        for (i, layer) in self.layers.iter().enumerate() {
            if let Layer::BatchNorm {
                running_mean,
                running_var,
                ..
            } = layer
            {
                for (name, v) in [("running_mean", running_mean), ("running_var", running_var)] {
                    out.insert(
                        format!("{}.{i}.{name}", self.prefix),
                        Array {
                            shape: vec![v.len()],
                            data: v.clone(),
                        },
                    );
                }
            }
        }
        out
    }

    /// Sets every parameter and running statistic from `state` (same names and shapes).
    pub(crate) fn load_state(&mut self, state: &BTreeMap<String, Array>) -> Result<()> {
        let prefix = self.prefix;
        let get = |i: usize, p: &str, shape: &[usize]| -> Result<Vec<f32>> {
            let name = format!("{prefix}.{i}.{p}");
            let a = state.get(&name).ok_or_else(|| {
                Error::Data(format!(
                    "the weights lack `{name}`: they come from another architecture"
                ))
            })?;
            if a.shape != shape {
                return Err(Error::Data(format!(
                    "`{name}` has shape {:?} but the architecture needs {shape:?}",
                    a.shape
                )));
            }
            Ok(a.data.clone())
        };
        for (i, layer) in self.layers.iter_mut().enumerate() {
            match layer {
                Layer::Linear { weight, bias } => {
                    weight.value = get(i, "weight", &weight.shape)?;
                    if let Some(b) = bias {
                        b.value = get(i, "bias", &b.shape)?;
                    }
                }
                Layer::BatchNorm {
                    weight,
                    bias,
                    running_mean,
                    running_var,
                } => {
                    weight.value = get(i, "weight", &weight.shape)?;
                    bias.value = get(i, "bias", &bias.shape)?;
                    *running_mean = get(i, "running_mean", &[running_mean.len()])?;
                    *running_var = get(i, "running_var", &[running_var.len()])?;
                }
                Layer::Relu => {}
            }
        }
        Ok(())
    }
}

/// `out = x·Wᵀ + b` for the row-major `x` (`width` wide).
fn linear(x: &[f32], width: usize, weight: &Param, bias: Option<&Param>, out: &mut Vec<f32>) {
    let (o, rows) = (weight.shape[0], x.len() / width);
    out.resize(rows * o, 0.0);
    let wt = MatRef::from_row_major_slice(&weight.value, o, width).transpose();
    gemm(
        out,
        MatRef::from_row_major_slice(x, rows, width),
        wt,
        1.0,
        false,
    );
    if let Some(b) = bias {
        for_each_row(out, o, |_, row| {
            row.iter_mut().zip(&b.value).for_each(|(v, b)| *v += b);
        });
    }
}

/// max(x, 0) in place.
fn relu(x: &mut [f32], width: usize) {
    for_each_row(x, width, |_, row| {
        row.iter_mut().for_each(|v| *v = v.max(0.0));
    });
}
