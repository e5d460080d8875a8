//! The ImageNet-CoG evaluation protocol on one (train, test) pair, one seed and one shot count:
//! stratified train/val split → hyper-parameter search on it → final fit on the full train set →
//! test top-1/top-5, loss and (given class distances) hierarchical metrics; optionally a k-NN probe.
//!
//! Search, per solver:
//! * `fast`: a regularisation path. λ runs from `l2_max` down to `l2_min` on a log grid of `trials`
//!   points (default: decades 1e-1 … 1e-9), each fit warm-started from the previous one (the
//!   solution moves little between neighbouring λ) and capped at `search_max_iter` iterations; the
//!   path stops after `patience` points that improve neither val top-1 nor val loss, once some
//!   point has beaten chance (on a chance-level plateau, where λ is still far too large, top-1 is
//!   flat and only the loss, if anything, tells that the path has not reached its optimum). The
//!   final fit on all of train starts from the best path point's weights and runs to convergence
//!   (`lbfgs.max_iter`).
//! * `sgd`: the reference's search space (lr log-uniform [0.1, 100], weight decay log-uniform
//!   [1e-12, 1e-4], 30 trials, objective = last-epoch val top-1) explored by seeded random search.
//!   The reference uses Optuna's multivariate TPE, which concentrates later trials near good ones;
//!   random search draws from the same space without that adaptivity (same ranges and budget,
//!   somewhat less focused; Optuna's own first 10 TPE trials are random draws too).

use std::time::Instant;

use hiercog_taxonomy::DistanceMatrix;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::Samples;
use crate::error::{Error, Result};
use crate::knn::{retrieval_scores, KnnParams, RetrievalScores};
use crate::logreg::{
    zero_weight_gradient_scale, FitInfo, FittedLogReg, LbfgsParams, LogisticRegressionParams,
    SgdParams, Solver,
};
use crate::metrics::{hierarchical_metrics, HierarchicalMetrics, TopK};
use crate::precondition::CovariancePreconditioner;
use crate::sampling::{few_shot, stratified_split};

/// Which solver the protocol runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SolverKind {
    /// L-BFGS on a warm-started regularisation path (default).
    Fast,
    /// The reference's SGD with random search over (lr, weight decay).
    Sgd,
}

impl std::str::FromStr for SolverKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "fast" => Ok(SolverKind::Fast),
            "sgd" => Ok(SolverKind::Sgd),
            _ => Err(Error::InvalidParam {
                name: "solver",
                value: format!("{s:?}"),
                hint: "use fast or sgd",
            }),
        }
    }
}

impl std::fmt::Display for SolverKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SolverKind::Fast => "fast",
            SolverKind::Sgd => "sgd",
        })
    }
}

/// Search space and budget of the `fast` solver's regularisation path.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FastSearch {
    /// Largest λ (start of the path).
    pub l2_max: f64,
    /// Smallest λ (end of the path).
    pub l2_min: f64,
    /// Points on the path (log-spaced, both ends included).
    pub trials: usize,
    /// Stop the path after this many points that improve neither val top-1 nor val loss (counted
    /// once a point has beaten the majority-class rate on val).
    pub patience: usize,
    /// Iteration cap of each search fit (the final fit uses `lbfgs.max_iter`): the val ranking of
    /// λ settles long before the weakly regularised fits converge.
    pub search_max_iter: usize,
    /// Convergence: gradient entries below `rel_tol` × the gradient scale at zero weights
    /// ([`zero_weight_gradient_scale`](crate::zero_weight_gradient_scale)); replaces `lbfgs.tol`.
    pub rel_tol: f64,
    /// Solver settings for each fit (`l2` is set by the path and `tol` from `rel_tol`).
    pub lbfgs: LbfgsParams,
}

impl Default for FastSearch {
    fn default() -> Self {
        Self {
            l2_max: 1e-1,
            l2_min: 1e-9,
            trials: 9,
            patience: 2,
            search_max_iter: 100,
            rel_tol: 1e-3,
            lbfgs: LbfgsParams::default(),
        }
    }
}

