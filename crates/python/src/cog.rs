//! hiercog-cog: the CoG level builder, the official pickles, benchmark directories.

use std::path::PathBuf;

use hiercog_cog::{
    import_official as import, read_official_levels as read_levels, BuildInputs, ConceptList,
    ConceptSource, CutStyle, IcSource, ImageCounts, InputRef, LevelBuilder, OfficialSplits, Preset,
    SplitSource, WriteOptions,
};
use hiercog_taxonomy::Measure;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use serde_json::json;

use crate::convert::{to_python, CogError, OrRaise, Progress};
use crate::taxonomy::PyTaxonomy;

/// A set of CoG levels (built, or imported from the official pickles) with its ranking and
/// manifest; `write` makes a benchmark directory of it, as `hiercog cog build` does.
#[pyclass(module = "hiercog._hiercog", name = "Benchmark", frozen)]
pub struct PyBenchmark {
    bench: hiercog_cog::Benchmark,
    splits: Option<OfficialSplits>,
}

/// A concept list: `"in1k"`, `"in21k"`, a file path, or a sequence of names.
fn concept_list(obj: &Bound<'_, PyAny>, arg: &str) -> PyResult<ConceptList> {
    if let Ok(s) = obj.cast::<PyString>() {
        let source: ConceptSource = s.extract::<String>()?.parse().or_raise()?;
        return source.load(None).or_raise();
    }
    let names: Vec<String> = obj.extract().map_err(|_| {
        CogError::new_err(format!(
            "{arg} must be \"in1k\", \"in21k\", a file path or a sequence of names"
        ))
    })?;
    Ok(ConceptList::from_names(format!("python:{arg}"), names))
}

/// The seen set (default: ImageNet-1K) and the candidate pool (default: ImageNet-21K).
fn seen_and_pool(
    seen: Option<&Bound<'_, PyAny>>,
    pool: Option<&Bound<'_, PyAny>>,
) -> PyResult<(ConceptList, ConceptList)> {
    let seen = match seen {
        Some(s) => concept_list(s, "seen")?,
        None => ConceptList::imagenet1k(),
    };
    let pool = match pool {
        Some(p) => concept_list(p, "pool")?,
        None => ConceptList::imagenet21k(),
    };
    Ok((seen, pool))
}

/// Image counts: a `name<TAB>count` file, or a dict name -> count.
fn image_counts(obj: &Bound<'_, PyAny>) -> PyResult<ImageCounts> {
    if let Ok(path) = obj.extract::<PathBuf>() {
        return ImageCounts::from_file(&path).or_raise();
    }
    let d = obj
        .cast::<PyDict>()
        .map_err(|_| CogError::new_err("counts must be a file path or a dict name -> count"))?;
    let counts: Vec<(String, u64)> = d
        .iter()
        .map(|(k, v)| Ok((k.extract()?, v.extract()?)))
        .collect::<PyResult<_>>()?;
    let text: String = counts.iter().map(|(n, c)| format!("{n}\t{c}\n")).collect();
    let source = InputRef::new("python:counts", text.as_bytes(), counts.len());
    Ok(ImageCounts::new(source, counts))
}

/// Builds CoG levels: filters the pool, ranks it by concept-to-set similarity, cuts it.
#[pyfunction]
#[pyo3(signature = (
    seen = None, pool = None, *, taxonomy = None, preset = "imagenet-cog", levels = 5,
    per_level = 1000, cuts = "blocks", measure = "lin", ic = "pool-subtree", counts = None,
    skip_unknown = false, allow_smaller = false
))]
#[allow(clippy::too_many_arguments)]
fn build_levels(
    py: Python<'_>,
    seen: Option<&Bound<'_, PyAny>>,
    pool: Option<&Bound<'_, PyAny>>,
    taxonomy: Option<PyRef<'_, PyTaxonomy>>,
    preset: &str,
    levels: usize,
    per_level: usize,
    cuts: &str,
    measure: &str,
    ic: &str,
    counts: Option<&Bound<'_, PyAny>>,
    skip_unknown: bool,
    allow_smaller: bool,
) -> PyResult<PyBenchmark> {
    let (tax, taxonomy_source) = PyTaxonomy::or_wordnet(taxonomy.as_deref())?;
    let (seen, pool) = seen_and_pool(seen, pool)?;
    let counts = counts.map(image_counts).transpose()?;
    let params = preset
        .parse::<Preset>()
        .or_raise()?
        .params(levels, per_level)
        .ic(ic.parse::<IcSource>().or_raise()?)
        .measure(measure.parse::<Measure>().or_raise()?)
        .cuts(cuts.parse::<CutStyle>().or_raise()?.cuts(levels, per_level))
        .skip_unknown(skip_unknown)
        .allow_smaller(allow_smaller);
    let builder = LevelBuilder::new(params).or_raise()?;
    let inputs = BuildInputs {
        taxonomy: &tax,
        taxonomy_source,
        seen: &seen,
        pool: &pool,
        counts: counts.as_ref(),
    };
    let bench = py.detach(|| builder.build(&inputs)).or_raise()?;
    Ok(PyBenchmark {
        bench,
        splits: None,
    })
}

