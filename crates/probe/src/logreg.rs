//! Multinomial logistic regression with an L2 penalty, two solvers:
//!
//! * [`Solver::Lbfgs`] (the fast default): full-batch L-BFGS on the exact objective
//!   `f(W, b) = (1/N) Σᵢ CE(xᵢ·W + b, yᵢ) + (λ/2)‖W‖²` (bias unpenalized, as scikit-learn does;
//!   scikit-learn's `C` maps to `λ = 1 / (C·N)`). Logits are linear in the weights, so the line
//!   search keeps `Z = XW + b` and `Zd = X·dW + db` and tries steps in O(N·C) without a GEMM: one
//!   iteration costs exactly two GEMMs (`X·dW` and `Xᵀ·P`), 4·N·D·C FLOP. The initial inverse
//!   Hessian of the two-loop recursion is the Kronecker-factored [`CovariancePreconditioner`]
//!   (data side exact, class side a scalar curvature re-estimated from each step), which removes
//!   the feature covariance's ill-conditioning: on the benchmark's anisotropic mixtures it cuts
//!   the fast protocol on the benchmark's shape A from 37 s to 7 s against plain `γ·I` scaling.
//! * [`Solver::Sgd`]: the ImageNet-CoG reference (naver/cog `logreg.py`): mini-batch SGD with
//!   PyTorch momentum, weight decay on weight AND bias, reshuffled batches, cosine learning rate set
//!   after each epoch, `nn.Linear`-style uniform(±1/√D) initialisation from a seeded RNG (torch's
//!   RNG stream cannot be reproduced, so parity with PyTorch is on accuracy/loss, not bits).

use std::collections::VecDeque;
use std::time::Instant;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::Samples;
use crate::error::{Error, Result};
use crate::metrics::TopK;
use crate::objective::{
    column_sums, cross_entropy, data_logits, dot, line_cross_entropy, logits, softmax_residual,
    streaming_loss_gradient, xt_times,
};
use crate::precondition::CovariancePreconditioner;

/// Full-batch L-BFGS settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LbfgsParams {
    /// L2 strength λ on the mean-loss objective (scikit-learn: `λ = 1/(C·N)`).
    pub l2: f64,
    /// Iteration cap.
    pub max_iter: usize,
    /// Stop when the largest gradient entry is below this (scikit-learn's `tol` for lbfgs).
    pub tol: f64,
    /// Number of correction pairs kept.
    pub history: usize,
    /// Most bytes the line search's two `rows × classes` f32 logit buffers may take (default
    /// 1.5 GiB). Above it
    /// (ImageNet-1K: 1.28M × 1,000 would need 10 GB) no such buffer exists: every trial step
    /// computes the loss and gradient in row blocks (two GEMMs per trial instead of none).
    #[serde(default = "default_logit_cache_bytes")]
    pub logit_cache_bytes: usize,
}

fn default_logit_cache_bytes() -> usize {
    3 << 29
}

impl Default for LbfgsParams {
    fn default() -> Self {
        Self {
            l2: 1e-4,
            max_iter: 300,
            tol: 1e-4,
            history: 10,
            logit_cache_bytes: default_logit_cache_bytes(),
        }
    }
}

/// The reference protocol's SGD settings (naver/cog defaults: momentum 0.9, batch 1024, 100 epochs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SgdParams {
    /// Initial learning rate (cosine-decayed per epoch).
    pub lr: f64,
    /// PyTorch-style weight decay, applied to the weight and the bias.
    pub weight_decay: f64,
    /// Heavy-ball momentum (PyTorch form: `v ← μv + g; θ ← θ − lr·v`).
    pub momentum: f64,
    /// Number of passes over the data.
    pub epochs: usize,
    /// Mini-batch size (shrinks to N when N is smaller).
    pub batch_size: usize,
    /// Seeds the initialisation and the batch order.
    pub seed: u64,
}

impl Default for SgdParams {
    fn default() -> Self {
        Self {
            lr: 1.0,
            weight_decay: 1e-6,
            momentum: 0.9,
            epochs: 100,
            batch_size: 1024,
            seed: 0,
        }
    }
}

/// Which optimiser fits the weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Solver {
    /// Full-batch L-BFGS (fast default).
    Lbfgs(LbfgsParams),
    /// The reference mini-batch SGD.
    Sgd(SgdParams),
}

/// Checked hyper-parameters of a logistic regression; [`LogisticRegressionParams::fit`] trains one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogisticRegressionParams {
    solver: Solver,
}

fn positive(name: &'static str, v: f64, allow_zero: bool) -> Result<()> {
    if v.is_finite() && (v > 0.0 || (allow_zero && v == 0.0)) {
        Ok(())
    } else {
        Err(Error::InvalidParam {
            name,
            value: v.to_string(),
            hint: if allow_zero {
                "must be a finite number >= 0"
            } else {
                "must be a finite number > 0"
            },
        })
    }
}

