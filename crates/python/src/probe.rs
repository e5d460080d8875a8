//! hiercog-probe: `LinearProbe` (scikit-learn style), the CoG protocol, the k-NN probe and the
//! hierarchical metrics.

use hiercog_features::{check_finite, check_pair, FeatureView, Preprocess};
use hiercog_probe::{
    average_hierarchical_distance, mistake_severity, run_protocol as protocol, FittedLogReg,
    KnnParams, LbfgsParams, LogisticRegressionParams, ProgressEvent, ProtocolConfig, Samples,
    SgdParams, Solver, SolverKind, TopK,
};
use hiercog_taxonomy::{distance_matrix_within, DistanceConvention, DistanceMatrix};
use numpy::{PyArray1, PyArray2, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyList;
use serde_json::json;

use crate::convert::{
    labels, matrix, parse_name, rows, source, to_python, OrRaise, ProbeError, Progress,
};
use crate::taxonomy::PyTaxonomy;

/// Multinomial logistic regression on frozen features, scikit-learn style.
#[pyclass(module = "hiercog._hiercog", name = "LinearProbe")]
pub struct LinearProbe {
    c: f64,
    l2: Option<f64>,
    solver: String,
    tol: f64,
    max_iter: usize,
    history: usize,
    sgd: SgdParams,
    fitted: Option<FittedLogReg>,
}

impl LinearProbe {
    /// The solver settings for `rows` training rows.
    fn params(&self, rows: usize) -> PyResult<LogisticRegressionParams> {
        match self.solver.as_str() {
            "lbfgs" => match self.l2 {
                None => {
                    LogisticRegressionParams::lbfgs_with_c(self.c, rows, self.tol, self.max_iter)
                }
                Some(l2) => LogisticRegressionParams::new(Solver::Lbfgs(LbfgsParams {
                    l2,
                    tol: self.tol,
                    max_iter: self.max_iter,
                    history: self.history,
                    ..LbfgsParams::default()
                })),
            },
            _ => LogisticRegressionParams::new(Solver::Sgd(self.sgd.clone())),
        }
        .or_raise()
    }

    fn model(&self) -> PyResult<&FittedLogReg> {
        self.fitted.as_ref().ok_or_else(|| {
            ProbeError::new_err("this LinearProbe is not fitted yet: call fit(X, y) first")
        })
    }
}

/// The rows of `x` as a slice whose width must be `dim`.
fn checked_rows<'a>(
    x: &'a numpy::PyReadonlyArray2<'_, f32>,
    dim: usize,
    name: &str,
) -> PyResult<&'a [f32]> {
    let (data, d) = rows(x);
    if d != dim {
        return Err(ProbeError::new_err(format!(
            "{name} has {d} features per row but the probe was fitted on {dim}"
        )));
    }
    check_finite(source(name), data, d).or_raise()?;
    Ok(data)
}

