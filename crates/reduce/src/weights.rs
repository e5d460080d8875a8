//! Named f32 arrays in a safetensors file, with the hyper-parameters as JSON in its metadata
//! (key `hiercog`): the format of saved models and training checkpoints. Written atomically.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use hiercog_retrieval::Rows;
use rayon::prelude::*;
use safetensors::{tensor::TensorView, Dtype, SafeTensors};

use crate::error::{Error, Result};

/// Metadata key holding the JSON description.
const META_KEY: &str = "hiercog";

/// A row-major f32 array (a parameter, running statistic or gradient, by PyTorch's shape).
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// The values, row-major.
    pub data: Vec<f32>,
}

/// Writes `arrays` and `meta` to `path` (atomically).
pub(crate) fn save(
    path: &Path,
    arrays: &BTreeMap<String, Array>,
    meta: &serde_json::Value,
) -> Result<()> {
    let bytes: Vec<(String, Vec<u8>)> = arrays
        .iter()
        .map(|(n, a)| {
            (
                n.clone(),
                a.data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            )
        })
        .collect();
    let views = bytes
        .iter()
        .zip(arrays.values())
        .map(|((n, b), a)| {
            TensorView::new(Dtype::F32, a.shape.clone(), b)
                .map(|v| (n.clone(), v))
                .map_err(|e| Error::Format {
                    path: path.to_path_buf(),
                    message: format!("array `{n}`: {e}"),
                })
        })
        .collect::<Result<Vec<_>>>()?;
    let info = HashMap::from([(META_KEY.to_string(), meta.to_string())]);
    let out = safetensors::serialize(views, Some(info)).map_err(|e| Error::Format {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(hiercog_io::write_atomic(path, &out)?)
}

/// Reads a file written by [`save`].
pub(crate) fn load(path: &Path) -> Result<(BTreeMap<String, Array>, serde_json::Value)> {
    let bytes = std::fs::read(path).map_err(hiercog_io::Error::read(path))?;
    let bad = |message: String| Error::Format {
        path: path.to_path_buf(),
        message,
    };
    let (_, header) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| bad(format!("not a safetensors file ({e})")))?;
    let meta = header
        .metadata()
        .as_ref()
        .and_then(|m| m.get(META_KEY))
        .ok_or_else(|| {
            bad("no hiercog description in the metadata: not written by hiercog".into())
        })?;
    let meta: serde_json::Value =
        serde_json::from_str(meta).map_err(|e| bad(format!("bad description: {e}")))?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
    let mut arrays = BTreeMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(bad(format!(
                "array `{name}` is {:?}, expected F32",
                view.dtype()
            )));
        }
        let data = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        arrays.insert(
            name,
            Array {
                shape: view.shape().to_vec(),
                data,
            },
        );
    }
    Ok((arrays, meta))
}

/// A cheap identity of a training matrix (shape and a hash of every value), so that a
/// checkpoint is resumed only on the data it was made from.
pub(crate) fn data_fingerprint(x: Rows<'_>) -> String {
    const CHUNK: usize = 1 << 16;
    let hashes: Vec<u64> = x
        .data()
        .par_chunks(CHUNK)
        .map(|c| {
            c.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, v| {
                (h ^ u64::from(v.to_bits())).wrapping_mul(0x0100_0000_01b3)
            })
        })
        .collect();
    let total = hashes.iter().fold(0u64, |h, c| {
        h.rotate_left(5) ^ c.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    });
    format!("{}x{}:{total:016x}", x.len(), x.dim())
}
