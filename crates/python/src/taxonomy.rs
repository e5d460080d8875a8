//! `Taxonomy`: hiercog-taxonomy's concept hierarchy, its similarity measures and LCA distances.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use hiercog_cog::IcSource;
use hiercog_taxonomy::{
    distance_matrix_within, similarities, similarity, ConceptId, DistanceConvention,
    InformationContent, Measure, SetSimilarity, Taxonomy, TaxonomySource,
};
use numpy::{PyArray1, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::convert::{is_integer, parse_name, to_python, OrRaise, TaxonomyError};

/// A concept hierarchy (WordNet 3.0 nouns, another WordNet, or an is-a file), with the
/// information contents it has computed, kept for later calls.
#[pyclass(module = "hiercog._hiercog", name = "Taxonomy", frozen)]
pub struct PyTaxonomy {
    pub(crate) tax: Arc<Taxonomy>,
    /// How it was loaded (`builtin:wordnet-3.0`, a path), as the level builder's manifest records.
    pub(crate) source: String,
    ic: Mutex<HashMap<String, Arc<InformationContent>>>,
}

/// Concepts given either as one name, or as many (names, or `uint32` ids from `Taxonomy.ids`).
enum Concepts {
    One(ConceptId),
    Many(Vec<ConceptId>),
}

impl Concepts {
    fn into_vec(self) -> Vec<ConceptId> {
        match self {
            Concepts::One(c) => vec![c],
            Concepts::Many(cs) => cs,
        }
    }
}

impl PyTaxonomy {
    fn new(tax: Arc<Taxonomy>, source: String) -> PyTaxonomy {
        PyTaxonomy {
            tax,
            source,
            ic: Mutex::new(HashMap::new()),
        }
    }

    fn load(py: Python<'_>, source: TaxonomySource) -> PyResult<PyTaxonomy> {
        let tax = py.detach(|| source.load()).or_raise()?;
        Ok(PyTaxonomy::new(tax, source.to_string()))
    }

    /// The embedded WordNet 3.0 (decoded once per process).
    pub(crate) fn embedded() -> PyResult<PyTaxonomy> {
        let (tax, source) = PyTaxonomy::or_wordnet(None)?;
        Ok(PyTaxonomy::new(tax, source))
    }

    /// `tax`, or the embedded WordNet, with its source label.
    pub(crate) fn or_wordnet(tax: Option<&PyTaxonomy>) -> PyResult<(Arc<Taxonomy>, String)> {
        match tax {
            Some(t) => Ok((t.tax.clone(), t.source.clone())),
            None => Ok((
                Taxonomy::wordnet().or_raise()?,
                TaxonomySource::Embedded.to_string(),
            )),
        }
    }

    /// The concept named `name`, the error naming the argument.
    fn id(&self, name: &str, arg: &str) -> PyResult<ConceptId> {
        self.tax
            .id(name)
            .map_err(|e| TaxonomyError::new_err(format!("{arg}: {e}")))
    }

    pub(crate) fn ids_of(&self, names: &[String], arg: &str) -> PyResult<Vec<ConceptId>> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| self.id(n, &format!("{arg}[{i}]")))
            .collect()
    }

    fn concepts(&self, obj: &Bound<'_, PyAny>, arg: &str) -> PyResult<Concepts> {
        if let Ok(s) = obj.cast::<PyString>() {
            return Ok(Concepts::One(self.id(&s.extract::<String>()?, arg)?));
        }
        if let Ok(arr) = obj.cast::<PyUntypedArray>() {
            if is_integer(arr) {
                let ids = obj.cast::<PyArray1<u32>>().map_err(|_| {
                    TaxonomyError::new_err(format!(
                        "{arg} must be names or a 1-D uint32 array of ids from Taxonomy.ids, got \
                         dtype {} and shape {:?}",
                        arr.dtype(),
                        arr.shape()
                    ))
                })?;
                let ids = ids.try_readonly()?;
                let ids = ids.as_slice()?;
                if let Some((i, bad)) = ids
                    .iter()
                    .enumerate()
                    .find(|(_, &c)| c as usize >= self.tax.len())
                {
                    return Err(TaxonomyError::new_err(format!(
                        "{arg}[{i}]: id {bad} is beyond the taxonomy's {} concepts",
                        self.tax.len()
                    )));
                }
                return Ok(Concepts::Many(ids.iter().map(|&c| ConceptId(c)).collect()));
            }
        }
        let names: Vec<String> = obj.extract().map_err(|_| {
            TaxonomyError::new_err(format!(
                "{arg} must be a name, a sequence of names or a uint32 array of ids"
            ))
        })?;
        Ok(Concepts::Many(self.ids_of(&names, arg)?))
    }

    /// The measure named `measure` and, when it needs one, the information content named `ic`.
    fn measure(
        &self,
        measure: &str,
        ic: Option<&str>,
    ) -> PyResult<(Measure, Option<Arc<InformationContent>>)> {
        let m: Measure = measure.parse().or_raise()?;
        let ic = match (ic, m.needs_ic()) {
            (Some(source), true) => Some(self.information_content(source)?),
            (None, true) => {
                return Err(TaxonomyError::new_err(format!(
                    "measure {m} needs information content: pass ic=\"semcor\", \"intrinsic\", \
                     \"imagenet21k\" or \"counts:FILE\""
                )))
            }
            (_, false) => None,
        };
        Ok((m, ic))
    }

    /// The information content named `source` (`semcor`, `intrinsic`, `imagenet21k`,
    /// `counts:FILE`), computed once per taxonomy.
    fn information_content(&self, source: &str) -> PyResult<Arc<InformationContent>> {
        let mut cache = self.ic.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(ic) = cache.get(source) {
            return Ok(ic.clone());
        }
        let ic = Arc::new(
            source
                .parse::<IcSource>()
                .or_raise()?
                .information_content(&self.tax)
                .or_raise()?,
        );
        cache.insert(source.to_string(), ic.clone());
        Ok(ic)
    }
}