#[pymethods]
impl LinearProbe {
    #[new]
    #[pyo3(signature = (
        c = 1.0, *, l2 = None, solver = "lbfgs", tol = 1e-4, max_iter = 100, history = 10,
        lr = 1.0, weight_decay = 1e-6, momentum = 0.9, epochs = 100, batch_size = 1024, seed = 0
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        c: f64,
        l2: Option<f64>,
        solver: &str,
        tol: f64,
        max_iter: usize,
        history: usize,
        lr: f64,
        weight_decay: f64,
        momentum: f64,
        epochs: usize,
        batch_size: usize,
        seed: u64,
    ) -> PyResult<LinearProbe> {
        if solver != "lbfgs" && solver != "sgd" {
            return Err(ProbeError::new_err(format!(
                "unknown solver {solver:?}: use \"lbfgs\" or \"sgd\""
            )));
        }
        let probe = LinearProbe {
            c,
            l2,
            solver: solver.to_string(),
            tol,
            max_iter,
            history,
            sgd: SgdParams {
                lr,
                weight_decay,
                momentum,
                epochs,
                batch_size,
                seed,
            },
            fitted: None,
        };
        probe.params(1)?;
        Ok(probe)
    }

    /// Fits on `X` (float32, C-contiguous, read in place) and integer labels `y`.
    #[pyo3(signature = (x, y, *, num_classes = None, progress = None))]
    fn fit<'py>(
        mut slf: PyRefMut<'py, Self>,
        x: &Bound<'py, PyAny>,
        y: &Bound<'py, PyAny>,
        num_classes: Option<usize>,
        progress: Option<Bound<'py, PyAny>>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        let py = slf.py();
        let x = matrix(x, "X")?;
        let y = labels(y, "y")?;
        let (data, dim) = rows(&x);
        let view = FeatureView::new(data, dim, &y, None, source("X")).or_raise()?;
        view.check_finite().or_raise()?;
        let classes = num_classes.unwrap_or_else(|| view.num_classes());
        let samples = Samples::new(data, &y, dim, classes).or_raise()?;
        let params = slf.params(y.len().max(1))?;
        let progress = Progress::new(progress)?;
        let fitted = py
            .detach(|| {
                params.fit(samples, None, &mut |done, total| {
                    progress.report("step", json!({"done": done, "total": total}))
                })
            })
            .or_raise()?;
        progress.finish()?;
        slf.fitted = Some(fitted);
        Ok(slf)
    }

    /// Class scores (logits), (rows, n_classes) float32.
    fn decision_function<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let (z, rows, classes) = self.on_rows(py, x, |m, data| {
            Ok((
                m.decision_function(data)?,
                data.len() / m.dim(),
                m.num_classes(),
            ))
        })?;
        PyArray1::from_vec(py, z).reshape([rows, classes])
    }

    /// The best class of each row, uint32.
    fn predict<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray1<u32>>> {
        let p = self.on_rows(py, x, |m, data| m.predict(data))?;
        Ok(PyArray1::from_vec(py, p))
    }

    /// The `k` best classes of each row, best first, (rows, k) uint32.
    #[pyo3(signature = (x, k = 5))]
    fn predict_topk<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        k: usize,
    ) -> PyResult<Bound<'py, PyArray2<u32>>> {
        let t = self.on_rows(py, x, |m, data| m.predict_topk(data, k))?;
        let (n, k) = (t.rows(), t.k);
        PyArray1::from_vec(py, t.indices).reshape([n, k])
    }

    /// Mean accuracy on (X, y), in [0, 1] as scikit-learn's `score`.
    fn score(&self, py: Python<'_>, x: &Bound<'_, PyAny>, y: &Bound<'_, PyAny>) -> PyResult<f64> {
        Ok(self.evaluate(py, x, y)?.0 / 100.0)
    }

    /// Mean cross-entropy on (X, y).
    fn loss(&self, py: Python<'_>, x: &Bound<'_, PyAny>, y: &Bound<'_, PyAny>) -> PyResult<f64> {
        Ok(self.evaluate(py, x, y)?.1)
    }

    /// (n_classes, n_features) float32, as scikit-learn's `coef_`.
    #[getter]
    fn coef_<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let m = self.model()?;
        let (d, c) = (m.dim(), m.num_classes());
        let w = m.weights();
        let t: Vec<f32> = (0..c * d).map(|i| w[(i % d) * c + i / d]).collect();
        PyArray1::from_vec(py, t).reshape([c, d])
    }

    /// (n_classes,) float32.
    #[getter]
    fn intercept_<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<f32>>> {
        Ok(PyArray1::from_slice(py, self.model()?.bias()))
    }

    #[getter]
    fn n_classes_(&self) -> PyResult<usize> {
        Ok(self.model()?.num_classes())
    }

    #[getter]
    fn n_features_in_(&self) -> PyResult<usize> {
        Ok(self.model()?.dim())
    }

    /// Iterations (L-BFGS) or epochs (SGD) of the fit.
    #[getter]
    fn n_iter_(&self) -> PyResult<usize> {
        Ok(self.model()?.info.iterations)
    }

    /// Diagnostics of the fit: iterations, converged, objective, seconds, ... as a dict.
    #[getter]
    fn fit_info_<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &self.model()?.info)
    }

    fn __repr__(&self) -> String {
        match (self.solver.as_str(), self.l2) {
            ("lbfgs", None) => format!(
                "LinearProbe(c={}, tol={}, max_iter={})",
                self.c, self.tol, self.max_iter
            ),
            ("lbfgs", Some(l2)) => format!(
                "LinearProbe(l2={l2}, tol={}, max_iter={})",
                self.tol, self.max_iter
            ),
            _ => format!("LinearProbe(solver=\"sgd\", {:?})", self.sgd),
        }
    }
}

