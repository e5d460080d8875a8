//! Writing: a [`Value`] as a zip-format torch checkpoint that `torch.load` reads (also with
//! `weights_only=True`), laid out as torch writes it: `archive/data.pkl`, `archive/byteorder`,
//! `archive/data/<i>` (stored, 64-byte aligned) and `archive/version`.

use std::io::Write;
use std::path::Path;

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime};

use crate::error::{Error, Result};
use crate::value::{Tensor, Value};

/// Writes `v` to `path` atomically ([`hiercog_io::write_atomic`]: a temporary sibling, fsync,
/// rename).
pub fn save_torch(path: &Path, v: &Value) -> Result<()> {
    let bytes = torch_zip_bytes(v).map_err(|msg| Error::Save {
        file: path.to_path_buf(),
        msg,
    })?;
    Ok(hiercog_io::write_atomic(path, &bytes)?)
}

/// The checkpoint's bytes; deterministic (fixed timestamps), so tests can compare them.
pub(crate) fn torch_zip_bytes(v: &Value) -> std::result::Result<Vec<u8>, String> {
    let mut tensors = Vec::new();
    let mut pkl = vec![0x80, 2];
    write_value(&mut pkl, v, &mut tensors)?;
    pkl.push(b'.');
    let ze = |e: zip::result::ZipError| format!("zip: {e}");
    let opts = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .last_modified_time(DateTime::default())
        .with_alignment(64);
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let entry = |zip: &mut zip::ZipWriter<_>, name: String, data: &[u8]| {
        zip.start_file(name, opts).map_err(ze)?;
        zip.write_all(data).map_err(|e| format!("zip: {e}"))
    };
    entry(&mut zip, "archive/data.pkl".into(), &pkl)?;
    entry(&mut zip, "archive/byteorder".into(), b"little")?;
    for (i, t) in tensors.iter().enumerate() {
        entry(&mut zip, format!("archive/data/{i}"), &t.data)?;
    }
    entry(&mut zip, "archive/version".into(), b"3\n")?;
    Ok(zip.finish().map_err(ze)?.into_inner())
}

fn write_str(out: &mut Vec<u8>, s: &str) -> std::result::Result<(), String> {
    let n = u32::try_from(s.len()).map_err(|_| "a string longer than 4 GiB".to_string())?;
    out.push(b'X');
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

fn write_int(out: &mut Vec<u8>, i: i64) {
    match i {
        0..=0xff => out.extend_from_slice(&[b'K', i as u8]),
        0x100..=0xffff => {
            out.push(b'M');
            out.extend_from_slice(&(i as u16).to_le_bytes());
        }
        _ if i32::try_from(i).is_ok() => {
            out.push(b'J');
            out.extend_from_slice(&(i as i32).to_le_bytes());
        }
        _ => {
            out.extend_from_slice(&[0x8a, 8]);
            out.extend_from_slice(&i.to_le_bytes());
        }
    }
}

fn write_items<'v>(
    out: &mut Vec<u8>,
    items: impl Iterator<Item = &'v Value>,
    tensors: &mut Vec<&'v Tensor>,
) -> std::result::Result<(), String> {
    for item in items {
        write_value(out, item, tensors)?;
    }
    Ok(())
}

/// Pickles `v` (protocol 2 opcodes, plus protocol 3's BINBYTES for bytes); tensors become
/// `_rebuild_tensor_v2` calls on persistent storages numbered in order of appearance.
fn write_value<'v>(
    out: &mut Vec<u8>,
    v: &'v Value,
    tensors: &mut Vec<&'v Tensor>,
) -> std::result::Result<(), String> {
    match v {
        Value::None => out.push(b'N'),
        Value::Bool(b) => out.push(if *b { 0x88 } else { 0x89 }),
        Value::Int(i) => write_int(out, *i),
        Value::Float(f) => {
            out.push(b'G');
            out.extend_from_slice(&f.to_be_bytes());
        }
        Value::Str(s) => write_str(out, s)?,
        Value::Bytes(b) => {
            let n = u32::try_from(b.len()).map_err(|_| "bytes longer than 4 GiB".to_string())?;
            out.push(b'B');
            out.extend_from_slice(&n.to_le_bytes());
            out.extend_from_slice(b);
        }
        Value::List(items) => {
            out.extend_from_slice(b"](");
            write_items(out, items.iter(), tensors)?;
            out.push(b'e');
        }
        Value::Tuple(items) => {
            out.push(b'(');
            write_items(out, items.iter(), tensors)?;
            out.push(b't');
        }
        Value::Dict(items) => {
            out.extend_from_slice(b"}(");
            write_items(out, items.iter().flat_map(|(k, v)| [k, v]), tensors)?;
            out.push(b'u');
        }
        Value::Tensor(t) => {
            if t.data.len() != t.numel() * t.dtype.size() {
                return Err(format!(
                    "a tensor of shape {:?} and dtype {:?} holds {} bytes",
                    t.shape,
                    t.dtype,
                    t.data.len()
                ));
            }
            let key = tensors.len();
            tensors.push(t);
            out.extend_from_slice(b"ctorch._utils\n_rebuild_tensor_v2\n(");
            // persistent id ('storage', torch.<Class>Storage, key, 'cpu', numel)
            out.push(b'(');
            write_str(out, "storage")?;
            out.extend_from_slice(format!("ctorch\n{}\n", t.dtype.storage_class()).as_bytes());
            write_str(out, &key.to_string())?;
            write_str(out, "cpu")?;
            write_int(out, t.numel() as i64);
            out.extend_from_slice(b"tQ");
            write_int(out, 0);
            out.push(b'(');
            for &d in &t.shape {
                write_int(out, d as i64);
            }
            out.extend_from_slice(b"t(");
            let mut stride = vec![1usize; t.shape.len()];
            for k in (0..t.shape.len().saturating_sub(1)).rev() {
                stride[k] = stride[k + 1] * t.shape[k + 1];
            }
            for s in stride {
                write_int(out, s as i64);
            }
            out.push(b't');
            out.push(0x89); // requires_grad
            out.extend_from_slice(b"ccollections\nOrderedDict\n)R"); // backward hooks
            out.extend_from_slice(b"tR");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::materialize::{materialize, NoStorages};
    use crate::vm::unpickle;

    #[test]
    fn plain_values_round_trip_through_the_reader() {
        let v = Value::Dict(vec![
            (
                Value::Str("a".into()),
                Value::List(vec![Value::Int(-1), Value::Int(300), Value::Int(1 << 40)]),
            ),
            (
                Value::Int(70000),
                Value::Tuple(vec![Value::Float(0.5), Value::None, Value::Bool(true)]),
            ),
            (Value::Str("b".into()), Value::Bytes(vec![0, 255])),
            (Value::Str("e".into()), Value::Tuple(vec![])),
        ]);
        let mut pkl = vec![0x80, 2];
        write_value(&mut pkl, &v, &mut Vec::new()).unwrap();
        pkl.push(b'.');
        let back = unpickle(&pkl, 0, "test").unwrap();
        assert_eq!(
            materialize(&back.obj, &mut NoStorages, 1 << 20, "test").unwrap(),
            v
        );
    }

    #[test]
    fn inconsistent_tensor_is_refused() {
        let t = Tensor {
            dtype: crate::DType::F32,
            shape: vec![2],
            data: vec![0; 4],
        };
        assert!(torch_zip_bytes(&Value::Tensor(t))
            .unwrap_err()
            .contains("holds 4 bytes"));
    }
}
