//! Conversions between Python and the libraries: exceptions, numpy arrays, JSON-shaped results,
//! progress callbacks.

use std::path::Path;
use std::sync::Mutex;

use numpy::{
    PyArray1, PyArray2, PyArrayDescrMethods, PyArrayMethods, PyReadonlyArray2, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::create_exception;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyList, PyString};

create_exception!(
    _hiercog,
    HiercogError,
    PyValueError,
    "An error reported by one of hiercog's libraries (a ValueError)."
);
create_exception!(
    _hiercog,
    TaxonomyError,
    HiercogError,
    "hiercog-taxonomy's errors."
);
create_exception!(_hiercog, CogError, HiercogError, "hiercog-cog's errors.");
create_exception!(
    _hiercog,
    FeaturesError,
    HiercogError,
    "hiercog-features' errors."
);
create_exception!(
    _hiercog,
    ProbeError,
    HiercogError,
    "hiercog-probe's errors."
);
create_exception!(
    _hiercog,
    LossesError,
    HiercogError,
    "hiercog-losses' errors."
);
create_exception!(
    _hiercog,
    RetrievalError,
    HiercogError,
    "hiercog-retrieval's errors."
);

pub(crate) fn register_exceptions(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("HiercogError", py.get_type::<HiercogError>())?;
    m.add("TaxonomyError", py.get_type::<TaxonomyError>())?;
    m.add("CogError", py.get_type::<CogError>())?;
    m.add("FeaturesError", py.get_type::<FeaturesError>())?;
    m.add("ProbeError", py.get_type::<ProbeError>())?;
    m.add("LossesError", py.get_type::<LossesError>())?;
    m.add("RetrievalError", py.get_type::<RetrievalError>())?;
    Ok(())
}

/// The error's message followed by its causes, `: `-separated (the CLI prints the same chain).
fn message(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// A library's error as its Python exception class.
pub(crate) trait ToPyErr {
    fn to_py_err(&self) -> PyErr;
}

macro_rules! exception_of {
    ($($error:ty => $class:ty),* $(,)?) => {$(
        impl ToPyErr for $error {
            fn to_py_err(&self) -> PyErr {
                <$class>::new_err(message(self))
            }
        }
    )*};
}

exception_of!(
    hiercog_taxonomy::Error => TaxonomyError,
    hiercog_cog::Error => CogError,
    hiercog_features::Error => FeaturesError,
    hiercog_probe::Error => ProbeError,
    hiercog_losses::Error => LossesError,
    candle_core::Error => LossesError,
    hiercog_retrieval::Error => RetrievalError,
);

/// `result.or_raise()?`: a library result with its error raised as a Python exception.
pub(crate) trait OrRaise<T> {
    fn or_raise(self) -> PyResult<T>;
}

impl<T, E: ToPyErr> OrRaise<T> for Result<T, E> {
    fn or_raise(self) -> PyResult<T> {
        self.map_err(|e| e.to_py_err())
    }
}

/// Parses a name (`"lin"`, `"padded"`, ...) whose parser reports a plain message.
pub(crate) fn parse_name<T: std::str::FromStr<Err = String>>(value: &str) -> PyResult<T> {
    value.parse().map_err(HiercogError::new_err)
}

/// A JSON-shaped library result (its serde form) as plain Python values: dicts, lists, str,
/// int, float, bool, None (NaN and infinities, which JSON lacks, arrive as None).
pub(crate) fn to_python<'py, T: serde::Serialize + ?Sized>(
    py: Python<'py>,
    value: &T,
) -> PyResult<Bound<'py, PyAny>> {
    let json = serde_json::to_value(value).map_err(|e| HiercogError::new_err(e.to_string()))?;
    json_to_python(py, &json)
}

fn json_to_python<'py>(py: Python<'py>, v: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    use serde_json::Value as J;
    Ok(match v {
        J::Null => py.None().into_bound(py),
        J::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        J::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any(),
            (None, Some(u)) => u.into_pyobject(py)?.into_any(),
            _ => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        },
        J::String(s) => PyString::new(py, s).into_any(),
        J::Array(items) => {
            let items = items
                .iter()
                .map(|x| json_to_python(py, x))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any()
        }
        J::Object(map) => {
            let d = PyDict::new(py);
            for (k, x) in map {
                d.set_item(k, json_to_python(py, x)?)?;
            }
            d.into_any()
        }
    })
}

/// True for numpy's signed and unsigned integer dtypes.
pub(crate) fn is_integer(arr: &Bound<'_, PyUntypedArray>) -> bool {
    matches!(arr.dtype().kind(), b'i' | b'u')
}

