//! hiercog-probe: linear and k-NN probes on frozen features — the ImageNet-CoG evaluation protocol,
//! exact (the reference's SGD) and fast (full-batch L-BFGS on a warm-started regularisation path).
//!
//! Main types:
//! * [`Samples`] / [`OwnedSamples`]: a row-major labelled feature matrix (what every solver takes);
//! * [`LogisticRegressionParams`] → [`FittedLogReg`]: multinomial logistic regression, solvers
//!   [`Solver::Lbfgs`] ([`LbfgsParams`]) and [`Solver::Sgd`] ([`SgdParams`]);
//! * [`CovariancePreconditioner`]: the features' second-moment matrix, eigendecomposed, which
//!   L-BFGS uses as its initial inverse Hessian (built once per data set where it pays off);
//! * [`KnnParams`]: DINO-style weighted k-NN on cosine similarity;
//! * [`run_protocol`] with a [`ProtocolConfig`] → [`ProbeResult`]: split, search, final fit, metrics;
//! * [`cost::CostModel`]: core-seconds of a protocol run from its shape (`hiercog plan --estimate`);
//! * [`TopK`], [`mistake_severity`], [`average_hierarchical_distance`]: flat and hierarchical metrics.
//!
//! The library never touches the terminal: progress goes through a [`ProgressEvent`] callback.

#![warn(missing_docs)]

pub mod cost;
mod data;
mod error;
mod knn;
mod logreg;
mod metrics;
mod objective;
mod precondition;
mod protocol;
mod sampling;

pub use data::{OwnedSamples, Samples};
pub use error::{Error, Result};
pub use knn::{retrieval_scores, KnnParams, RetrievalScores};
pub use logreg::{
    zero_weight_gradient_scale, FitInfo, FittedLogReg, LbfgsParams, LogisticRegressionParams,
    SgdParams, Solver,
};
pub use metrics::{
    average_hierarchical_distance, hierarchical_metrics, mistake_severity, HierarchicalMetrics,
    TopK,
};
pub use precondition::CovariancePreconditioner;
pub use protocol::{
    run_protocol, FastSearch, HyperParams, PathEnd, ProbeResult, ProgressEvent, ProtocolConfig,
    SgdSearch, SolverKind, TestMetrics, Trial,
};
pub use sampling::{few_shot, stratified_split, Split};

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