impl LinearProbe {
    /// `f(model, rows of x)` without the GIL, once x is checked against the fitted model.
    fn on_rows<T: Send>(
        &self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        f: impl FnOnce(&FittedLogReg, &[f32]) -> hiercog_probe::Result<T> + Send,
    ) -> PyResult<T> {
        let m = self.model()?;
        let x = matrix(x, "X")?;
        let data = checked_rows(&x, m.dim(), "X")?;
        py.detach(|| f(m, data)).or_raise()
    }

    /// (top-1 in percent, mean cross-entropy) on labelled rows.
    fn evaluate(
        &self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        y: &Bound<'_, PyAny>,
    ) -> PyResult<(f64, f64)> {
        let m = self.model()?;
        let x = matrix(x, "X")?;
        let y = labels(y, "y")?;
        let data = checked_rows(&x, m.dim(), "X")?;
        let samples = Samples::new(data, &y, m.dim(), m.num_classes()).or_raise()?;
        let (topk, loss) = py.detach(|| m.evaluate(samples, 1)).or_raise()?;
        Ok((topk.accuracy(&y, 1), loss))
    }
}

/// `(X, y)` of a train or test set.
fn split_pair<'py>(
    set: &Bound<'py, PyAny>,
    name: &str,
) -> PyResult<(numpy::PyReadonlyArray2<'py, f32>, Vec<u32>)> {
    let (x, y): (Bound<'py, PyAny>, Bound<'py, PyAny>) = set
        .extract()
        .map_err(|_| PyValueError::new_err(format!("{name} must be a pair (X, y)")))?;
    Ok((
        matrix(&x, &format!("{name} X"))?,
        labels(&y, &format!("{name} y"))?,
    ))
}

/// Class distances from a numpy (C, C) matrix, or from class names in a taxonomy.
fn class_distances(
    py: Python<'_>,
    distances: Option<&Bound<'_, PyAny>>,
    class_names: Option<&[String]>,
    taxonomy: Option<&PyTaxonomy>,
    convention: &str,
    hierarchy: Option<Vec<String>>,
) -> PyResult<Option<DistanceMatrix>> {
    if let Some(d) = distances {
        return Ok(Some(distance_values(d)?));
    }
    let Some(names) = class_names else {
        return Ok(None);
    };
    let conv: DistanceConvention = parse_name(convention)?;
    let owned;
    let tax = match taxonomy {
        Some(t) => t,
        None => {
            owned = PyTaxonomy::embedded()?;
            &owned
        }
    };
    let ids = tax.ids_of(names, "class_names")?;
    let within = tax.ids_of(&hierarchy.unwrap_or_default(), "hierarchy")?;
    let t = &*tax.tax;
    Ok(Some(
        py.detach(|| distance_matrix_within(t, &ids, &within, conv))
            .or_raise()?,
    ))
}

/// A (C, C) float64 distance matrix given by the caller, checked by the taxonomy crate.
fn distance_values(obj: &Bound<'_, PyAny>) -> PyResult<DistanceMatrix> {
    let arr = obj.cast::<PyArray2<f64>>().map_err(|_| {
        ProbeError::new_err(
            "distances must be a (C, C) float64 numpy array (e.g. Taxonomy.distances)",
        )
    })?;
    let shape = arr.shape().to_vec();
    if shape[0] != shape[1] {
        return Err(ProbeError::new_err(format!(
            "distances must be square, got shape {shape:?}"
        )));
    }
    DistanceMatrix::from_values(arr.to_vec()?, shape[0]).or_raise()
}

/// Predictions as top-k rows: (rows,) top-1 or (rows, k), any integer dtype.
fn topk(obj: &Bound<'_, PyAny>) -> PyResult<TopK> {
    let arr = obj.cast::<numpy::PyUntypedArray>().map_err(|_| {
        ProbeError::new_err("predictions must be an integer numpy array, (rows,) or (rows, k)")
    })?;
    let k = match arr.ndim() {
        1 => 1,
        2 => arr.shape()[1],
        _ => {
            return Err(ProbeError::new_err(format!(
                "predictions must be (rows,) or (rows, k), got shape {:?}",
                arr.shape()
            )))
        }
    };
    let flat = obj.call_method0("ravel")?;
    Ok(TopK {
        indices: labels(&flat, "predictions")?,
        k,
    })
}

