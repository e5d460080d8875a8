//! hiercog-losses: the label tree over a classifier's classes, the hierarchy tensors a PyTorch loss
//! needs (as numpy arrays, handed over without a copy) and hiercog's own loss values.

use candle_core::{Device, Tensor};
use hiercog_losses::{Array, HierarchicalLoss, HxeWeighting, LabelTree, LossSpec, TreeFromDag};
use hiercog_taxonomy::DistanceConvention;
use numpy::{PyArray1, PyArrayDyn, PyArrayMethods};
use pyo3::prelude::*;

use crate::convert::{labels, matrix, parse_name, rows, LossesError, OrRaise, ToPyErr};
use crate::taxonomy::PyTaxonomy;

/// A tree whose leaves are a classifier's labels, class `i` = `labels[i]`.
#[pyclass(module = "hiercog._hiercog", name = "LabelTree", frozen)]
pub struct PyLabelTree {
    tree: LabelTree,
}

/// An array of the losses crate as numpy, its buffer moved, not copied.
fn to_numpy<'py>(py: Python<'py>, a: Array) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
    PyArray1::from_vec(py, a.data).reshape(a.shape)
}

fn weighting(name: &str) -> PyResult<HxeWeighting> {
    match name {
        "reference" => Ok(HxeWeighting::Reference),
        "paper" => Ok(HxeWeighting::Paper),
        _ => Err(LossesError::new_err(format!(
            "unknown HXE weighting {name:?}: use \"reference\" (recipe hxe:α) or \"paper\" \
             (recipe hxe-paper:α)"
        ))),
    }
}

#[pymethods]
impl PyLabelTree {
    #[new]
    #[pyo3(signature = (labels, taxonomy = None, rule = "longest"))]
    fn new(
        py: Python<'_>,
        labels: Vec<String>,
        taxonomy: Option<PyRef<'_, PyTaxonomy>>,
        rule: &str,
    ) -> PyResult<PyLabelTree> {
        let rule: TreeFromDag = rule.parse().or_raise()?;
        let (tax, _) = PyTaxonomy::or_wordnet(taxonomy.as_deref())?;
        let tree = py
            .detach(|| LabelTree::from_taxonomy(&tax, &labels, rule))
            .or_raise()?;
        Ok(PyLabelTree { tree })
    }

    #[getter]
    fn num_classes(&self) -> usize {
        self.tree.num_classes()
    }

    #[getter]
    fn num_nodes(&self) -> usize {
        self.tree.num_nodes()
    }

    /// Class labels, in class order.
    #[getter]
    fn labels(&self) -> Vec<String> {
        (0..self.tree.num_classes())
            .map(|c| self.tree.label(c).to_string())
            .collect()
    }

    /// Node names, in node order (the columns of the `[C, N]` arrays).
    #[getter]
    fn node_names(&self) -> Vec<String> {
        (0..self.tree.num_nodes())
            .map(|n| self.tree.node_name(n).to_string())
            .collect()
    }

    /// Parent of each node (-1 for the root).
    #[getter]
    fn parents(&self) -> Vec<i64> {
        (0..self.tree.num_nodes())
            .map(|n| self.tree.parent(n).map_or(-1, |p| p as i64))
            .collect()
    }

    /// The source hierarchy's is-a edges the tree left out, as (parent, child).
    #[getter]
    fn dropped_edges(&self) -> Vec<(String, String)> {
        self.tree
            .dropped_edges()
            .iter()
            .map(|e| (e.parent.clone(), e.child.clone()))
            .collect()
    }

    /// Concepts merged away because they had a single child.
    #[getter]
    fn collapsed_nodes(&self) -> Vec<String> {
        self.tree.collapsed_nodes().to_vec()
    }

    /// The tree as is-a text (`parent<TAB>child` lines), readable by `Taxonomy.from_isa`.
    #[getter]
    fn isa_text(&self) -> &str {
        self.tree.isa_text()
    }

