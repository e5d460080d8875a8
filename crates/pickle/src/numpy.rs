//! numpy arrays and scalars inside plain pickles (the official ImageNet-CoG files hold 1-D string
//! arrays). numpy's reconstructors are replayed here from their documented state layout; nothing of
//! numpy is imported or run. Numeric arrays become [`Tensor`]s, string and object arrays flat
//! lists, scalars plain numbers.

use std::cell::RefCell;
use std::rc::Rc;

use crate::object::{NpDtype, Obj, StorageRef, TensorSpec};
use crate::value::{DType, Tensor};

/// `numpy.dtype(descr, align, copy)`.
pub(crate) fn dtype(args: &[Obj]) -> Result<Obj, String> {
    match args.first() {
        Some(Obj::Str(d)) => Ok(Obj::NpDtype(Rc::new(RefCell::new(NpDtype {
            descr: d.to_string(),
            order: '=',
        })))),
        _ => Err("numpy.dtype without a type string".into()),
    }
}

/// BUILD on a dtype: state `(version, byteorder, subarray, names, fields, elsize, alignment, flags)`.
pub(crate) fn build_dtype(d: &RefCell<NpDtype>, state: &Obj) -> Result<(), String> {
    let Obj::Tuple(s) = state else {
        return Err("numpy dtype state is not a tuple".into());
    };
    match s.get(1) {
        Some(Obj::Str(o)) if o.len() == 1 => d.borrow_mut().order = o.chars().next().unwrap_or('='),
        _ => return Err("numpy dtype state without a byte order".into()),
    }
    if s.get(3).is_some_and(|names| !matches!(names, Obj::None)) {
        return Err("structured numpy dtypes (with fields) are not read".into());
    }
    Ok(())
}

/// BUILD on an ndarray made by `_reconstruct`: state `(version, shape, dtype, is_fortran, data)`.
pub(crate) fn build_array(state: &Obj) -> Result<Obj, String> {
    let Obj::Tuple(s) = state else {
        return Err("ndarray state is not a tuple".into());
    };
    let [_, shape, Obj::NpDtype(d), fortran, data] = &s[..] else {
        return Err("ndarray state is not (version, shape, dtype, is_fortran, data)".into());
    };
    let fortran = matches!(fortran, Obj::Bool(true) | Obj::Int(1));
    decode(&d.borrow(), &dims(shape)?, fortran, data)
}

/// `numpy._core.numeric._frombuffer(buffer, dtype, shape, order)` (protocol 5).
pub(crate) fn frombuffer(args: &[Obj]) -> Result<Obj, String> {
    let [data, Obj::NpDtype(d), shape, Obj::Str(order)] = args else {
        return Err("_frombuffer arguments are not (buffer, dtype, shape, order)".into());
    };
    decode(&d.borrow(), &dims(shape)?, &**order == "F", data)
}

/// `numpy._core.multiarray.scalar(dtype, bytes)`: a numpy scalar as a plain number or string.
pub(crate) fn scalar(args: &[Obj]) -> Result<Obj, String> {
    let [Obj::NpDtype(d), data] = args else {
        return Err("numpy scalar arguments are not (dtype, bytes)".into());
    };
    let d = d.borrow();
    if d.descr.starts_with('O') {
        return Err("object numpy scalars are not read".into());
    }
    match decode(&d, &[], false, data)? {
        Obj::Array(t) => {
            let b = &t.data;
            Ok(match t.dtype {
                DType::F64 => Obj::Float(f64::from_le_bytes(
                    b[..8].try_into().map_err(|_| "short scalar")?,
                )),
                DType::F32 | DType::F16 | DType::BF16 => {
                    Obj::Float(f64::from(t.to_f32_vec().map_err(|e| e.to_string())?[0]))
                }
                DType::Bool => Obj::Bool(b[0] != 0),
                _ => Obj::Int(t.to_i64_vec().map_err(|e| e.to_string())?[0]),
            })
        }
        Obj::List(items) => items
            .borrow()
            .first()
            .cloned()
            .ok_or_else(|| "empty scalar".into()),
        other => Ok(other),
    }
}