fn at_least_one(name: &'static str, v: usize) -> Result<()> {
    if v >= 1 {
        Ok(())
    } else {
        Err(Error::InvalidParam {
            name,
            value: v.to_string(),
            hint: "must be at least 1",
        })
    }
}

impl LogisticRegressionParams {
    /// Validates the solver settings.
    pub fn new(solver: Solver) -> Result<Self> {
        match &solver {
            Solver::Lbfgs(p) => {
                positive("l2", p.l2, true)?;
                positive("tol", p.tol, true)?;
                at_least_one("max_iter", p.max_iter)?;
                at_least_one("history", p.history)?;
            }
            Solver::Sgd(p) => {
                positive("lr", p.lr, false)?;
                positive("weight_decay", p.weight_decay, true)?;
                if !(0.0..1.0).contains(&p.momentum) {
                    return Err(Error::InvalidParam {
                        name: "momentum",
                        value: p.momentum.to_string(),
                        hint: "must be in [0, 1)",
                    });
                }
                at_least_one("epochs", p.epochs)?;
                at_least_one("batch_size", p.batch_size)?;
            }
        }
        Ok(Self { solver })
    }

    /// L-BFGS with scikit-learn's parametrisation: `C` for `n` training rows.
    pub fn lbfgs_with_c(c: f64, n: usize, tol: f64, max_iter: usize) -> Result<Self> {
        positive("C", c, false)?;
        at_least_one("n", n)?;
        Self::new(Solver::Lbfgs(LbfgsParams {
            l2: 1.0 / (c * n as f64),
            tol,
            max_iter,
            ..LbfgsParams::default()
        }))
    }

    /// The solver settings.
    pub fn solver(&self) -> &Solver {
        &self.solver
    }

    /// Fits on `data`. `init` warm-starts L-BFGS (ignored by SGD, which starts like `nn.Linear`);
    /// `on_step(done, total)` is called after each iteration/epoch.
    pub fn fit(
        &self,
        data: Samples<'_>,
        init: Option<&FittedLogReg>,
        on_step: &mut dyn FnMut(usize, usize),
    ) -> Result<FittedLogReg> {
        self.fit_with(data, init, None, on_step)
    }

    /// [`fit`](Self::fit) with L-BFGS's preconditioner built beforehand from the same `data` (so
    /// that several fits on one data set, e.g. a regularisation path, build it once). `None`
    /// builds it here when it [pays off](CovariancePreconditioner::pays_off); SGD ignores it.
    pub fn fit_with(
        &self,
        data: Samples<'_>,
        init: Option<&FittedLogReg>,
        precond: Option<&CovariancePreconditioner>,
        on_step: &mut dyn FnMut(usize, usize),
    ) -> Result<FittedLogReg> {
        if data.rows() == 0 {
            return Err(Error::InvalidData("cannot fit on zero rows".into()));
        }
        if let Some(m) = init {
            if m.dim != data.dim() || m.num_classes != data.num_classes() {
                return Err(Error::InvalidData(format!(
                    "warm start is {}x{} but the data is {}-d with {} classes",
                    m.dim,
                    m.num_classes,
                    data.dim(),
                    data.num_classes()
                )));
            }
        }
        match &self.solver {
            Solver::Lbfgs(p) => {
                let built;
                let precond = match precond {
                    Some(pre) => {
                        pre.check_dim(data.dim())?;
                        Some(pre)
                    }
                    None if CovariancePreconditioner::pays_off(
                        data.rows(),
                        data.dim(),
                        data.num_classes(),
                    ) =>
                    {
                        built = CovariancePreconditioner::fit(data)?;
                        Some(&built)
                    }
                    None => None,
                };
                fit_lbfgs(p, data, init, precond, on_step)
            }
            Solver::Sgd(p) => fit_sgd(p, data, on_step),
        }
    }
}

/// How a fit went: iterations, convergence, and the GEMM work done (for GFLOP/s reports).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FitInfo {
    /// L-BFGS iterations or SGD epochs completed.
    pub iterations: usize,
    /// L-BFGS: gradient or objective tolerance reached. SGD: all epochs ran.
    pub converged: bool,
    /// SGD only: a non-finite loss stopped training (the reference's behaviour).
    pub diverged: bool,
    /// Final training objective (L-BFGS: penalised mean loss; SGD: last batch loss).
    pub objective: f64,
    /// Floating-point operations done in GEMMs.
    pub gemm_flops: f64,
    /// Seconds spent in GEMMs.
    pub gemm_seconds: f64,
    /// Seconds of the whole fit.
    pub seconds: f64,
    /// L-BFGS: the final estimate of the class-side curvature `s` of the preconditioner (a warm
    /// start resumes from it). SGD: 0.
    #[serde(default)]
    pub curvature: f64,
}