/// A numpy array argument, before its dtype is checked.
fn ndarray<'a, 'py>(
    obj: &'a Bound<'py, PyAny>,
    name: &str,
    want: &str,
) -> PyResult<&'a Bound<'py, PyUntypedArray>> {
    obj.cast::<PyUntypedArray>().map_err(|_| {
        PyTypeError::new_err(format!(
            "{name} must be a numpy array ({want}), got {}",
            obj.get_type().name().map_or("?".into(), |n| n.to_string())
        ))
    })
}

/// A `(rows, dim)` float32 matrix read in place: the wrong dtype or a non-C-contiguous layout
/// is refused (with the conversion to use) rather than silently copied.
pub(crate) fn matrix<'py>(
    obj: &Bound<'py, PyAny>,
    name: &str,
) -> PyResult<PyReadonlyArray2<'py, f32>> {
    let want = "float32, shape (rows, dim)";
    let arr = ndarray(obj, name, want)?;
    if arr.ndim() != 2 {
        return Err(PyValueError::new_err(format!(
            "{name} must be 2-D ({want}), got shape {:?}",
            arr.shape()
        )));
    }
    let dtype = arr.dtype();
    let Ok(typed) = arr.cast::<PyArray2<f32>>() else {
        return Err(PyTypeError::new_err(format!(
            "{name} has dtype {dtype} but hiercog reads float32 features: pass \
             {name}.astype(np.float32)"
        )));
    };
    if !arr.is_c_contiguous() {
        return Err(PyValueError::new_err(format!(
            "{name} is not C-contiguous (a transposed or strided view?): pass \
             np.ascontiguousarray({name})"
        )));
    }
    Ok(typed.try_readonly()?)
}

/// The slice of a checked matrix and its width.
pub(crate) fn rows<'a>(m: &'a PyReadonlyArray2<'_, f32>) -> (&'a [f32], usize) {
    let dim = m.shape()[1];
    (m.as_slice().expect("`matrix` checked the layout"), dim)
}

/// Non-negative integer class labels (any integer dtype, a list or a tuple) as `u32`.
pub(crate) fn labels(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Vec<u32>> {
    let values: Vec<i64> = match obj.cast::<PyUntypedArray>() {
        Ok(arr) => {
            if arr.ndim() != 1 {
                return Err(PyValueError::new_err(format!(
                    "{name} must be 1-D integer labels, got shape {:?}",
                    arr.shape()
                )));
            }
            if !is_integer(arr) {
                return Err(PyTypeError::new_err(format!(
                    "{name} has dtype {} but labels must be integers: pass {name}.astype(np.int64)",
                    arr.dtype()
                )));
            }
            let as_i64 = arr.call_method1("astype", ("int64",))?;
            as_i64.cast::<PyArray1<i64>>()?.to_vec()?
        }
        Err(_) => obj.extract().map_err(|_| {
            PyTypeError::new_err(format!("{name} must be a sequence of integer labels"))
        })?,
    };
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            u32::try_from(v).map_err(|_| {
                PyValueError::new_err(format!(
                    "{name}[{i}] is {v}; labels must be class indices 0..C-1"
                ))
            })
        })
        .collect()
}

/// Where a matrix handed over from Python is named in library messages.
pub(crate) fn source(name: &str) -> &Path {
    Path::new(name)
}

/// An optional Python progress callback, called with one dict per event from library threads
/// (taking the GIL for the call). The first exception it raises is kept and raised once the
/// computation returns; later events are not reported.
pub(crate) struct Progress {
    callback: Option<Py<PyAny>>,
    error: Mutex<Option<PyErr>>,
}

impl Progress {
    pub(crate) fn new(callback: Option<Bound<'_, PyAny>>) -> PyResult<Progress> {
        if let Some(cb) = &callback {
            if !cb.is_callable() {
                return Err(PyTypeError::new_err(
                    "progress must be a callable taking one dict, or None",
                ));
            }
        }
        Ok(Progress {
            callback: callback.map(Bound::unbind),
            error: Mutex::new(None),
        })
    }

    /// Reports one event: the dict `{"event": event, **fields}` (`fields` a JSON object).
    pub(crate) fn report(&self, event: &str, fields: serde_json::Value) {
        let Some(cb) = &self.callback else { return };
        let mut error = self.error.lock().unwrap_or_else(|e| e.into_inner());
        if error.is_some() {
            return;
        }
        let outcome = Python::attach(|py| -> PyResult<()> {
            let d = PyDict::new(py);
            d.set_item("event", event)?;
            if let serde_json::Value::Object(map) = &fields {
                for (k, v) in map {
                    d.set_item(k, json_to_python(py, v)?)?;
                }
            }
            cb.call1(py, (d,))?;
            Ok(())
        });
        if let Err(e) = outcome {
            *error = Some(e);
        }
    }

    /// The callback's first exception, if any.
    pub(crate) fn finish(self) -> PyResult<()> {
        match self.error.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
