//! The decoded data model: [`Value`] (Python containers and scalars) and [`Tensor`] (a materialized,
//! contiguous torch tensor).

use crate::error::{Error, Result};

/// A Python value as read from a pickle. Sets and frozensets become `List`, `OrderedDict` becomes
/// `Dict` (insertion order kept), `torch.Size` becomes `Tuple`, a whitelisted global such as
/// `torch.float32` becomes `Str("torch.float32")`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An `int` (i64 range).
    Int(i64),
    /// A `float`.
    Float(f64),
    /// A `str`.
    Str(String),
    /// `bytes` / `bytearray`.
    Bytes(Vec<u8>),
    /// A `list`, `set` or `frozenset`.
    List(Vec<Value>),
    /// A `tuple` or `torch.Size`.
    Tuple(Vec<Value>),
    /// A `dict` or `OrderedDict`, in insertion order.
    Dict(Vec<(Value, Value)>),
    /// A torch tensor or numeric numpy array.
    Tensor(Tensor),
}

impl Value {
    /// Dict lookup by string key (first match; pickled dicts have unique keys).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_dict()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// The text of a `Str`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The items of a `List` or a `Tuple`.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(v) | Value::Tuple(v) => Some(v),
            _ => None,
        }
    }

    /// The `(key, value)` pairs of a `Dict`.
    pub fn as_dict(&self) -> Option<&[(Value, Value)]> {
        match self {
            Value::Dict(v) => Some(v),
            _ => None,
        }
    }

    /// The tensor of a `Tensor`.
    pub fn as_tensor(&self) -> Option<&Tensor> {
        match self {
            Value::Tensor(t) => Some(t),
            _ => None,
        }
    }

    /// An `Int`, or a `Bool` as 0/1 (Python's `bool` is an `int`).
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(i64::from(*b)),
            _ => None,
        }
    }

    /// A `Float`, or an `Int` converted (Python accepts ints where floats are expected).
    pub fn as_float(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }

    /// Every tensor inside this value with its dotted path, in order: dict entries under their
    /// key (`str`, or an `int` in decimal, as optimizer states are keyed), list and tuple items
    /// under their index; other values hold no tensors. A `torch.save` of a state dict gives its
    /// keys; a training checkpoint gives `state_dict.module.conv1.weight`,
    /// `optimizer.state.0.momentum_buffer`, ... (which part is the model is for the caller to
    /// decide).
    pub fn named_tensors(&self) -> Vec<(String, &Tensor)> {
        let mut out = Vec::new();
        let mut work = vec![(String::new(), self)];
        while let Some((path, v)) = work.pop() {
            let join = |name: &dyn std::fmt::Display| {
                if path.is_empty() {
                    name.to_string()
                } else {
                    format!("{path}.{name}")
                }
            };
            // Children are pushed in reverse so that they are visited in order.
            match v {
                Value::Tensor(t) => out.push((path, t)),
                Value::Dict(items) => {
                    for (k, child) in items.iter().rev() {
                        match k {
                            Value::Str(s) => work.push((join(s), child)),
                            Value::Int(i) => work.push((join(i), child)),
                            _ => {}
                        }
                    }
                }
                Value::List(items) | Value::Tuple(items) => {
                    for (i, child) in items.iter().enumerate().rev() {
                        work.push((join(&i), child));
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// The Python-ish type name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::List(_) => "list",
            Value::Tuple(_) => "tuple",
            Value::Dict(_) => "dict",
            Value::Tensor(_) => "tensor",
        }
    }
}

/// The element types of the torch storages we read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    /// `torch.float32`.
    F32,
    /// `torch.float64`.
    F64,
    /// `torch.float16`.
    F16,
    /// `torch.bfloat16`.
    BF16,
    /// `torch.int64`.
    I64,
    /// `torch.int32`.
    I32,
    /// `torch.int16`.
    I16,
    /// `torch.int8`.
    I8,
    /// `torch.uint8`.
    U8,
    /// `torch.bool` (one byte per element).
    Bool,
}

impl DType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F64 | DType::I64 => 8,
            DType::F32 | DType::I32 => 4,
            DType::F16 | DType::BF16 | DType::I16 => 2,
            DType::I8 | DType::U8 | DType::Bool => 1,
        }
    }

    /// The legacy typed-storage class torch pickles for this dtype (`torch.FloatStorage`, ...).
    pub fn storage_class(self) -> &'static str {
        match self {
            DType::F32 => "FloatStorage",
            DType::F64 => "DoubleStorage",
            DType::F16 => "HalfStorage",
            DType::BF16 => "BFloat16Storage",
            DType::I64 => "LongStorage",
            DType::I32 => "IntStorage",
            DType::I16 => "ShortStorage",
            DType::I8 => "CharStorage",
            DType::U8 => "ByteStorage",
            DType::Bool => "BoolStorage",
        }
    }

    /// The dtype of a torch storage class name; `UntypedStorage` holds raw bytes.
    pub fn from_storage_class(name: &str) -> Option<DType> {
        const ALL: [DType; 10] = [
            DType::F32,
            DType::F64,
            DType::F16,
            DType::BF16,
            DType::I64,
            DType::I32,
            DType::I16,
            DType::I8,
            DType::U8,
            DType::Bool,
        ];
        if name == "UntypedStorage" {
            return Some(DType::U8);
        }
        ALL.into_iter().find(|d| d.storage_class() == name)
    }
}

