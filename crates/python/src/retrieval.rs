//! hiercog-retrieval: mAP, recall@k and hierarchical AP (H-AP) of queries against a gallery.

use hiercog_retrieval::{ClassHierarchy, Evaluation, ExactIndex, Exclusion, Metric, Queries, Rows};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::json;

use crate::convert::{labels, matrix, parse_name, rows, OrRaise, Progress};
use crate::taxonomy::PyTaxonomy;

/// Ranks the whole gallery for every query (exact search) and averages AP, recall@k and, given
/// the classes' names in a taxonomy, H-AP; leave-one-out on the gallery when `queries` is None.
#[pyfunction]
#[pyo3(signature = (
    gallery, queries = None, *, metric = "cosine", recall_at = vec![1, 5, 10],
    class_names = None, taxonomy = None, alpha = 1.0, progress = None
))]
#[allow(clippy::too_many_arguments)]
fn retrieval_metrics<'py>(
    py: Python<'py>,
    gallery: &Bound<'py, PyAny>,
    queries: Option<&Bound<'py, PyAny>>,
    metric: &str,
    recall_at: Vec<usize>,
    class_names: Option<Vec<String>>,
    taxonomy: Option<PyRef<'py, PyTaxonomy>>,
    alpha: f64,
    progress: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let metric: Metric = parse_name(metric)?;
    let pair = |set: &Bound<'py, PyAny>, name: &str| {
        let (x, y): (Bound<'py, PyAny>, Bound<'py, PyAny>) = set
            .extract()
            .map_err(|_| PyValueError::new_err(format!("{name} must be a pair (X, y)")))?;
        PyResult::Ok((
            matrix(&x, &format!("{name} X"))?,
            labels(&y, &format!("{name} y"))?,
        ))
    };
    let (gx, gy) = pair(gallery, "gallery")?;
    let query = queries.map(|q| pair(q, "queries")).transpose()?;
    let hierarchy = match class_names {
        Some(names) => {
            let owned;
            let tax = match taxonomy.as_deref() {
                Some(t) => t,
                None => {
                    owned = PyTaxonomy::embedded()?;
                    &owned
                }
            };
            let ids = tax.ids_of(&names, "class_names")?;
            Some(ClassHierarchy::from_taxonomy(&tax.tax, &ids).or_raise()?)
        }
        None => None,
    };
    let (gdata, dim) = rows(&gx);
    let g_rows = Rows::new(gdata, dim).or_raise()?;
    let (q_rows, q_labels, exclusion) = match &query {
        Some((qx, qy)) => {
            let (qdata, qdim) = rows(qx);
            (
                Rows::new(qdata, qdim).or_raise()?,
                qy.as_slice(),
                Exclusion::None,
            )
        }
        None => (g_rows, gy.as_slice(), Exclusion::SelfMatch),
    };
    let eval = Evaluation {
        recall_at,
        hierarchy: hierarchy.as_ref(),
        relevance_exponent: alpha,
    };
    let reporter = Progress::new(progress)?;
    let m = py
        .detach(|| {
            let index = ExactIndex::new(g_rows, metric)?;
            eval.run(
                &index,
                &gy,
                Queries {
                    x: q_rows,
                    labels: q_labels,
                    exclusion,
                },
                &|done, total| reporter.report("rank", json!({"done": done, "total": total})),
            )
        })
        .or_raise()?;
    reporter.finish()?;
    let out = PyDict::new(py);
    out.set_item("queries", m.queries)?;
    out.set_item("map", m.map)?;
    let recall = PyDict::new(py);
    for (k, r) in &m.recall_at {
        recall.set_item(k, r)?;
    }
    out.set_item("recall_at", recall)?;
    out.set_item("hap", m.hap)?;
    Ok(out)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(retrieval_metrics, m)?)
}