/// Search space and budget of the `sgd` solver (the reference's defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SgdSearch {
    /// Learning-rate range, sampled log-uniformly.
    pub lr: (f64, f64),
    /// Weight-decay range, sampled log-uniformly.
    pub weight_decay: (f64, f64),
    /// Number of random-search trials.
    pub trials: usize,
    /// Momentum, epochs and batch size of every fit (lr, wd and seed are set by the search).
    pub sgd: SgdParams,
}

impl Default for SgdSearch {
    fn default() -> Self {
        Self {
            lr: (0.1, 100.0),
            weight_decay: (1e-12, 1e-4),
            trials: 30,
            sgd: SgdParams::default(),
        }
    }
}

/// Everything that defines a protocol run besides the data, the seed and the shot count.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProtocolConfig {
    /// Solver family.
    pub solver: SolverKind,
    /// Fraction of each class held out for validation (reference: 0.2).
    pub val_fraction: f64,
    /// `fast` search.
    pub fast: FastSearch,
    /// `sgd` search.
    pub sgd: SgdSearch,
    /// Few-shot: keep a class with fewer rows than the shot count instead of failing.
    pub allow_fewer: bool,
    /// Also run the k-NN probe.
    pub knn: Option<KnnParams>,
    /// With the k-NN probe: also rank the whole (final) train set for every test row by the k-NN
    /// probe's cosine similarity and report mAP and H-AP ([`ProbeResult::knn_retrieval`]). Left
    /// out of the serialised config when off, so the keys of runs without it do not change.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub knn_retrieval: bool,
    /// Most bytes the search split may take as copies of its rows (default 1 GiB; train and val are
    /// the size of the train features); above it they are row views of the train set, read in
    /// blocks, so that the train features are in memory once (ImageNet-1K: 10.5 GB).
    #[serde(default = "default_split_copy_bytes")]
    pub split_copy_bytes: usize,
}

fn default_split_copy_bytes() -> usize {
    1 << 30
}

impl Default for ProtocolConfig {
    fn default() -> Self {
        Self {
            solver: SolverKind::Fast,
            val_fraction: 0.2,
            fast: FastSearch::default(),
            sgd: SgdSearch::default(),
            allow_fewer: false,
            knn: None,
            knn_retrieval: false,
            split_copy_bytes: default_split_copy_bytes(),
        }
    }
}

/// Hyper-parameters of one fit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "solver", rename_all = "lowercase")]
pub enum HyperParams {
    /// `fast`: the L2 strength on the mean-loss objective.
    Fast {
        /// L2 strength λ.
        l2: f64,
    },
    /// `sgd`: learning rate and weight decay.
    Sgd {
        /// Learning rate.
        lr: f64,
        /// Weight decay.
        weight_decay: f64,
    },
}

/// One search trial and its validation accuracy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// Its hyper-parameters.
    pub params: HyperParams,
    /// Validation top-1 (percent); `None` when the fit diverged.
    pub val_top1: Option<f64>,
    /// Validation mean cross-entropy; `None` when the fit diverged.
    #[serde(default)]
    pub val_loss: Option<f64>,
    /// Iterations or epochs run.
    pub iterations: usize,
}

/// Test metrics of a classifier (linear or k-NN).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestMetrics {
    /// Top-1 accuracy, percent.
    pub top1: f64,
    /// Top-5 accuracy, percent (top-C when C < 5).
    pub top5: f64,
    /// Hierarchical metrics when class distances were given.
    pub hierarchical: Option<HierarchicalMetrics>,
}

/// The outcome of one protocol run (serialisable into the results store).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeResult {
    /// The configuration that produced it.
    pub config: ProtocolConfig,
    /// The run's seed.
    pub seed: u64,
    /// Samples per class for few-shot runs; `None` for all data.
    pub shots: Option<usize>,
    /// Linear probe test metrics.
    pub test: TestMetrics,
    /// Mean test cross-entropy of the linear probe.
    pub loss: f64,
    /// Chosen hyper-parameters.
    pub chosen: HyperParams,
    /// All search trials, in order.
    pub trials: Vec<Trial>,
    /// Diagnostics of the final fit.
    pub final_fit: FitInfo,
    /// k-NN test metrics, when asked for.
    pub knn: Option<TestMetrics>,
    /// mAP and H-AP of the test rows against the train rows, when asked for
    /// ([`ProtocolConfig::knn_retrieval`]).
    #[serde(default)]
    pub knn_retrieval: Option<RetrievalScores>,
    /// Rows used to train the final classifier.
    pub train_rows: usize,
    /// Test rows.
    pub test_rows: usize,
    /// Classes.
    pub classes: usize,
    /// Feature dimension.
    pub dim: usize,
    /// Wall-clock seconds of the whole run.
    pub wall_seconds: f64,
}