/// A trained classifier: weights `dim × num_classes` (row-major) and a bias per class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FittedLogReg {
    dim: usize,
    num_classes: usize,
    weights: Vec<f32>,
    bias: Vec<f32>,
    /// Diagnostics of the fit that produced it.
    pub info: FitInfo,
}

/// Rows per chunk when scoring, to bound the logits buffer.
const SCORE_CHUNK: usize = 4096;

impl FittedLogReg {
    /// Feature dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }
    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }
    /// Weights, row-major `dim × num_classes`.
    pub fn weights(&self) -> &[f32] {
        &self.weights
    }
    /// Bias per class.
    pub fn bias(&self) -> &[f32] {
        &self.bias
    }

    fn check_x(&self, x: &[f32]) -> Result<usize> {
        if !x.len().is_multiple_of(self.dim) {
            return Err(Error::InvalidData(format!(
                "{} values is not a whole number of {}-d rows",
                x.len(),
                self.dim
            )));
        }
        Ok(x.len() / self.dim)
    }

    /// Class scores (logits), row-major `rows × num_classes`.
    pub fn decision_function(&self, x: &[f32]) -> Result<Vec<f32>> {
        let rows = self.check_x(x)?;
        let mut z = vec![0.0; rows * self.num_classes];
        logits(x, self.dim, &self.weights, &self.bias, &mut z);
        Ok(z)
    }

    /// The `k` best classes of each row, best first (row-major `rows × k`).
    pub fn predict_topk(&self, x: &[f32], k: usize) -> Result<TopK> {
        self.score_chunks(x, None, k).map(|(t, _)| t)
    }

    /// The best class of each row.
    pub fn predict(&self, x: &[f32]) -> Result<Vec<u32>> {
        Ok(self.predict_topk(x, 1)?.indices)
    }

    /// Mean cross-entropy (unpenalised) on labelled data.
    pub fn loss(&self, data: Samples<'_>) -> Result<f64> {
        self.evaluate(data, 1).map(|(_, l)| l)
    }

    /// Top-`k` predictions and the mean cross-entropy, scored in bounded-memory chunks.
    pub fn evaluate(&self, data: Samples<'_>, k: usize) -> Result<(TopK, f64)> {
        if data.num_classes() != self.num_classes {
            return Err(Error::InvalidData(format!(
                "the data has {} classes but the classifier {}",
                data.num_classes(),
                self.num_classes
            )));
        }
        let (mut indices, mut sum, mut buf) = (Vec::new(), 0.0, Vec::new());
        for start in (0..data.rows()).step_by(SCORE_CHUNK) {
            let end = (start + SCORE_CHUNK).min(data.rows());
            let labels = &data.labels()[start..end];
            let (t, s) = self.score_chunks(data.block(start, end, &mut buf), Some(labels), k)?;
            indices.extend(t.indices);
            sum += s;
        }
        let k = k.clamp(1, self.num_classes);
        Ok((TopK { indices, k }, sum / data.rows().max(1) as f64))
    }

    fn score_chunks(&self, x: &[f32], labels: Option<&[u32]>, k: usize) -> Result<(TopK, f64)> {
        let rows = self.check_x(x)?;
        let c = self.num_classes;
        let k = k.clamp(1, c);
        let mut indices = Vec::with_capacity(rows * k);
        let mut loss = 0.0;
        let mut z = vec![0.0; SCORE_CHUNK.min(rows) * c];
        for start in (0..rows).step_by(SCORE_CHUNK) {
            let end = (start + SCORE_CHUNK).min(rows);
            let zc = &mut z[..(end - start) * c];
            logits(
                &x[start * self.dim..end * self.dim],
                self.dim,
                &self.weights,
                &self.bias,
                zc,
            );
            if let Some(l) = labels {
                loss += cross_entropy(zc, &l[start..end], c);
            }
            indices.extend(TopK::from_scores(zc, c, k).indices);
        }
        Ok((TopK { indices, k }, loss))
    }
}

/// Largest entry of the loss gradient at zero weights, `(1/N)·[Xᵀ(1/C − Y), Σ(1/C − Y)]`: the
/// data's natural gradient scale, so a relative tolerance means the same on any feature scaling.
/// Computed from per-class row sums (no `rows × classes` buffer).
pub fn zero_weight_gradient_scale(data: Samples<'_>) -> f64 {
    let (n, d, c) = (data.rows() as f64, data.dim(), data.num_classes());
    let by_class = data.indices_by_class();
    let class_sums: Vec<Vec<f64>> = by_class
        .par_iter()
        .map(|rows| {
            let mut s = vec![0.0f64; d];
            for &i in rows {
                for (acc, &v) in s.iter_mut().zip(data.row(i)) {
                    *acc += v as f64;
                }
            }
            s
        })
        .collect();
    let mut total = vec![0.0f64; d];
    for s in &class_sums {
        for (t, v) in total.iter_mut().zip(s) {
            *t += v;
        }
    }
    let gw = class_sums.iter().fold(0.0f64, |m, s| {
        s.iter()
            .zip(&total)
            .fold(m, |m, (own, all)| m.max((all / c as f64 - own).abs() / n))
    });
    let gb = by_class.iter().fold(0.0f64, |m, rows| {
        m.max((n / c as f64 - rows.len() as f64).abs() / n)
    });
    gw.max(gb)
}