/// Mean distance of the top-1 mistakes (None when there is none).
#[pyfunction]
#[pyo3(name = "mistake_severity")]
fn severity(
    predictions: &Bound<'_, PyAny>,
    y: &Bound<'_, PyAny>,
    distances: &Bound<'_, PyAny>,
) -> PyResult<Option<f64>> {
    let t = topk(predictions)?;
    mistake_severity(&t, &labels(y, "y")?, &distance_values(distances)?).or_raise()
}

/// Mean over rows of the mean distance of the top-k predictions to the truth.
#[pyfunction]
#[pyo3(signature = (predictions, y, distances, k = 5))]
fn hdist_at_k(
    predictions: &Bound<'_, PyAny>,
    y: &Bound<'_, PyAny>,
    distances: &Bound<'_, PyAny>,
    k: usize,
) -> PyResult<f64> {
    let t = topk(predictions)?;
    average_hierarchical_distance(&t, &labels(y, "y")?, &distance_values(distances)?, k).or_raise()
}

/// Weighted k-NN (DINO): the `keep` best classes of each test row, (rows, keep) uint32.
#[pyfunction]
#[pyo3(signature = (train, x, *, k = 20, temperature = 0.07, keep = 5))]
fn knn_predict<'py>(
    py: Python<'py>,
    train: &Bound<'py, PyAny>,
    x: &Bound<'py, PyAny>,
    k: usize,
    temperature: f32,
    keep: usize,
) -> PyResult<Bound<'py, PyArray2<u32>>> {
    let (tx, ty) = split_pair(train, "train")?;
    let (data, dim) = rows(&tx);
    let view = FeatureView::new(data, dim, &ty, None, source("train X")).or_raise()?;
    view.check_finite().or_raise()?;
    let samples = Samples::new(data, &ty, dim, view.num_classes()).or_raise()?;
    let q = matrix(x, "X")?;
    let (qx, qd) = rows(&q);
    if qd != dim {
        return Err(ProbeError::new_err(format!(
            "X has {qd} features per row but train has {dim}"
        )));
    }
    check_finite(source("X"), qx, qd).or_raise()?;
    let params = KnnParams { k, temperature };
    let t = py
        .detach(|| params.predict_topk(samples, qx, keep))
        .or_raise()?;
    let (n, k) = (t.rows(), t.k);
    PyArray1::from_vec(py, t.indices).reshape([n, k])
}