/// Which end of the fast solver's regularisation path a chosen λ sits at: the best λ may lie
/// beyond it, so the range should be widened on that side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathEnd {
    /// The largest λ (`l2_max`): the strongest regularisation tried.
    Largest,
    /// The smallest λ (`l2_min`): the weakest regularisation tried.
    Smallest,
}

impl ProbeResult {
    /// The end of the regularisation path the chosen λ sits at, if it does (fast solver with a
    /// path of more than one point; `None` otherwise).
    pub fn lambda_at_path_end(&self) -> Option<PathEnd> {
        let (&HyperParams::Fast { l2 }, SolverKind::Fast) = (&self.chosen, self.config.solver)
        else {
            return None;
        };
        let f = &self.config.fast;
        if f.trials < 2 {
            return None;
        }
        let near = |end: f64| (l2 - end).abs() <= end * 1e-9;
        if near(f.l2_max) {
            Some(PathEnd::Largest)
        } else if near(f.l2_min) {
            Some(PathEnd::Smallest)
        } else {
            None
        }
    }
}

/// What the protocol reports while it runs; fits are numbered `0..fits` (search trials, then the final fit).
#[derive(Clone, Debug, PartialEq)]
pub enum ProgressEvent {
    /// A fit begins.
    FitStarted {
        /// This fit's number.
        fit: usize,
        /// Fits in the protocol.
        fits: usize,
        /// What is fitted (e.g. the trial's hyper-parameters).
        label: String,
    },
    /// Iteration/epoch `done` of at most `total` of the current fit.
    Step {
        /// This fit's number.
        fit: usize,
        /// Fits in the protocol.
        fits: usize,
        /// Iterations done.
        done: usize,
        /// Iterations at most.
        total: usize,
    },
    /// A fit ended; `val_top1` for search trials.
    FitFinished {
        /// This fit's number.
        fit: usize,
        /// Fits in the protocol.
        fits: usize,
        /// Validation top-1 of a search trial.
        val_top1: Option<f64>,
    },
    /// The k-NN probe is running.
    Knn,
}

/// Derives independent seeds for the split, the few-shot draw, the search and the final fit.
fn sub_seed(seed: u64, purpose: u64) -> u64 {
    // splitmix64 of (seed, purpose).
    let mut z = seed ^ purpose.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn test_metrics(topk: &TopK, labels: &[u32], dist: Option<&DistanceMatrix>) -> Result<TestMetrics> {
    Ok(TestMetrics {
        top1: topk.accuracy(labels, 1),
        top5: topk.accuracy(labels, 5),
        hierarchical: dist
            .map(|d| hierarchical_metrics(topk, labels, d))
            .transpose()?,
    })
}

fn log_grid(hi: f64, lo: f64, n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![hi];
    }
    let (a, b) = (hi.ln(), lo.ln());
    (0..n)
        .map(|i| (a + (b - a) * i as f64 / (n - 1) as f64).exp())
        .collect()
}

fn check_config(cfg: &ProtocolConfig) -> Result<()> {
    let bad = |name, value: String, hint| Err(Error::InvalidParam { name, value, hint });
    if cfg.knn_retrieval && cfg.knn.is_none() {
        return bad(
            "knn_retrieval",
            "true".into(),
            "the retrieval metrics are part of the k-NN probe: turn the k-NN probe on",
        );
    }
    match cfg.solver {
        SolverKind::Fast => {
            let f = &cfg.fast;
            if !(f.l2_min > 0.0 && f.l2_max >= f.l2_min && f.l2_max.is_finite()) {
                return bad(
                    "l2 range",
                    format!("[{}, {}]", f.l2_min, f.l2_max),
                    "needs 0 < l2_min <= l2_max",
                );
            }
            if !(f.rel_tol > 0.0 && f.rel_tol < 1.0) {
                return bad("rel_tol", f.rel_tol.to_string(), "must be in (0, 1)");
            }
            if f.trials == 0 || f.patience == 0 {
                return bad(
                    "trials/patience",
                    format!("{}/{}", f.trials, f.patience),
                    "must be at least 1",
                );
            }
        }
        SolverKind::Sgd => {
            let s = &cfg.sgd;
            let ok = |(lo, hi): (f64, f64)| lo > 0.0 && hi >= lo && hi.is_finite();
            if !ok(s.lr) || !ok(s.weight_decay) || s.trials == 0 {
                return bad(
                    "sgd search",
                    format!("lr {:?} wd {:?} trials {}", s.lr, s.weight_decay, s.trials),
                    "ranges need 0 < low <= high and at least one trial",
                );
            }
        }
    }
    Ok(())
}