fn zeros_model(dim: usize, c: usize) -> FittedLogReg {
    FittedLogReg {
        dim,
        num_classes: c,
        weights: vec![0.0; dim * c],
        bias: vec![0.0; c],
        info: FitInfo::default(),
    }
}

/// GEMM bookkeeping shared by both solvers.
struct GemmMeter {
    flops: f64,
    seconds: f64,
}

impl GemmMeter {
    fn run<T>(&mut self, flops: f64, f: impl FnOnce() -> T) -> T {
        let t = Instant::now();
        let out = f();
        self.seconds += t.elapsed().as_secs_f64();
        self.flops += flops;
        out
    }
}

/// Penalised mean loss and its gradient at `theta`, given the logits `z` of `theta`.
/// `work` receives the residual `softmax − onehot`; `grad` the gradient.
#[allow(clippy::too_many_arguments)]
fn loss_and_gradient(
    data: Samples<'_>,
    theta: &[f32],
    l2: f64,
    z: &[f32],
    work: &mut [f32],
    grad: &mut [f32],
    meter: &mut GemmMeter,
) -> f64 {
    let (n, d, c) = (data.rows(), data.dim(), data.num_classes());
    let nw = d * c;
    work.copy_from_slice(z);
    let loss = softmax_residual(work, data.labels(), c);
    meter.run(2.0 * (n * d * c) as f64, || {
        xt_times(data, work, c, 1.0 / n as f32, &mut grad[..nw], false)
    });
    penalised(theta, l2, n, loss, &column_sums(work, c), grad)
}

/// [`loss_and_gradient`] without logits: computed in row blocks (no `rows × classes` buffer).
fn streaming_loss_and_gradient(
    data: Samples<'_>,
    theta: &[f32],
    l2: f64,
    grad: &mut [f32],
    meter: &mut GemmMeter,
) -> f64 {
    let (n, d, c) = (data.rows(), data.dim(), data.num_classes());
    let nw = d * c;
    let mut bias_sums = vec![0.0f64; c];
    let (w, b) = theta.split_at(nw);
    let loss = meter.run(4.0 * (n * d * c) as f64, || {
        streaming_loss_gradient(data, w, b, &mut grad[..nw], &mut bias_sums)
    });
    let inv_n = 1.0 / n as f32;
    for g in &mut grad[..nw] {
        *g *= inv_n;
    }
    penalised(theta, l2, n, loss, &bias_sums, grad)
}

/// Completes a gradient whose weight part holds the mean data term: adds `λ·W`, sets the bias
/// part from the residuals' column sums; returns the penalised mean loss from the summed `loss`.
fn penalised(
    theta: &[f32],
    l2: f64,
    n: usize,
    loss: f64,
    bias_sums: &[f64],
    grad: &mut [f32],
) -> f64 {
    let nw = theta.len() - bias_sums.len();
    let inv_n = 1.0 / n as f64;
    for (g, &w) in grad[..nw].iter_mut().zip(&theta[..nw]) {
        *g += (l2 * w as f64) as f32;
    }
    for (g, s) in grad[nw..].iter_mut().zip(bias_sums) {
        *g = (s * inv_n) as f32;
    }
    let ww = dot(&theta[..nw], &theta[..nw]);
    loss * inv_n + 0.5 * l2 * ww
}

/// `H₀` of the two-loop recursion: the preconditioner at the current class-side curvature, or the
/// identity without one.
struct InitialHessian<'a> {
    precond: Option<&'a CovariancePreconditioner>,
    curvature: f64,
    l2: f64,
    /// Scratch of the parameters' size.
    tmp: Vec<f32>,
}

impl InitialHessian<'_> {
    /// `out = H₀·v`.
    fn apply(&mut self, v: &[f32], out: &mut [f32], meter: &mut GemmMeter) {
        match self.precond {
            Some(pre) => {
                let size = pre.dim() + 1;
                let flops = 4.0 * (size * size * (v.len() / size)) as f64;
                let (curvature, l2, tmp) = (self.curvature, self.l2, &mut self.tmp);
                meter.run(flops, || pre.apply(v, curvature, l2, out, tmp));
            }
            None => out.copy_from_slice(v),
        }
    }
}

/// How often (iterations) the incrementally updated logits are recomputed from scratch.
const LOGIT_REFRESH: usize = 20;