/// A tensor with its data copied out of the storage: contiguous, C order, little-endian
/// (storage offset and strides are applied at load time, so `data.len() == numel * dtype.size()`).
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Element type.
    pub dtype: DType,
    /// Dimensions (empty for a scalar).
    pub shape: Vec<usize>,
    /// The elements, little-endian, `numel * dtype.size()` bytes.
    pub data: Vec<u8>,
}

impl Tensor {
    /// Number of elements (1 for a scalar with an empty shape).
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// The elements as f32; accepts the float dtypes (f64 is rounded, f16/bf16 widened exactly).
    pub fn to_f32_vec(&self) -> Result<Vec<f32>> {
        let chunks = self.data.chunks_exact(self.dtype.size());
        Ok(match self.dtype {
            DType::F32 => chunks
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            DType::F64 => chunks
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32)
                .collect(),
            DType::F16 => chunks
                .map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]])))
                .collect(),
            DType::BF16 => chunks
                .map(|c| f32::from_bits(u32::from(u16::from_le_bytes([c[0], c[1]])) << 16))
                .collect(),
            other => {
                return Err(Error::Shape(format!(
                    "a tensor of dtype {other:?} cannot be read as f32 (expected a float tensor)"
                )))
            }
        })
    }

    /// The elements as i64; accepts the integer dtypes and bool (as 0/1).
    pub fn to_i64_vec(&self) -> Result<Vec<i64>> {
        let chunks = self.data.chunks_exact(self.dtype.size());
        Ok(match self.dtype {
            DType::I64 => chunks
                .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect(),
            DType::I32 => chunks
                .map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
            DType::I16 => chunks
                .map(|c| i64::from(i16::from_le_bytes([c[0], c[1]])))
                .collect(),
            DType::I8 => self.data.iter().map(|&b| i64::from(b as i8)).collect(),
            DType::U8 => self.data.iter().map(|&b| i64::from(b)).collect(),
            DType::Bool => self.data.iter().map(|&b| i64::from(b != 0)).collect(),
            other => {
                return Err(Error::Shape(format!(
                    "a tensor of dtype {other:?} cannot be read as i64 (expected an integer tensor)"
                )))
            }
        })
    }

    /// An f32 tensor. # Panics if `shape` does not hold exactly `v.len()` elements (a caller bug).
    pub fn from_f32(shape: Vec<usize>, v: &[f32]) -> Tensor {
        Self::from_le(
            DType::F32,
            shape,
            v.len(),
            v.iter().flat_map(|x| x.to_le_bytes()),
        )
    }

    /// An i64 tensor. # Panics if `shape` does not hold exactly `v.len()` elements (a caller bug).
    pub fn from_i64(shape: Vec<usize>, v: &[i64]) -> Tensor {
        Self::from_le(
            DType::I64,
            shape,
            v.len(),
            v.iter().flat_map(|x| x.to_le_bytes()),
        )
    }

    fn from_le(
        dtype: DType,
        shape: Vec<usize>,
        n: usize,
        bytes: impl Iterator<Item = u8>,
    ) -> Tensor {
        assert_eq!(
            shape.iter().product::<usize>(),
            n,
            "Tensor shape {shape:?} does not hold {n} elements"
        );
        Tensor {
            dtype,
            shape,
            data: bytes.collect(),
        }
    }
}