    /// LCA-height distances between the classes, (C, C) float64.
    #[pyo3(signature = (convention = "padded"))]
    fn distances<'py>(&self, py: Python<'py>, convention: &str) -> PyResult<Bound<'py, PyAny>> {
        let conv: DistanceConvention = parse_name(convention)?;
        let d = self.tree.distances(conv).or_raise()?;
        let n = d.len();
        Ok(PyArray1::from_vec(py, d.into_values())
            .reshape([n, n])?
            .into_any())
    }

    /// Soft-label targets of hardness `beta`, (C, C) float32: row t is class t's target.
    #[pyo3(signature = (beta, convention = "padded"))]
    fn soft_labels<'py>(
        &self,
        py: Python<'py>,
        beta: f64,
        convention: &str,
    ) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
        let conv: DistanceConvention = parse_name(convention)?;
        to_numpy(py, self.tree.soft_labels(beta, conv).or_raise()?)
    }

    /// HXE weight of the edge above each node, (N,) float32 (0 for the root).
    #[pyo3(signature = (alpha, weighting = "reference"))]
    fn hxe_edge_weights<'py>(
        &self,
        py: Python<'py>,
        alpha: f64,
        weighting: &str,
    ) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
        self.hxe_array(py, alpha, weighting, LabelTree::hxe_edge_weights)
    }

    /// HXE path coefficients K, (C, N) float32: HXE = Σ_n K[t, n]·log P(n).
    #[pyo3(signature = (alpha, weighting = "reference"))]
    fn hxe_path_coefficients<'py>(
        &self,
        py: Python<'py>,
        alpha: f64,
        weighting: &str,
    ) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
        self.hxe_array(py, alpha, weighting, LabelTree::hxe_path_coefficients)
    }

    /// The leaf-to-ancestor matrix M, (C, N) float32: P = softmax(logits) @ M.
    fn leaf_ancestor_matrix<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
        to_numpy(py, self.tree.leaf_ancestor_matrix())
    }

    /// hiercog's own value of the loss `recipe` (`ce`, `hxe:0.1`, `soft:10`, ...): the batch
    /// mean over float32 `logits` (B, C) and integer `targets` (B,).
    fn loss(
        &self,
        py: Python<'_>,
        recipe: &str,
        logits: &Bound<'_, PyAny>,
        targets: &Bound<'_, PyAny>,
    ) -> PyResult<f64> {
        let spec: LossSpec = recipe.parse().or_raise()?;
        let logits = matrix(logits, "logits")?;
        let (z, c) = rows(&logits);
        let t = labels(targets, "targets")?;
        let tree = &self.tree;
        py.detach(|| -> Result<f64, LossesErr> {
            let device = Device::Cpu;
            let loss = HierarchicalLoss::new(&spec, tree, &device)?;
            let z = Tensor::from_slice(z, (z.len() / c, c), &device)?;
            let t = Tensor::from_slice(&t, t.len(), &device)?;
            Ok(loss.forward(&z, &t)?.to_scalar::<f32>()? as f64)
        })
        .map_err(LossesErr::into_py)
    }

    fn __repr__(&self) -> String {
        format!(
            "LabelTree({} classes, {} nodes, rule {})",
            self.tree.num_classes(),
            self.tree.num_nodes(),
            self.tree.rule()
        )
    }
}

impl PyLabelTree {
    /// One of the tree's HXE arrays for `alpha` and the weighting named `weighting`.
    fn hxe_array<'py>(
        &self,
        py: Python<'py>,
        alpha: f64,
        weighting: &str,
        array: fn(&LabelTree, f64, HxeWeighting) -> hiercog_losses::Result<Array>,
    ) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
        let w = self::weighting(weighting)?;
        to_numpy(py, array(&self.tree, alpha, w).or_raise()?)
    }
}

/// Either error of a loss computation: the recipe's or candle's.
enum LossesErr {
    Losses(hiercog_losses::Error),
    Candle(candle_core::Error),
}

impl From<hiercog_losses::Error> for LossesErr {
    fn from(e: hiercog_losses::Error) -> Self {
        LossesErr::Losses(e)
    }
}

impl From<candle_core::Error> for LossesErr {
    fn from(e: candle_core::Error) -> Self {
        LossesErr::Candle(e)
    }
}

impl LossesErr {
    fn into_py(self) -> PyErr {
        match self {
            LossesErr::Losses(e) => e.to_py_err(),
            LossesErr::Candle(e) => e.to_py_err(),
        }
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyLabelTree>()
}