fn fit_lbfgs(
    p: &LbfgsParams,
    data: Samples<'_>,
    init: Option<&FittedLogReg>,
    precond: Option<&CovariancePreconditioner>,
    on_step: &mut dyn FnMut(usize, usize),
) -> Result<FittedLogReg> {
    let start = Instant::now();
    let (n, d, c) = (data.rows(), data.dim(), data.num_classes());
    let nw = d * c;
    let np = nw + c;
    let mut model = init.cloned().unwrap_or_else(|| zeros_model(d, c));
    let mut theta = Vec::with_capacity(np);
    theta.extend_from_slice(&model.weights);
    theta.extend_from_slice(&model.bias);
    let mut meter = GemmMeter {
        flops: 0.0,
        seconds: 0.0,
    };
    let gemm = 2.0 * (n * d * c) as f64;
    // Cached logits (Z of θ and X·dir of the direction: trial steps cost no GEMM) when both fit in
    // the budget; else every trial step recomputes loss and gradient in row blocks.
    let cached = 2 * n * c * std::mem::size_of::<f32>() <= p.logit_cache_bytes;
    let (mut z, mut work) = if cached {
        (vec![0.0f32; n * c], vec![0.0f32; n * c])
    } else {
        (Vec::new(), Vec::new())
    };
    let mut grad = vec![0.0f32; np];
    let mut grad_new = vec![0.0f32; np];
    let mut dir = vec![0.0f32; np];
    let mut scratch = vec![0.0f32; np];
    let mut alpha_hist = vec![0.0f64; p.history];
    // (s, y, 1/(s·y)) pairs, oldest first; vectors are recycled once the history is full.
    let mut hist: VecDeque<(Vec<f32>, Vec<f32>, f64)> = VecDeque::with_capacity(p.history);
    // Class-side curvature of the preconditioner: 1/C at zero weights (uniform softmax), then
    // re-estimated from every accepted step.
    let mut h0 = InitialHessian {
        precond,
        curvature: init
            .map(|m| m.info.curvature)
            .filter(|s| *s > 0.0 && s.is_finite())
            .unwrap_or(1.0 / c as f64),
        l2: p.l2,
        tmp: vec![0.0f32; np],
    };
    let inv_n = 1.0 / n as f64;

    let mut f = if cached {
        meter.run(gemm, || {
            data_logits(data, &theta[..nw], &theta[nw..], &mut z)
        });
        loss_and_gradient(data, &theta, p.l2, &z, &mut work, &mut grad, &mut meter)
    } else {
        streaming_loss_and_gradient(data, &theta, p.l2, &mut grad, &mut meter)
    };
    let mut iterations = 0;
    let mut converged = false;
    while iterations < p.max_iter {
        if !f.is_finite() {
            return Err(Error::NonFinite {
                loss: f,
                stage: format!("L-BFGS iteration {iterations}"),
            });
        }
        let gmax = grad.iter().fold(0.0f32, |m, g| m.max(g.abs())) as f64;
        if gmax <= p.tol {
            converged = true;
            break;
        }
        // Two-loop recursion with H₀ = γ·P (P: the preconditioner, or I): dir = −H·grad.
        for (v, g) in scratch.iter_mut().zip(&grad) {
            *v = -g;
        }
        for (i, (s, y, rho)) in hist.iter().enumerate().rev() {
            let a = rho * dot(s, &scratch);
            alpha_hist[i] = a;
            for (v, yy) in scratch.iter_mut().zip(y) {
                *v -= (a * *yy as f64) as f32;
            }
        }
        h0.apply(&scratch, &mut dir, &mut meter);
        // A preconditioned first step has a natural length; a plain gradient one does not.
        let mut alpha0 = 1.0;
        if let Some((s, y, _)) = hist.back() {
            // γ = sᵀy / yᵀPy: the step scale seen through the preconditioner.
            h0.apply(y, &mut scratch, &mut meter);
            let gamma = dot(s, y) / dot(y, &scratch);
            if gamma.is_finite() && gamma > 0.0 {
                for v in dir.iter_mut() {
                    *v = (*v as f64 * gamma) as f32;
                }
            }
        } else if precond.is_none() {
            alpha0 = (1.0 / dot(&grad, &grad).sqrt()).min(1.0);
        }
        for (i, (s, y, rho)) in hist.iter().enumerate() {
            let beta = rho * dot(y, &dir);
            let coef = alpha_hist[i] - beta;
            for (v, ss) in dir.iter_mut().zip(s) {
                *v += (coef * *ss as f64) as f32;
            }
        }
        let mut slope = dot(&grad, &dir);
        if slope >= 0.0 {
            // Not a descent direction (curvature noise): restart from the preconditioned gradient.
            hist.clear();
            for (v, g) in scratch.iter_mut().zip(&grad) {
                *v = -g;
            }
            h0.apply(&scratch, &mut dir, &mut meter);
            slope = dot(&grad, &dir);
            if precond.is_none() {
                alpha0 = (1.0 / slope.abs().sqrt()).min(1.0);
            }
        }
        let (alpha, f_new, dir_logit_energy) = if cached {
            // Logits of the direction; the line search then costs no GEMM.
            meter.run(gemm, || {
                data_logits(data, &dir[..nw], &dir[nw..], &mut work)
            });
            let ww = dot(&theta[..nw], &theta[..nw]);
            let wd = dot(&theta[..nw], &dir[..nw]);
            let dd = dot(&dir[..nw], &dir[..nw]);
            let phi = |a: f64| {
                let (l, dl) = line_cross_entropy(&z, &work, a as f32, data.labels(), c);
                (
                    l * inv_n + 0.5 * p.l2 * (ww + 2.0 * a * wd + a * a * dd),
                    dl * inv_n + p.l2 * (wd + a * dd),
                )
            };
            let Some(alpha) = line_search(phi, f, slope, alpha0) else {
                // No decrease possible at f32 precision: we are at the optimum's noise floor.
                converged = true;
                break;
            };
            // ‖X̃·dir‖²/N, for the curvature estimate below.
            let energy = dot(&work, &work) * inv_n;
            for (t, v) in theta.iter_mut().zip(&dir) {
                *t += (alpha * *v as f64) as f32;
            }
            if (iterations + 1) % LOGIT_REFRESH == 0 {
                meter.run(gemm, || {
                    data_logits(data, &theta[..nw], &theta[nw..], &mut z)
                });
            } else {
                let a = alpha as f32;
                for (zz, dz) in z.iter_mut().zip(&work) {
                    *zz += a * dz;
                }
            }
            let f_new =
                loss_and_gradient(data, &theta, p.l2, &z, &mut work, &mut grad_new, &mut meter);
            (alpha, f_new, energy)
        } else {
            // Each trial step: loss and gradient at θ + α·dir in row blocks; the last one tried
            // is kept, so an accepted first step costs exactly the usual two GEMMs.
            let mut trial = vec![0.0f32; np];
            let last = std::cell::Cell::new(None);
            let mut phi = |a: f64| {
                for ((t, &th), &v) in trial.iter_mut().zip(&theta).zip(&dir) {
                    *t = th + (a * v as f64) as f32;
                }
                let fa = streaming_loss_and_gradient(data, &trial, p.l2, &mut grad_new, &mut meter);
                last.set(Some((a, fa)));
                (fa, dot(&grad_new, &dir))
            };
            let Some(alpha) = line_search(&mut phi, f, slope, alpha0) else {
                converged = true;
                break;
            };
            let f_new = match last.get() {
                Some((a, fa)) if a == alpha => fa,
                _ => phi(alpha).0,
            };
            theta.copy_from_slice(&trial);
            let energy = precond.map_or(0.0, |pre| pre.energy(&dir, &mut h0.tmp));
            (alpha, f_new, energy)
        };
        let dd = dot(&dir[..nw], &dir[..nw]);
        iterations += 1;
        // New correction pair s = α·dir, y = Δgrad (recycling the oldest buffers).
        let (mut s, mut y) = if hist.len() == p.history {
            let (s, y, _) = hist.pop_front().expect("history is full");
            (s, y)
        } else {
            (vec![0.0; np], vec![0.0; np])
        };
        for ((ss, yy), ((v, gn), go)) in s
            .iter_mut()
            .zip(y.iter_mut())
            .zip(dir.iter().zip(&grad_new).zip(&grad))
        {
            *ss = (alpha * *v as f64) as f32;
            *yy = gn - go;
        }
        let sy = dot(&s, &y);
        // Curvature along the step: sᵀy = s·‖X̃s‖²/N + λ‖s_W‖² under the Kronecker model.
        let data_curv = (sy - p.l2 * alpha * alpha * dd) / (alpha * alpha * dir_logit_energy);
        if data_curv.is_finite() && data_curv > 0.0 {
            h0.curvature = data_curv.min(1.0);
        }
        if sy > 1e-12 * dot(&y, &y).max(f64::MIN_POSITIVE) {
            hist.push_back((s, y, 1.0 / sy));
        }
        std::mem::swap(&mut grad, &mut grad_new);
        let decrease = (f - f_new) / f.abs().max(f_new.abs()).max(1.0);
        f = f_new;
        on_step(iterations, p.max_iter);
        if decrease.abs() <= 1e-12 {
            converged = true;
            break;
        }
    }
    model.weights.copy_from_slice(&theta[..nw]);
    model.bias.copy_from_slice(&theta[nw..]);
    model.info = FitInfo {
        iterations,
        converged,
        diverged: false,
        objective: f,
        gemm_flops: meter.flops,
        gemm_seconds: meter.seconds,
        seconds: start.elapsed().as_secs_f64(),
        curvature: h0.curvature,
    };
    Ok(model)
}