/// IEEE half to single, exact (subnormals, infinities and NaN included).
fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let man = u32::from(h & 0x3ff);
    let bits = match (exp, man) {
        (0, 0) => sign,
        (0, m) => {
            // subnormal: value = m * 2^-24, normalize into an f32
            let shift = m.leading_zeros() - 21; // bring the top bit to position 10
            let m = (m << shift) & 0x3ff;
            sign | ((127 - 15 + 1 - shift) << 23) | (m << 13)
        }
        (0x1f, m) => sign | 0x7f80_0000 | (m << 13),
        (e, m) => sign | ((e + 127 - 15) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_conversion_matches_known_values() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x03ff), 1023.0 * 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(f16_to_f32(0x8000).to_bits(), 0x8000_0000);
    }

    #[test]
    fn round_trips_and_dtype_checks() {
        let t = Tensor::from_f32(vec![2, 2], &[1.0, -2.5, 3.0, 0.0]);
        assert_eq!(t.numel(), 4);
        assert_eq!(t.to_f32_vec().unwrap(), vec![1.0, -2.5, 3.0, 0.0]);
        assert!(t.to_i64_vec().is_err());
        let t = Tensor::from_i64(vec![3], &[-1, 0, i64::MAX]);
        assert_eq!(t.to_i64_vec().unwrap(), vec![-1, 0, i64::MAX]);
        assert!(t.to_f32_vec().is_err());
    }

    #[test]
    fn named_tensors_walk_dicts_and_lists_in_order() {
        let t = |x: f32| Value::Tensor(Tensor::from_f32(vec![1], &[x]));
        let v = Value::Dict(vec![
            (Value::Str("epoch".into()), Value::Int(3)),
            (
                Value::Str("state_dict".into()),
                Value::Dict(vec![
                    (Value::Str("module.b".into()), t(1.0)),
                    (Value::Str("module.a".into()), t(2.0)),
                ]),
            ),
            (
                Value::Str("optimizer".into()),
                Value::Dict(vec![(
                    Value::Str("state".into()),
                    Value::Dict(vec![(
                        Value::Int(0),
                        Value::List(vec![t(3.0), Value::None]),
                    )]),
                )]),
            ),
            (Value::Tuple(vec![]), t(4.0)), // a key that is not a name: skipped
        ]);
        let names: Vec<String> = v.named_tensors().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "state_dict.module.b",
                "state_dict.module.a",
                "optimizer.state.0.0"
            ]
        );
        assert_eq!(t(5.0).named_tensors()[0].0, "");
    }

    #[test]
    fn storage_class_names_round_trip() {
        for d in [DType::F32, DType::BF16, DType::Bool, DType::I8] {
            assert_eq!(DType::from_storage_class(d.storage_class()), Some(d));
        }
        assert_eq!(DType::from_storage_class("UntypedStorage"), Some(DType::U8));
        assert_eq!(DType::from_storage_class("Module"), None);
    }
}