#[pymethods]
impl PyTaxonomy {
    /// The embedded WordNet 3.0 noun hierarchy.
    #[staticmethod]
    fn wordnet() -> PyResult<PyTaxonomy> {
        PyTaxonomy::embedded()
    }

    /// A user is-a file (`parent<TAB>child` lines).
    #[staticmethod]
    fn from_isa(py: Python<'_>, path: PathBuf) -> PyResult<PyTaxonomy> {
        PyTaxonomy::load(py, TaxonomySource::IsaFile(path))
    }

    /// A WordNet dict directory.
    #[staticmethod]
    fn from_wordnet_dir(py: Python<'_>, path: PathBuf) -> PyResult<PyTaxonomy> {
        PyTaxonomy::load(py, TaxonomySource::WordNetDir(path))
    }

    fn __len__(&self) -> usize {
        self.tax.len()
    }

    fn __contains__(&self, name: &str) -> bool {
        self.tax.get(name).is_some()
    }

    fn __repr__(&self) -> String {
        format!("Taxonomy({} concepts from {})", self.tax.len(), self.source)
    }

    #[getter]
    fn source(&self) -> &str {
        &self.source
    }

    /// The uint32 ids of `names` (for fast repeated calls with arrays of ids).
    fn ids<'py>(&self, py: Python<'py>, names: Vec<String>) -> PyResult<Bound<'py, PyArray1<u32>>> {
        let ids = self.ids_of(&names, "names")?;
        Ok(PyArray1::from_vec(
            py,
            ids.into_iter().map(|c| c.0).collect(),
        ))
    }

    /// The names of uint32 ids.
    fn names(&self, ids: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
        Ok(self
            .concepts(ids, "ids")?
            .into_vec()
            .into_iter()
            .map(|c| self.tax.name(c).to_string())
            .collect())
    }

    /// Lemmas, gloss, depths, hypernyms and paths of a concept, as a dict.
    fn synset<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &self.tax.info(self.id(name, "name")?))
    }

    /// Names of the concepts having `lemma` (case-insensitive; spaces match `_`).
    fn find(&self, lemma: &str) -> Vec<String> {
        self.tax
            .find_by_lemma(lemma)
            .into_iter()
            .map(|c| self.tax.name(c).to_string())
            .collect()
    }

    /// Information content of concepts under `source`.
    #[pyo3(signature = (concepts, source = "semcor"))]
    fn ic<'py>(
        &self,
        py: Python<'py>,
        concepts: &Bound<'py, PyAny>,
        source: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let ic = self.information_content(source)?;
        Ok(match self.concepts(concepts, "concepts")? {
            Concepts::One(c) => ic.ic(c).into_pyobject(py)?.into_any(),
            Concepts::Many(cs) => {
                PyArray1::from_vec(py, cs.iter().map(|&c| ic.ic(c)).collect()).into_any()
            }
        })
    }

    /// Similarity of `a` and `b` under `measure`, as NLTK 3.10 computes it.
    #[pyo3(signature = (a, b, measure = "path", ic = None))]
    fn similarity<'py>(
        &self,
        py: Python<'py>,
        a: &Bound<'py, PyAny>,
        b: &Bound<'py, PyAny>,
        measure: &str,
        ic: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (m, ic) = self.measure(measure, ic)?;
        let ic = ic.as_deref();
        let tax = &*self.tax;
        match (self.concepts(a, "a")?, self.concepts(b, "b")?) {
            (Concepts::One(x), Concepts::One(y)) => Ok(similarity(tax, ic, m, x, y)
                .or_raise()?
                .into_pyobject(py)?
                .into_any()),
            (xs, ys) => {
                let (xs, ys) = match (xs, ys) {
                    (Concepts::Many(xs), Concepts::Many(ys)) => (xs, ys),
                    (Concepts::One(x), Concepts::Many(ys)) => (vec![x; ys.len()], ys),
                    (Concepts::Many(xs), Concepts::One(y)) => {
                        let n = xs.len();
                        (xs, vec![y; n])
                    }
                    (Concepts::One(_), Concepts::One(_)) => unreachable!("matched above"),
                };
                if xs.len() != ys.len() {
                    return Err(TaxonomyError::new_err(format!(
                        "a has {} concepts but b has {}: give pairs of equal length",
                        xs.len(),
                        ys.len()
                    )));
                }
                let pairs: Vec<(ConceptId, ConceptId)> = xs.into_iter().zip(ys).collect();
                let values = py.detach(|| similarities(tax, ic, m, &pairs)).or_raise()?;
                Ok(PyArray1::from_vec(
                    py,
                    values.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect(),
                )
                .into_any())
            }
        }
    }

    /// Concept-to-set similarity: for each concept, the highest similarity to a member of `set`
    /// and that member (the first listed on ties), as (float64 array, list of names).
    #[pyo3(signature = (concepts, set, measure = "lin", ic = None))]
    fn set_similarity<'py>(
        &self,
        py: Python<'py>,
        concepts: &Bound<'py, PyAny>,
        set: &Bound<'py, PyAny>,
        measure: &str,
        ic: Option<&str>,
    ) -> PyResult<(Bound<'py, PyArray1<f64>>, Vec<String>)> {
        let (m, ic) = self.measure(measure, ic)?;
        let cs = self.concepts(concepts, "concepts")?.into_vec();
        let members = self.concepts(set, "set")?.into_vec();
        let tax = &*self.tax;
        let best = py
            .detach(|| {
                SetSimilarity::new(tax, ic.as_deref(), m, &members).map(|s| s.best_many(&cs))
            })
            .or_raise()?;
        let names = best.iter().map(|&(_, c)| tax.name(c).to_string()).collect();
        Ok((
            PyArray1::from_vec(py, best.into_iter().map(|(v, _)| v).collect()),
            names,
        ))
    }

    /// LCA-height distances between all pairs of `labels`, a (n, n) float64 matrix.
    #[pyo3(signature = (labels, convention = "height", hierarchy = None))]
    fn distances<'py>(
        &self,
        py: Python<'py>,
        labels: Vec<String>,
        convention: &str,
        hierarchy: Option<Vec<String>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let conv: DistanceConvention = parse_name(convention)?;
        let ids = self.ids_of(&labels, "labels")?;
        let within = self.ids_of(&hierarchy.unwrap_or_default(), "hierarchy")?;
        let tax = &*self.tax;
        let m = py
            .detach(|| distance_matrix_within(tax, &ids, &within, conv))
            .or_raise()?;
        let n = m.len();
        Ok(PyArray1::from_vec(py, m.into_values())
            .reshape([n, n])?
            .into_any())
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyTaxonomy>()
}