fn dims(shape: &Obj) -> Result<Vec<usize>, String> {
    let Obj::Tuple(t) = shape else {
        return Err("ndarray shape is not a tuple".into());
    };
    t.iter()
        .map(|d| match d {
            Obj::Int(i) => usize::try_from(*i).map_err(|_| format!("negative dimension {i}")),
            _ => Err("ndarray dimension is not an int".into()),
        })
        .collect()
}

/// The array's elements from its raw buffer (or object list), checked against its shape.
fn decode(d: &NpDtype, shape: &[usize], fortran: bool, data: &Obj) -> Result<Obj, String> {
    let numel = shape
        .iter()
        .try_fold(1usize, |a, &x| a.checked_mul(x))
        .ok_or("ndarray element count overflows")?;
    let descr = d.descr.trim_start_matches(['<', '>', '|', '=']);
    let big = d.order == '>' || d.descr.starts_with('>');
    let (kind, width) = descr.split_at(descr.len().min(1));
    let width: usize = width
        .parse()
        .map_err(|_| format!("unsupported numpy dtype `{}`", d.descr))?;
    if kind == "O" {
        let items = match data {
            Obj::List(l) => l.borrow().to_vec(),
            Obj::Tuple(t) => t.to_vec(),
            _ => return Err("object array without its item list".into()),
        };
        if items.len() != numel {
            return Err(format!(
                "object array of shape {shape:?} has {} items",
                items.len()
            ));
        }
        return Ok(Obj::list(items));
    }
    let Obj::Bytes(raw) = data else {
        return Err(format!("ndarray data of dtype `{}` is not bytes", d.descr));
    };
    let item = match kind {
        "U" => width.checked_mul(4).ok_or("string width overflows")?,
        _ => width,
    };
    if Some(raw.len()) != numel.checked_mul(item) {
        return Err(format!(
            "ndarray of shape {shape:?} and dtype `{}` has {} data bytes",
            d.descr,
            raw.len()
        ));
    }
    if matches!(kind, "U" | "S") {
        if fortran && shape.len() > 1 {
            return Err("Fortran-ordered string arrays are not read".into());
        }
        let items = raw.chunks(item.max(1)).take(numel).map(|c| {
            if kind == "S" {
                let end = c.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
                return Ok(Obj::Bytes(c[..end].into()));
            }
            let s: Option<String> = c
                .chunks_exact(4)
                .map(|b| {
                    let b = [b[0], b[1], b[2], b[3]];
                    if big {
                        u32::from_be_bytes(b)
                    } else {
                        u32::from_le_bytes(b)
                    }
                })
                .take_while(|&u| u != 0)
                .map(char::from_u32)
                .collect();
            s.map(|s| Obj::Str(s.into()))
                .ok_or_else(|| "invalid code point in a numpy string".to_string())
        });
        return Ok(Obj::list(items.collect::<Result<_, _>>()?));
    }
    let dtype = match (kind, width) {
        ("f", 4) => DType::F32,
        ("f", 8) => DType::F64,
        ("f", 2) => DType::F16,
        ("i", 8) => DType::I64,
        ("i", 4) => DType::I32,
        ("i", 2) => DType::I16,
        ("i", 1) => DType::I8,
        ("u", 1) => DType::U8,
        ("b", 1) => DType::Bool,
        _ => {
            return Err(format!(
                "numpy dtype `{}` is not read (no matching tensor dtype)",
                d.descr
            ))
        }
    };
    let mut bytes = raw.to_vec();
    if big {
        bytes.chunks_mut(width).for_each(<[u8]>::reverse);
    }
    if fortran && shape.len() > 1 {
        let mut stride = vec![1usize; shape.len()];
        for k in 1..shape.len() {
            stride[k] = stride[k - 1] * shape[k - 1];
        }
        let storage = Rc::new(StorageRef {
            key: "ndarray".into(),
            dtype,
            numel,
            view: None,
        });
        bytes = TensorSpec::new(storage, shape.to_vec(), stride).gather(&bytes);
    }
    Ok(Obj::Array(Rc::new(Tensor {
        dtype,
        shape: shape.to_vec(),
        data: bytes,
    })))
}