/// The CoG protocol over shots × seeds, as `hiercog probe` runs it; one dict per run.
#[pyfunction]
#[pyo3(signature = (
    train, test, *, shots = None, seeds = vec![22, 37, 45, 77, 93], solver = "fast",
    preprocess = "l2", knn = false, knn_k = 20, trials = None, l2_range = None, epochs = None,
    allow_fewer = false, class_names = None, taxonomy = None, convention = "height",
    hierarchy = None, distances = None, progress = None
))]
#[allow(clippy::too_many_arguments)]
fn run_protocol<'py>(
    py: Python<'py>,
    train: &Bound<'py, PyAny>,
    test: &Bound<'py, PyAny>,
    shots: Option<&Bound<'py, PyAny>>,
    seeds: Vec<u64>,
    solver: &str,
    preprocess: &str,
    knn: bool,
    knn_k: usize,
    trials: Option<usize>,
    l2_range: Option<(f64, f64)>,
    epochs: Option<usize>,
    allow_fewer: bool,
    class_names: Option<Vec<String>>,
    taxonomy: Option<PyRef<'py, PyTaxonomy>>,
    convention: &str,
    hierarchy: Option<Vec<String>>,
    distances: Option<&Bound<'py, PyAny>>,
    progress: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyList>> {
    let shots: Vec<Option<usize>> = match shots {
        None => vec![None],
        Some(s) => match s.extract::<Option<usize>>() {
            Ok(one) => vec![one],
            Err(_) => s.extract().map_err(|_| {
                ProbeError::new_err("shots must be None, an int or a list of ints/None")
            })?,
        },
    };
    let mut cfg = ProtocolConfig {
        solver: solver.parse::<SolverKind>().or_raise()?,
        allow_fewer,
        knn: knn.then(|| KnnParams {
            k: knn_k,
            ..KnnParams::default()
        }),
        ..ProtocolConfig::default()
    };
    if let Some(t) = trials {
        cfg.fast.trials = t;
        cfg.sgd.trials = t;
    }
    if let Some((hi, lo)) = l2_range {
        (cfg.fast.l2_max, cfg.fast.l2_min) = (hi, lo);
    }
    if let Some(e) = epochs {
        cfg.sgd.sgd.epochs = e;
    }
    let preprocess: Preprocess = parse_name(preprocess)?;
    let (tx, ty) = split_pair(train, "train")?;
    let (vx, vy) = split_pair(test, "test")?;
    let ((tdata, dim), (vdata, vdim)) = (rows(&tx), rows(&vx));
    let names = class_names.as_deref();
    let train_view = FeatureView::new(tdata, dim, &ty, names, source("train")).or_raise()?;
    let test_view = FeatureView::new(vdata, vdim, &vy, names, source("test")).or_raise()?;
    check_pair(train_view, test_view).or_raise()?;
    let dist = class_distances(
        py,
        distances,
        names,
        taxonomy.as_deref(),
        convention,
        hierarchy,
    )?;
    let classes = train_view.num_classes();
    let fitted = preprocess.fit(train_view).or_raise()?;
    // The features are read in place unless a preprocessing rewrites them.
    let (ptrain, ptest) = match preprocess {
        Preprocess::None => (None, None),
        _ => py.detach(|| {
            (
                Some(fitted.transform(train_view)),
                Some(fitted.transform(test_view)),
            )
        }),
    };
    let train_samples =
        Samples::new(ptrain.as_deref().unwrap_or(tdata), &ty, dim, classes).or_raise()?;
    let test_samples =
        Samples::new(ptest.as_deref().unwrap_or(vdata), &vy, dim, classes).or_raise()?;
    let runs: Vec<(Option<usize>, u64)> = shots
        .iter()
        .flat_map(|&s| seeds.iter().map(move |&seed| (s, seed)))
        .collect();
    let reporter = Progress::new(progress)?;
    let results = py
        .detach(|| {
            runs.iter()
                .enumerate()
                .map(|(run, &(shots, seed))| {
                    let at = json!({"run": run, "runs": runs.len(), "shots": shots, "seed": seed});
                    let on_event = |e: ProgressEvent| {
                        let (event, mut fields) = match e {
                            ProgressEvent::FitStarted { fit, fits, label } => (
                                "fit_started",
                                json!({"fit": fit, "fits": fits, "label": label}),
                            ),
                            ProgressEvent::Step {
                                fit,
                                fits,
                                done,
                                total,
                            } => (
                                "step",
                                json!({"fit": fit, "fits": fits, "done": done, "total": total}),
                            ),
                            ProgressEvent::FitFinished {
                                fit,
                                fits,
                                val_top1,
                            } => (
                                "fit_finished",
                                json!({"fit": fit, "fits": fits, "val_top1": val_top1}),
                            ),
                            ProgressEvent::Knn => ("knn", json!({})),
                        };
                        if let (Some(f), Some(a)) = (fields.as_object_mut(), at.as_object()) {
                            f.extend(a.clone());
                        }
                        reporter.report(event, fields);
                    };
                    protocol(
                        train_samples,
                        test_samples,
                        &cfg,
                        seed,
                        shots,
                        dist.as_ref(),
                        &on_event,
                    )
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .or_raise()?;
    reporter.finish()?;
    let out = PyList::empty(py);
    for r in &results {
        out.append(to_python(py, r)?)?;
    }
    Ok(out)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<LinearProbe>()?;
    m.add_function(wrap_pyfunction!(run_protocol, m)?)?;
    m.add_function(wrap_pyfunction!(knn_predict, m)?)?;
    m.add_function(wrap_pyfunction!(severity, m)?)?;
    m.add_function(wrap_pyfunction!(hdist_at_k, m)?)?;
    Ok(())
}