/// Strong-Wolfe line search on a convex 1-D function `phi(α) = (value, derivative)`: expands until
/// the minimum is bracketed, then secant/bisection steps. `None` when no step decreases `f0`.
fn line_search(
    mut phi: impl FnMut(f64) -> (f64, f64),
    f0: f64,
    d0: f64,
    alpha0: f64,
) -> Option<f64> {
    const C1: f64 = 1e-4;
    const C2: f64 = 0.9;
    let (mut lo, mut d_lo) = (0.0, d0);
    let mut hi: Option<(f64, Option<f64>)> = None;
    let mut best: Option<(f64, f64)> = None;
    let mut a = alpha0;
    for _ in 0..50 {
        let (fa, da) = phi(a);
        let armijo = fa.is_finite() && fa <= f0 + C1 * a * d0;
        if armijo && best.is_none_or(|(_, fb)| fa < fb) {
            best = Some((a, fa));
        }
        if !armijo {
            hi = Some((a, da.is_finite().then_some(da)));
        } else if da.abs() <= -C2 * d0 {
            return Some(a);
        } else if da > 0.0 {
            hi = Some((a, Some(da)));
        } else {
            lo = a;
            d_lo = da;
        }
        a = match hi {
            None => a * 4.0,
            Some((h, dh)) => {
                let width = h - lo;
                let secant = dh
                    .filter(|&dh| dh > d_lo)
                    .map(|dh| lo - d_lo * width / (dh - d_lo));
                match secant {
                    Some(s) => s.clamp(lo + 0.1 * width, h - 0.1 * width),
                    None => lo + 0.5 * width,
                }
            }
        };
        if hi.is_some_and(|(h, _)| h - lo <= 1e-12 * h) {
            break;
        }
    }
    best.map(|(a, _)| a)
}

