#![warn(missing_docs)]
//! hiercog-pickle: a restricted unpickler that never executes code, for PyTorch checkpoints
//! (`torch.save` zip format and the pre-1.6 legacy format) and plain `.pkl` files (protocols 0–5).
//!
//! Python globals are resolved against a closed whitelist (torch's tensor/parameter rebuilders and
//! storage classes, `collections.OrderedDict`, `torch.Size`, `set`/`frozenset`, the `bytes`
//! helpers, numpy's array/dtype/scalar reconstructors); anything else is refused with
//! [`Error::Forbidden`], naming the class. Tensors (and numeric numpy arrays) come out materialized
//! and contiguous ([`Tensor`]), everything else as a [`Value`] tree (numpy string/object arrays as
//! flat lists, numpy scalars as numbers). Lengths in the
//! input are never trusted for allocation: every size is checked against the bytes actually there.
//!
//! Main entry points: [`load_torch`], [`load_pickle`], [`load_pickle_bytes`],
//! [`Value::named_tensors`], [`save_torch`].

mod error;
mod materialize;
mod numpy;
mod object;
mod save;
mod torch;
mod value;
mod vm;

use std::path::Path;

pub use error::{Error, Result};
pub use save::save_torch;
pub use torch::load_torch;
pub use value::{DType, Tensor, Value};

/// Reads a plain pickle file (e.g. the official CoG `cog_levels_mapping_file.pkl`).
pub fn load_pickle(path: &Path) -> Result<Value> {
    let bytes = std::fs::read(path).map_err(torch::read_err(path))?;
    pickle_named(&bytes, &path.display().to_string())
}

/// Reads a plain pickle from memory; bytes after the STOP opcode are ignored, as Python does.
pub fn load_pickle_bytes(bytes: &[u8]) -> Result<Value> {
    pickle_named(bytes, "<bytes>")
}

fn pickle_named(bytes: &[u8], name: &str) -> Result<Value> {
    if bytes.starts_with(torch::LEGACY_MAGIC) {
        return torch::load_legacy(bytes, name);
    }
    if bytes.starts_with(torch::ZIP_MAGIC) {
        return Err(Error::Archive {
            file: name.to_string(),
            msg: "a zip archive (a torch.save checkpoint?), not a plain pickle; use load_torch"
                .into(),
        });
    }
    let u = vm::unpickle(bytes, 0, name)?;
    materialize::materialize(
        &u.obj,
        &mut materialize::NoStorages,
        torch::budget(bytes.len()),
        name,
    )
}

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