/// Runs the protocol on preprocessed features. `train` and `test` must share `dim` and
/// `num_classes`; `dist` (classes × classes) enables hierarchical metrics.
pub fn run_protocol(
    train: Samples<'_>,
    test: Samples<'_>,
    cfg: &ProtocolConfig,
    seed: u64,
    shots: Option<usize>,
    dist: Option<&DistanceMatrix>,
    progress: &dyn Fn(ProgressEvent),
) -> Result<ProbeResult> {
    let start = Instant::now();
    check_config(cfg)?;
    let config_in = cfg;
    if train.dim() != test.dim() || train.num_classes() != test.num_classes() {
        return Err(Error::InvalidData(format!(
            "train is {}-d with {} classes but test is {}-d with {} classes",
            train.dim(),
            train.num_classes(),
            test.dim(),
            test.num_classes()
        )));
    }
    if let Some(d) = dist {
        if d.len() != train.num_classes() {
            return Err(Error::DistanceShape {
                got: d.len(),
                expected: train.num_classes(),
            });
        }
    }
    // Search on a train/val split of the train set (few-shot: draw the shots from its train part).
    let split = stratified_split(train, cfg.val_fraction, sub_seed(seed, 1))?;
    let search_rows = match shots {
        Some(s) => few_shot(
            train,
            Some(&split.train),
            s,
            cfg.allow_fewer,
            sub_seed(seed, 2),
        )?,
        None => split.train,
    };
    let labels_of = |rows: &[usize]| rows.iter().map(|&i| train.labels()[i]).collect::<Vec<_>>();
    let (trn_labels, val_labels) = (labels_of(&search_rows), labels_of(&split.val));
    let copy_bytes = (search_rows.len() + split.val.len()) * train.dim() * size_of::<f32>();
    let copies = (copy_bytes <= cfg.split_copy_bytes)
        .then(|| (train.gather(&search_rows), train.gather(&split.val)));
    let (trn, val) = match &copies {
        Some((t, v)) => (t.view(), v.view()),
        None => (
            train.select(&search_rows, &trn_labels),
            train.select(&split.val, &val_labels),
        ),
    };
    // The fast solver's tolerance, made absolute once from the data's gradient scale.
    let mut run_cfg = cfg.clone();
    if cfg.solver == SolverKind::Fast {
        run_cfg.fast.lbfgs.tol = cfg.fast.rel_tol * zero_weight_gradient_scale(trn);
    }
    let cfg = &run_cfg;
    let fits = match cfg.solver {
        SolverKind::Fast => cfg.fast.trials + 1,
        SolverKind::Sgd => cfg.sgd.trials + 1,
    };
    let (chosen, trials, warm) = search(trn, val, cfg, seed, fits, progress)?;

    // Final fit on the full train set (few-shot: a fresh draw from all of it).
    let final_rows;
    let final_set;
    let final_view = match shots {
        Some(s) => {
            final_rows = few_shot(train, None, s, cfg.allow_fewer, sub_seed(seed, 3))?;
            final_set = train.gather(&final_rows);
            final_set.view()
        }
        None => train,
    };
    let fit = fits - 1;
    progress(ProgressEvent::FitStarted {
        fit,
        fits,
        label: "final fit".into(),
    });
    let params = solver_params(cfg, &chosen, sub_seed(seed, 4), false)?;
    let model = params.fit(final_view, warm.as_ref(), &mut |done, total| {
        progress(ProgressEvent::Step {
            fit,
            fits,
            done,
            total,
        })
    })?;
    progress(ProgressEvent::FitFinished {
        fit,
        fits,
        val_top1: None,
    });
    let (topk, loss) = model.evaluate(test, 5)?;
    let linear = test_metrics(&topk, test.labels(), dist)?;
    let knn = match &cfg.knn {
        Some(p) => {
            progress(ProgressEvent::Knn);
            let t = p.predict_topk(final_view, test.x(), 5)?;
            Some(test_metrics(&t, test.labels(), dist)?)
        }
        None => None,
    };
    let knn_retrieval = cfg
        .knn_retrieval
        .then(|| retrieval_scores(final_view, test, dist))
        .transpose()?;
    Ok(ProbeResult {
        config: config_in.clone(),
        seed,
        shots,
        test: linear,
        loss,
        chosen,
        trials,
        final_fit: model.info.clone(),
        knn,
        knn_retrieval,
        train_rows: final_view.rows(),
        test_rows: test.rows(),
        classes: train.num_classes(),
        dim: train.dim(),
        wall_seconds: start.elapsed().as_secs_f64(),
    })
}