/// The official `cog_levels_mapping_file.pkl` as lists of wnids, L1 first.
#[pyfunction]
fn read_official_levels(path: PathBuf) -> PyResult<Vec<Vec<String>>> {
    read_levels(&path).or_raise()
}

/// The official level (and split) pickles as a Benchmark, each concept scored against `seen`.
#[pyfunction]
#[pyo3(signature = (
    levels_pkl, splits_pkl = None, *, seen = None, pool = None, taxonomy = None, measure = "lin",
    ic = "pool-subtree", skip_unknown = false, images_root = None
))]
#[allow(clippy::too_many_arguments)]
fn import_official(
    py: Python<'_>,
    levels_pkl: PathBuf,
    splits_pkl: Option<PathBuf>,
    seen: Option<&Bound<'_, PyAny>>,
    pool: Option<&Bound<'_, PyAny>>,
    taxonomy: Option<PyRef<'_, PyTaxonomy>>,
    measure: &str,
    ic: &str,
    skip_unknown: bool,
    images_root: Option<PathBuf>,
) -> PyResult<PyBenchmark> {
    let (tax, taxonomy_source) = PyTaxonomy::or_wordnet(taxonomy.as_deref())?;
    let (seen, pool) = seen_and_pool(seen, pool)?;
    let params = hiercog_cog::LevelParams::imagenet_cog()
        .ic(ic.parse::<IcSource>().or_raise()?)
        .measure(measure.parse::<Measure>().or_raise()?)
        .skip_unknown(skip_unknown);
    let inputs = BuildInputs {
        taxonomy: &tax,
        taxonomy_source,
        seen: &seen,
        pool: &pool,
        counts: None,
    };
    let (bench, splits) = py
        .detach(|| import(&levels_pkl, splits_pkl.as_deref(), &inputs, &params))
        .or_raise()?;
    let splits = match (splits, images_root) {
        (Some(s), Some(root)) => Some(s.with_images_root(root)),
        (s, _) => s,
    };
    Ok(PyBenchmark { bench, splits })
}

#[pymethods]
impl PyBenchmark {
    /// Level names, L1 (closest to the seen set) first.
    #[getter]
    fn level_names(&self) -> Vec<String> {
        self.bench.levels().iter().map(|l| l.name.clone()).collect()
    }

    /// Every level as {"name", "concepts": [{wnid, lemma, similarity, nearest_seen, ...}]}.
    #[getter]
    fn levels<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        for l in self.bench.levels() {
            out.append(to_python(
                py,
                &json!({"name": l.name, "concepts": l.concepts}),
            )?)?;
        }
        Ok(out)
    }

    /// The wnids of level `name` sorted by name: class i of the level's features is the i-th.
    fn wnids(&self, name: &str) -> PyResult<Vec<String>> {
        let level = self.bench.level(name).or_raise()?;
        Ok(level
            .sorted_wnids()
            .into_iter()
            .map(str::to_string)
            .collect())
    }

    /// Every eligible concept, most similar first.
    #[getter]
    fn ranking<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, self.bench.ranking())
    }

    /// Pool concepts removed by the filters, with the filter's name.
    #[getter]
    fn removed<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, self.bench.removed())
    }

    /// Inputs, parameters, filter reports, level summaries and notes, as `manifest.json`.
    #[getter]
    fn manifest<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, self.bench.manifest())
    }

    /// Writes the benchmark directory `out` atomically (manifest, one TSV per level, report,
    /// plots unless `plots=False`, and the official splits when imported with them).
    #[pyo3(signature = (out, *, force = false, plots = true, progress = None))]
    fn write(
        &self,
        py: Python<'_>,
        out: PathBuf,
        force: bool,
        plots: bool,
        progress: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let opts = WriteOptions {
            force,
            no_plots: !plots,
        };
        let reporter = Progress::new(progress)?;
        py.detach(|| {
            let splits = self.splits.as_ref().map(|s| s as &dyn SplitSource);
            self.bench.write(&out, &opts, splits, |stage, done, total| {
                reporter.report(
                    "write",
                    json!({"stage": stage, "done": done, "total": total}),
                )
            })
        })
        .or_raise()?;
        reporter.finish()
    }

    fn __len__(&self) -> usize {
        self.bench.levels().len()
    }

    fn __repr__(&self) -> String {
        let sizes: Vec<String> = self
            .bench
            .levels()
            .iter()
            .map(|l| format!("{} {}", l.name, l.concepts.len()))
            .collect();
        format!("Benchmark({})", sizes.join(", "))
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyBenchmark>()?;
    m.add_function(wrap_pyfunction!(build_levels, m)?)?;
    m.add_function(wrap_pyfunction!(read_official_levels, m)?)?;
    m.add_function(wrap_pyfunction!(import_official, m)?)?;
    Ok(())
}