fn fit_sgd(
    p: &SgdParams,
    data: Samples<'_>,
    on_step: &mut dyn FnMut(usize, usize),
) -> Result<FittedLogReg> {
    let start = Instant::now();
    let (n, d, c) = (data.rows(), data.dim(), data.num_classes());
    let nw = d * c;
    let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
    // nn.Linear: kaiming_uniform(a=√5) gives bound 1/√fan_in for the weight, and the bias uses 1/√fan_in.
    let bound = 1.0 / (d as f32).sqrt();
    let mut theta: Vec<f32> = (0..nw + c)
        .map(|_| rng.random_range(-bound..=bound))
        .collect();
    let mut vel = vec![0.0f32; nw + c];
    let mut grad = vec![0.0f32; nw];
    let bs = p.batch_size.min(n);
    let mut xb = vec![0.0f32; bs * d];
    let mut lb = vec![0u32; bs];
    let mut zb = vec![0.0f32; bs * c];
    let mut order: Vec<usize> = (0..n).collect();
    let mut meter = GemmMeter {
        flops: 0.0,
        seconds: 0.0,
    };
    let labels = data.labels();
    let mut lr = p.lr;
    let (mom, wd) = (p.momentum as f32, p.weight_decay as f32);
    let mut last_loss = f64::NAN;
    let mut diverged = false;
    let mut epochs_done = 0;
    'epochs: for epoch in 0..p.epochs {
        order.shuffle(&mut rng);
        for batch in order.chunks(bs) {
            let m = batch.len();
            for (j, &i) in batch.iter().enumerate() {
                xb[j * d..(j + 1) * d].copy_from_slice(data.row(i));
                lb[j] = labels[i];
            }
            let (xm, zm) = (&xb[..m * d], &mut zb[..m * c]);
            let flops = 2.0 * (m * d * c) as f64;
            meter.run(flops, || logits(xm, d, &theta[..nw], &theta[nw..], zm));
            let loss = softmax_residual(zm, &lb[..m], c) / m as f64;
            last_loss = loss;
            if !loss.is_finite() {
                diverged = true;
                break 'epochs;
            }
            let inv_m = 1.0 / m as f32;
            let batch = Samples::new(xm, &lb[..m], d, c)?;
            meter.run(flops, || xt_times(batch, zm, c, inv_m, &mut grad, false));
            let lr32 = lr as f32;
            for ((t, v), g) in theta[..nw].iter_mut().zip(&mut vel[..nw]).zip(&grad) {
                *v = mom * *v + g + wd * *t;
                *t -= lr32 * *v;
            }
            let gb = column_sums(zm, c);
            for ((t, v), g) in theta[nw..].iter_mut().zip(&mut vel[nw..]).zip(gb) {
                *v = mom * *v + g as f32 * inv_m + wd * *t;
                *t -= lr32 * *v;
            }
        }
        epochs_done = epoch + 1;
        on_step(epochs_done, p.epochs);
        lr = p.lr * 0.5 * (1.0 + (std::f64::consts::PI * epoch as f64 / p.epochs as f64).cos());
    }
    Ok(FittedLogReg {
        dim: d,
        num_classes: c,
        weights: theta[..nw].to_vec(),
        bias: theta[nw..].to_vec(),
        info: FitInfo {
            iterations: epochs_done,
            converged: !diverged,
            diverged,
            objective: last_loss,
            gemm_flops: meter.flops,
            gemm_seconds: meter.seconds,
            seconds: start.elapsed().as_secs_f64(),
            curvature: 0.0,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three well-separated 2-d blobs.
    fn blobs() -> (Vec<f32>, Vec<u32>) {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let centers = [(0.0f32, 3.0f32), (3.0, -2.0), (-3.0, -2.0)];
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for i in 0..300 {
            let k = i % 3;
            x.push(centers[k].0 + rng.random_range(-1.0..1.0));
            x.push(centers[k].1 + rng.random_range(-1.0..1.0));
            y.push(k as u32);
        }
        (x, y)
    }

    #[test]
    fn lbfgs_gradient_vanishes_at_solution() {
        let (x, y) = blobs();
        let s = Samples::new(&x, &y, 2, 3).unwrap();
        let params = LogisticRegressionParams::new(Solver::Lbfgs(LbfgsParams {
            l2: 1e-2,
            tol: 1e-6,
            max_iter: 500,
            history: 10,
            ..LbfgsParams::default()
        }))
        .unwrap();
        let m = params.fit(s, None, &mut |_, _| {}).unwrap();
        assert!(m.info.converged, "{:?}", m.info);
        // Optimality: the penalised weights' class sums vanish (softmax shift invariance).
        for d in 0..2 {
            let row: f32 = m.weights()[d * 3..d * 3 + 3].iter().sum();
            assert!(row.abs() < 1e-3, "{row}");
        }
        let pred = m.predict(&x).unwrap();
        let acc = pred.iter().zip(&y).filter(|(a, b)| a == b).count();
        assert!(acc >= 290, "{acc}");
    }

    #[test]
    fn preconditioned_and_plain_lbfgs_reach_the_same_optimum() {
        // Blobs shifted far from the origin and stretched along one axis: an ill-conditioned A.
        let (mut x, y) = blobs();
        for row in x.chunks_exact_mut(2) {
            row[0] = 10.0 + 0.05 * row[0];
        }
        let s = Samples::new(&x, &y, 2, 3).unwrap();
        let p = LbfgsParams {
            l2: 1e-3,
            tol: 1e-7,
            max_iter: 2000,
            history: 10,
            ..LbfgsParams::default()
        };
        let pre = CovariancePreconditioner::fit(s).unwrap();
        let with = fit_lbfgs(&p, s, None, Some(&pre), &mut |_, _| {}).unwrap();
        let plain = fit_lbfgs(&p, s, None, None, &mut |_, _| {}).unwrap();
        let (a, b) = (with.info.objective, plain.info.objective);
        assert!((a - b).abs() <= 1e-5 * b, "{a} vs {b}");
        assert!(
            with.info.iterations < plain.info.iterations,
            "{} vs {}",
            with.info.iterations,
            plain.info.iterations
        );
    }

    #[test]
    fn sgd_learns_blobs_and_is_seeded() {
        let (x, y) = blobs();
        let s = Samples::new(&x, &y, 2, 3).unwrap();
        let params = LogisticRegressionParams::new(Solver::Sgd(SgdParams {
            lr: 0.5,
            weight_decay: 1e-4,
            epochs: 20,
            batch_size: 64,
            ..SgdParams::default()
        }))
        .unwrap();
        let a = params.fit(s, None, &mut |_, _| {}).unwrap();
        let b = params.fit(s, None, &mut |_, _| {}).unwrap();
        assert_eq!(a.weights(), b.weights());
        assert!(a.loss(s).unwrap() < 0.1);
    }

    #[test]
    fn rejects_bad_parameters() {
        let bad = LogisticRegressionParams::new(Solver::Sgd(SgdParams {
            lr: -1.0,
            ..SgdParams::default()
        }));
        assert!(matches!(bad, Err(Error::InvalidParam { name: "lr", .. })));
        assert!(LogisticRegressionParams::lbfgs_with_c(0.0, 10, 1e-4, 10).is_err());
    }

    #[test]
    fn line_search_finds_quadratic_minimum_region() {
        // phi(a) = (a-3)^2, f0 = 9, slope -6.
        let a = line_search(|a| ((a - 3.0).powi(2), 2.0 * (a - 3.0)), 9.0, -6.0, 1.0).unwrap();
        assert!((2.0 * (a - 3.0)).abs() <= 0.9 * 6.0 && a > 0.0);
    }
}
