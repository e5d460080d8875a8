//! hiercog-python: the `hiercog._hiercog` extension module of the Python package `hiercog`
//! (built by maturin from `python/pyproject.toml`).
//!
//! A thin layer over the libraries: every number is computed by `hiercog-taxonomy`, `-cog`,
//! `-probe`, `-features`, `-losses` and `-retrieval`; this crate only converts arguments (numpy
//! arrays are read in place when they are C-contiguous and of the library's dtype, results handed
//! over without a copy), raises the libraries' errors as Python exceptions with the same messages
//! ([`convert`]), releases the GIL while a library computes and forwards progress to an optional
//! Python callback ([`convert::Progress`]). The Python-facing documentation is in the type stubs
//! (`python/hiercog/_hiercog.pyi`).

#![warn(missing_docs)]

use pyo3::prelude::*;

mod cog;
mod convert;
mod losses;
mod probe;
mod retrieval;
mod taxonomy;

#[pymodule]
fn _hiercog(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    convert::register_exceptions(m)?;
    taxonomy::register(m)?;
    cog::register(m)?;
    probe::register(m)?;
    losses::register(m)?;
    retrieval::register(m)?;
    Ok(())
}