/// The solver settings of one fit (`search`: a search trial rather than the final fit).
fn solver_params(
    cfg: &ProtocolConfig,
    hp: &HyperParams,
    seed: u64,
    search: bool,
) -> Result<LogisticRegressionParams> {
    LogisticRegressionParams::new(match *hp {
        HyperParams::Fast { l2 } => Solver::Lbfgs(LbfgsParams {
            l2,
            max_iter: if search {
                cfg.fast.search_max_iter.min(cfg.fast.lbfgs.max_iter)
            } else {
                cfg.fast.lbfgs.max_iter
            },
            ..cfg.fast.lbfgs.clone()
        }),
        HyperParams::Sgd { lr, weight_decay } => Solver::Sgd(SgdParams {
            lr,
            weight_decay,
            seed,
            ..cfg.sgd.sgd.clone()
        }),
    })
}

/// Searches hyper-parameters; returns the best, all trials, and (fast) the warm start for the final fit.
fn search(
    trn: Samples<'_>,
    val: Samples<'_>,
    cfg: &ProtocolConfig,
    seed: u64,
    fits: usize,
    progress: &dyn Fn(ProgressEvent),
) -> Result<(HyperParams, Vec<Trial>, Option<FittedLogReg>)> {
    let candidates: Vec<HyperParams> = match cfg.solver {
        SolverKind::Fast => log_grid(cfg.fast.l2_max, cfg.fast.l2_min, cfg.fast.trials)
            .into_iter()
            .map(|l2| HyperParams::Fast { l2 })
            .collect(),
        SolverKind::Sgd => {
            let mut rng = ChaCha8Rng::seed_from_u64(sub_seed(seed, 5));
            let s = &cfg.sgd;
            let mut log_uniform = |(lo, hi): (f64, f64)| rng.random_range(lo.ln()..=hi.ln()).exp();
            (0..s.trials)
                .map(|_| {
                    let lr = log_uniform(s.lr);
                    let weight_decay = log_uniform(s.weight_decay);
                    HyperParams::Sgd { lr, weight_decay }
                })
                .collect()
        }
    };
    // Every point of the fast path fits the same rows: one preconditioner serves them all.
    let precond = match cfg.solver {
        SolverKind::Fast
            if CovariancePreconditioner::pays_off(trn.rows(), trn.dim(), trn.num_classes()) =>
        {
            Some(CovariancePreconditioner::fit(trn)?)
        }
        _ => None,
    };
    let mut trials = Vec::new();
    let mut best: Option<(f64, usize, Option<FittedLogReg>)> = None;
    let mut warm: Option<FittedLogReg> = None;
    let mut stale_points = 0;
    let mut best_loss = f64::INFINITY;
    let chance_level = chance_top1(val.labels(), val.num_classes());
    // One search fit and its validation scores (the model only where the fast path warm-starts).
    type Outcome = (Option<f64>, Option<f64>, usize, Option<FittedLogReg>);
    let run_trial = |fit: usize,
                     hp: &HyperParams,
                     warm: Option<&FittedLogReg>,
                     on_step: &mut dyn FnMut(usize, usize)|
     -> Result<Outcome> {
        let params = solver_params(cfg, hp, sub_seed(seed, 100 + fit as u64), true)?;
        Ok(
            match params.fit_with(trn, warm, precond.as_ref(), on_step) {
                Ok(m) if !m.info.diverged => {
                    let (t, loss) = m.evaluate(val, 1)?;
                    let keep = cfg.solver == SolverKind::Fast;
                    let it = m.info.iterations;
                    (
                        Some(t.accuracy(val.labels(), 1)),
                        Some(loss),
                        it,
                        keep.then_some(m),
                    )
                }
                Ok(m) => (None, None, m.info.iterations, None),
                Err(Error::NonFinite { .. }) => (None, None, 0, None),
                Err(e) => return Err(e),
            },
        )
    };
    // The SGD trials are independent (random search): they run in parallel, one per task, which
    // scales far better than splitting each 1,024-row batch; each fit's numbers do not depend on
    // where it ran. Their progress is reported in order once all are done.
    let mut parallel: Vec<Result<Outcome>> = match cfg.solver {
        SolverKind::Sgd => candidates
            .par_iter()
            .enumerate()
            .map(|(fit, hp)| run_trial(fit, hp, None, &mut |_, _| {}))
            .collect(),
        SolverKind::Fast => Vec::new(),
    };
    parallel.reverse();
    for (fit, hp) in candidates.into_iter().enumerate() {
        progress(ProgressEvent::FitStarted {
            fit,
            fits,
            label: match hp {
                HyperParams::Fast { l2 } => format!("λ={l2:.1e}"),
                HyperParams::Sgd { lr, weight_decay } => {
                    format!("lr={lr:.3} wd={weight_decay:.1e}")
                }
            },
        });
        let outcome = match parallel.pop() {
            Some(outcome) => outcome,
            None => run_trial(fit, &hp, warm.as_ref(), &mut |done, total| {
                progress(ProgressEvent::Step {
                    fit,
                    fits,
                    done,
                    total,
                })
            }),
        };
        let (val_top1, val_loss, iterations, model) = outcome?;
        progress(ProgressEvent::FitFinished {
            fit,
            fits,
            val_top1,
        });
        trials.push(Trial {
            params: hp,
            val_top1,
            val_loss,
            iterations,
        });
        let improved = match (val_top1, &best) {
            (Some(v), Some((b, _, _))) => v > *b,
            (Some(_), None) => true,
            (None, _) => false,
        };
        let is_fast = cfg.solver == SolverKind::Fast;
        if improved {
            best = Some((
                val_top1.unwrap_or(f64::NAN),
                fit,
                model.clone().filter(|_| is_fast),
            ));
            stale_points = 0;
        } else if val_loss.is_some_and(|l| l < best_loss)
            || best.as_ref().is_none_or(|(b, _, _)| *b <= chance_level)
        {
            // Top-1 flat but the loss still falling, or nothing above chance yet (λ still far too
            // large): the path has not reached its optimum.
            stale_points = 0;
        } else {
            stale_points += 1;
        }
        best_loss = val_loss.map_or(best_loss, |l| l.min(best_loss));
        if is_fast {
            warm = model;
            if stale_points >= cfg.fast.patience {
                break;
            }
        }
    }
    let Some((_, idx, warm)) = best else {
        return Err(Error::NonFinite {
            loss: f64::NAN,
            stage: format!("every one of the {} search trials", trials.len()),
        });
    };
    Ok((trials[idx].params.clone(), trials, warm))
}

/// Val top-1 (percent) that a constant prediction of the most frequent class reaches, plus two
/// binomial standard errors: a path point at or below it has learnt nothing measurable yet.
fn chance_top1(labels: &[u32], num_classes: usize) -> f64 {
    let mut counts = vec![0usize; num_classes];
    for &y in labels {
        counts[y as usize] += 1;
    }
    let n = labels.len().max(1) as f64;
    let p = counts.iter().copied().max().unwrap_or(0) as f64 / n;
    100.0 * (p + 2.0 * (p * (1.0 - p) / n).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::OwnedSamples;

    #[test]
    fn log_grid_spans_both_ends() {
        let g = log_grid(1e-1, 1e-7, 13);
        assert_eq!(g.len(), 13);
        assert!((g[0] - 1e-1).abs() < 1e-12 && (g[12] - 1e-7).abs() < 1e-18);
        assert!((g[2] - 1e-2).abs() < 1e-12);
    }

    /// Two classes whose means differ along x₁ while a strong shared noise moves x₁ and x₂ together:
    /// the mean-difference direction that every strongly regularised fit learns is near chance,
    /// only a weakly regularised fit finds `x₁ − x₂`. Over the first decades of the path val top-1
    /// is flat below chance and val loss even rises, so patience must not count before some point
    /// beats chance (else the path stops there and keeps a chance-level λ).
    #[test]
    fn path_walks_past_a_chance_plateau() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut make = |n: usize| {
            let (mut x, mut y) = (Vec::new(), Vec::new());
            for i in 0..n {
                let class = (i % 2) as u32;
                let shared: f32 = rng.random_range(-1.0..1.0);
                let shift = if class == 0 { -1e-3 } else { 1e-3 };
                let mut small = || 1e-4 * rng.random_range(-1.0f32..1.0);
                x.extend([shift + shared + small(), shared + small()]);
                y.push(class);
            }
            OwnedSamples::new(x, y, 2, 2).unwrap()
        };
        let (train, test) = (make(400), make(400));
        let r = run_protocol(
            train.view(),
            test.view(),
            &ProtocolConfig::default(),
            22,
            None,
            None,
            &|_| {},
        )
        .unwrap();
        let flat = r.trials[0].val_top1.unwrap();
        assert!(flat < 70.0, "the strongest λ should be near chance: {flat}");
        assert!(r.test.top1 > 95.0, "{:?} chose {:?}", r.test, r.chosen);

        // Either end of the path is flagged, a λ inside it is not.
        let fast = &r.config.fast;
        for (l2, end) in [
            (fast.l2_max, Some(PathEnd::Largest)),
            (fast.l2_min, Some(PathEnd::Smallest)),
            ((fast.l2_max * fast.l2_min).sqrt(), None),
        ] {
            let chosen = ProbeResult {
                chosen: HyperParams::Fast { l2 },
                ..r.clone()
            };
            assert_eq!(chosen.lambda_at_path_end(), end, "λ = {l2:e}");
        }
    }

    /// Row views instead of split copies and block-streamed passes instead of cached logits (what
    /// ImageNet-1K-sized sets get) reach the same model as the default, in-memory path.
    #[test]
    fn lean_memory_path_matches_the_default() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let (d, c) = (24, 6);
        let means: Vec<f32> = (0..d * c).map(|_| rng.random_range(-1.0..1.0)).collect();
        let mut make = |n: usize| {
            let (mut x, mut y) = (Vec::new(), Vec::new());
            for i in 0..n {
                let k = i % c;
                x.extend((0..d).map(|j| means[k * d + j] + 2.0 * rng.random_range(-1.0f32..1.0)));
                y.push(k as u32);
            }
            OwnedSamples::new(x, y, d, c).unwrap()
        };
        let (train, test) = (make(1500), make(600));
        let run = |cfg: &ProtocolConfig| {
            run_protocol(train.view(), test.view(), cfg, 22, None, None, &|_| {}).unwrap()
        };
        let default = run(&ProtocolConfig::default());
        let mut lean_cfg = ProtocolConfig {
            split_copy_bytes: 0,
            ..ProtocolConfig::default()
        };
        lean_cfg.fast.lbfgs.logit_cache_bytes = 0;
        let lean = run(&lean_cfg);
        assert_eq!(lean.chosen, default.chosen);
        let (a, b) = (lean.final_fit.objective, default.final_fit.objective);
        assert!((a - b).abs() <= 1e-4 * b, "objective {a} vs {b}");
        assert!(
            (lean.test.top1 - default.test.top1).abs() <= 0.5,
            "{} vs {}",
            lean.test.top1,
            default.test.top1
        );
        // Views alone (cached logits) read the same numbers as the copies.
        let views = run(&ProtocolConfig {
            split_copy_bytes: 0,
            ..ProtocolConfig::default()
        });
        assert_eq!(views.trials, default.trials);
    }

    #[test]
    fn sub_seeds_differ() {
        assert_ne!(sub_seed(22, 1), sub_seed(22, 2));
        assert_ne!(sub_seed(22, 1), sub_seed(37, 1));
    }
}
