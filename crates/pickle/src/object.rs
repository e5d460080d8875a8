//! The unpickler's object model: what the VM's stack and memo hold ([`Obj`]), the closed
//! whitelist of Python globals ([`Global`]), torch storages and tensor views kept symbolic
//! until materialization ([`StorageRef`], [`TensorSpec`]), and numpy dtypes ([`NpDtype`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::value::{DType, Tensor};

/// Containers nested deeper than this are an error (or, as dict keys, unhashable).
pub(crate) const MAX_DEPTH: usize = 200;

/// A storage named by a persistent id; its bytes are fetched at materialization time.
#[derive(Debug)]
pub(crate) struct StorageRef {
    pub key: String,
    pub dtype: DType,
    pub numel: usize,
    /// Legacy format only: (root key, element offset, element count) of a storage view.
    pub view: Option<(String, usize, usize)>,
}

/// A tensor as `_rebuild_tensor_v2` describes it, checked against its storage's length.
#[derive(Debug)]
pub(crate) struct TensorSpec {
    pub(crate) storage: Rc<StorageRef>,
    pub(crate) offset: usize,
    pub(crate) size: Vec<usize>,
    pub(crate) stride: Vec<usize>,
}

impl TensorSpec {
    pub(crate) fn new(storage: Rc<StorageRef>, size: Vec<usize>, stride: Vec<usize>) -> TensorSpec {
        TensorSpec {
            storage,
            offset: 0,
            size,
            stride,
        }
    }

    /// Checks that every element lies inside the storage (and the element count fits in memory).
    pub(crate) fn check(&self) -> std::result::Result<(), String> {
        if self.size.len() != self.stride.len() {
            return Err(format!(
                "size {:?} and stride {:?} differ in rank",
                self.size, self.stride
            ));
        }
        let numel = self
            .size
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or("element count overflows")?;
        if numel == 0 {
            return Ok(());
        }
        let last = self
            .size
            .iter()
            .zip(&self.stride)
            .try_fold(self.offset, |a, (&d, &s)| {
                a.checked_add((d - 1).checked_mul(s)?)
            })
            .ok_or("storage index overflows")?;
        if last >= self.storage.numel {
            return Err(format!(
                "offset {} size {:?} stride {:?} reaches element {last} of a storage of {} elements",
                self.offset, self.size, self.stride, self.storage.numel
            ));
        }
        Ok(())
    }

    pub(crate) fn numel(&self) -> usize {
        self.size.iter().product()
    }

    /// Copies the elements out in C order.
    pub(crate) fn gather(&self, bytes: &[u8]) -> Vec<u8> {
        let es = self.storage.dtype.size();
        let numel = self.numel();
        let mut out = Vec::with_capacity(numel * es);
        if numel == 0 {
            return out;
        }
        let contiguous = {
            let mut expect = 1;
            let mut ok = true;
            for (&d, &s) in self.size.iter().zip(&self.stride).rev() {
                ok &= d == 1 || s == expect;
                expect *= d;
            }
            ok
        };
        if contiguous {
            out.extend_from_slice(&bytes[self.offset * es..(self.offset + numel) * es]);
            return out;
        }
        let rank = self.size.len();
        let mut idx = vec![0usize; rank];
        let mut pos = self.offset;
        for _ in 0..numel {
            out.extend_from_slice(&bytes[pos * es..(pos + 1) * es]);
            for k in (0..rank).rev() {
                idx[k] += 1;
                pos += self.stride[k];
                if idx[k] < self.size[k] {
                    break;
                }
                pos -= self.stride[k] * self.size[k];
                idx[k] = 0;
            }
        }
        out
    }
}

/// The only Python globals a pickle may reference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Global {
    RebuildTensorV2,
    RebuildTensor,
    RebuildParameter,
    RebuildParameterWithState,
    StorageClass(DType),
    OrderedDict,
    /// `argparse.Namespace`: the training arguments that checkpoints often carry (`args`).
    Namespace,
    TorchSize,
    Set,
    FrozenSet,
    CodecsEncode,
    Bytes,
    Bytearray,
    TorchDtype(DType),
    NpReconstruct,
    NpNdarray,
    NpDtype,
    NpScalar,
    NpFrombuffer,
}

impl Global {
    pub(crate) fn resolve(module: &str, name: &str) -> Option<Global> {
        let builtins = matches!(module, "builtins" | "__builtin__");
        Some(match (module, name) {
            ("torch._utils", "_rebuild_tensor_v2") => Global::RebuildTensorV2,
            ("torch._utils", "_rebuild_tensor") => Global::RebuildTensor,
            ("torch._utils", "_rebuild_parameter") => Global::RebuildParameter,
            ("torch._utils", "_rebuild_parameter_with_state") => Global::RebuildParameterWithState,
            ("torch" | "torch.storage", n) if DType::from_storage_class(n).is_some() => {
                Global::StorageClass(DType::from_storage_class(n)?)
            }
            ("torch", n) => Global::TorchDtype(match n {
                "float32" | "float" => DType::F32,
                "float64" | "double" => DType::F64,
                "float16" | "half" => DType::F16,
                "bfloat16" => DType::BF16,
                "int64" | "long" => DType::I64,
                "int32" | "int" => DType::I32,
                "int16" | "short" => DType::I16,
                "int8" => DType::I8,
                "uint8" => DType::U8,
                "bool" => DType::Bool,
                "Size" => return Some(Global::TorchSize),
                _ => return None,
            }),
            ("collections", "OrderedDict") => Global::OrderedDict,
            ("argparse", "Namespace") => Global::Namespace,
            (_, "set") if builtins => Global::Set,
            (_, "frozenset") if builtins => Global::FrozenSet,
            (_, "bytes") if builtins => Global::Bytes,
            (_, "bytearray") if builtins => Global::Bytearray,
            ("_codecs", "encode") => Global::CodecsEncode,
            ("numpy.core.multiarray" | "numpy._core.multiarray", "_reconstruct") => {
                Global::NpReconstruct
            }
            ("numpy.core.multiarray" | "numpy._core.multiarray", "scalar") => Global::NpScalar,
            ("numpy.core.numeric" | "numpy._core.numeric", "_frombuffer") => Global::NpFrombuffer,
            ("numpy", "ndarray") => Global::NpNdarray,
            ("numpy", "dtype") => Global::NpDtype,
            _ => return None,
        })
    }

    pub(crate) fn name(self) -> String {
        match self {
            Global::RebuildTensorV2 => "torch._utils._rebuild_tensor_v2".into(),
            Global::RebuildTensor => "torch._utils._rebuild_tensor".into(),
            Global::RebuildParameter => "torch._utils._rebuild_parameter".into(),
            Global::RebuildParameterWithState => {
                "torch._utils._rebuild_parameter_with_state".into()
            }
            Global::StorageClass(d) => format!("torch.{}", d.storage_class()),
            Global::OrderedDict => "collections.OrderedDict".into(),
            Global::Namespace => "argparse.Namespace".into(),
            Global::TorchSize => "torch.Size".into(),
            Global::Set => "builtins.set".into(),
            Global::FrozenSet => "builtins.frozenset".into(),
            Global::CodecsEncode => "_codecs.encode".into(),
            Global::Bytes => "builtins.bytes".into(),
            Global::Bytearray => "builtins.bytearray".into(),
            Global::TorchDtype(d) => format!("torch.{}", format!("{d:?}").to_lowercase()),
            Global::NpReconstruct => "numpy.core.multiarray._reconstruct".into(),
            Global::NpNdarray => "numpy.ndarray".into(),
            Global::NpDtype => "numpy.dtype".into(),
            Global::NpScalar => "numpy.core.multiarray.scalar".into(),
            Global::NpFrombuffer => "numpy.core.numeric._frombuffer".into(),
        }
    }
}

/// A `numpy.dtype` under construction: its type string (`U27`, `f4`, `O8`) and, once BUILD has
/// run, its byte order (`<`, `>`, `|`, `=`).
#[derive(Debug, Clone)]
pub(crate) struct NpDtype {
    pub descr: String,
    pub order: char,
}

/// A dict with a hash index over its hashable keys, so that SETITEM overwrites like Python's.
#[derive(Debug, Default)]
pub(crate) struct DictObj {
    pub(crate) items: Vec<(Obj, Obj)>,
    index: HashMap<Key, usize>,
    /// An `argparse.Namespace`, whose attributes (set by BUILD) are its items; an OrderedDict's
    /// attributes (a state_dict's `_metadata`) are not part of the data.
    pub(crate) attributes_are_items: bool,
}

impl DictObj {
    pub(crate) fn insert(&mut self, k: Obj, v: Obj) {
        match k.key() {
            Some(key) => match self.index.get(&key) {
                Some(&i) => self.items[i].1 = v,
                None => {
                    self.index.insert(key, self.items.len());
                    self.items.push((k, v));
                }
            },
            None => self.items.push((k, v)),
        }
    }
}

/// The hashable part of a key (`1`, `1.0` and `True` are the same key, as in Python).
#[derive(Debug, PartialEq, Eq, Hash)]
enum Key {
    None,
    Int(i64),
    Float(u64),
    Str(Rc<str>),
    Bytes(Rc<[u8]>),
    Tuple(Vec<Key>),
}

/// The items of a list, tuple or set. Dropping is iterative (see [`dismantle`]): a small pickle can
/// nest containers a million levels deep, and a recursive drop would overflow the stack.
#[derive(Debug, Default)]
pub(crate) struct Items(Vec<Obj>);

impl std::ops::Deref for Items {
    type Target = Vec<Obj>;
    fn deref(&self) -> &Vec<Obj> {
        &self.0
    }
}

impl std::ops::DerefMut for Items {
    fn deref_mut(&mut self) -> &mut Vec<Obj> {
        &mut self.0
    }
}

impl Drop for Items {
    fn drop(&mut self) {
        dismantle(std::mem::take(&mut self.0));
    }
}

impl Drop for DictObj {
    fn drop(&mut self) {
        dismantle(
            std::mem::take(&mut self.items)
                .into_iter()
                .flat_map(|(k, v)| [k, v])
                .collect(),
        );
    }
}

/// Drops a tree of objects without recursion: the contents of every container we hold the last
/// reference to are moved onto a work list first, so each container is empty when it drops.
fn dismantle(mut work: Vec<Obj>) {
    while let Some(o) = work.pop() {
        match o {
            Obj::List(rc) | Obj::Set(rc) => {
                if let Ok(cell) = Rc::try_unwrap(rc) {
                    work.append(&mut cell.into_inner().0);
                }
            }
            Obj::Tuple(rc) => {
                if let Ok(mut items) = Rc::try_unwrap(rc) {
                    work.append(&mut items.0);
                }
            }
            Obj::NpPending(rc) => {
                if let Ok(cell) = Rc::try_unwrap(rc) {
                    work.extend(cell.into_inner());
                }
            }
            Obj::Dict(rc) => {
                if let Ok(cell) = Rc::try_unwrap(rc) {
                    let mut d = cell.into_inner();
                    work.extend(
                        std::mem::take(&mut d.items)
                            .into_iter()
                            .flat_map(|(k, v)| [k, v]),
                    );
                }
            }
            _ => {}
        }
    }
}

/// A value on the VM's stack. Lists and dicts are shared (`Rc<RefCell>`) because pickle memoizes
/// a container before filling it.
#[derive(Debug, Clone)]
pub(crate) enum Obj {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Rc<str>),
    Bytes(Rc<[u8]>),
    List(Rc<RefCell<Items>>),
    Tuple(Rc<Items>),
    Dict(Rc<RefCell<DictObj>>),
    Set(Rc<RefCell<Items>>),
    Global(Global),
    Storage(Rc<StorageRef>),
    Tensor(Rc<TensorSpec>),
    /// A decoded numpy array.
    Array(Rc<Tensor>),
    NpDtype(Rc<RefCell<NpDtype>>),
    /// An ndarray between `_reconstruct` and its BUILD (`None` until then).
    NpPending(Rc<RefCell<Option<Obj>>>),
}

impl Obj {
    pub(crate) fn tuple(items: Vec<Obj>) -> Obj {
        Obj::Tuple(Rc::new(Items(items)))
    }

    pub(crate) fn list(items: Vec<Obj>) -> Obj {
        Obj::List(Rc::new(RefCell::new(Items(items))))
    }

    pub(crate) fn set(items: Vec<Obj>) -> Obj {
        Obj::Set(Rc::new(RefCell::new(Items(items))))
    }

    /// The dict key of a hashable object; tuples nested deeper than [`MAX_DEPTH`] are treated as
    /// unhashable (no duplicate detection) rather than recursed into.
    fn key(&self) -> Option<Key> {
        self.key_at(0)
    }

    fn key_at(&self, depth: usize) -> Option<Key> {
        Some(match self {
            Obj::None => Key::None,
            Obj::Bool(b) => Key::Int(i64::from(*b)),
            Obj::Int(i) => Key::Int(*i),
            Obj::Float(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Key::Int(*f as i64),
            Obj::Float(f) => Key::Float(f.to_bits()),
            Obj::Str(s) => Key::Str(s.clone()),
            Obj::Bytes(b) => Key::Bytes(b.clone()),
            Obj::Tuple(t) if depth < MAX_DEPTH => Key::Tuple(
                t.iter()
                    .map(|o| o.key_at(depth + 1))
                    .collect::<Option<_>>()?,
            ),
            _ => return None,
        })
    }

    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Obj::None => "None",
            Obj::Bool(_) => "bool",
            Obj::Int(_) => "int",
            Obj::Float(_) => "float",
            Obj::Str(_) => "str",
            Obj::Bytes(_) => "bytes",
            Obj::List(_) => "list",
            Obj::Tuple(_) => "tuple",
            Obj::Dict(_) => "dict",
            Obj::Set(_) => "set",
            Obj::Global(_) => "global",
            Obj::Storage(_) => "storage",
            Obj::Tensor(_) | Obj::Array(_) => "tensor",
            Obj::NpDtype(_) => "numpy dtype",
            Obj::NpPending(_) => "numpy array",
        }
    }

    /// The items of a tuple or a list (copied out).
    pub(crate) fn items(&self) -> Option<Vec<Obj>> {
        match self {
            Obj::Tuple(t) => Some(t.to_vec()),
            Obj::List(l) => Some(l.borrow().to_vec()),
            _ => None,
        }
    }

    pub(crate) fn usize(&self) -> Option<usize> {
        match self {
            Obj::Int(i) => usize::try_from(*i).ok(),
            Obj::Bool(b) => Some(usize::from(*b)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strided_gather_matches_manual_transpose() {
        let storage = Rc::new(StorageRef {
            key: "0".into(),
            dtype: DType::U8,
            numel: 7,
            view: None,
        });
        // a 2x3 matrix at offset 1 viewed transposed: element (i, j) = storage[1 + i + 3j]... as 3x2
        let spec = TensorSpec {
            storage,
            offset: 1,
            size: vec![3, 2],
            stride: vec![1, 3],
        };
        spec.check().unwrap();
        assert_eq!(spec.gather(&[0, 1, 2, 3, 4, 5, 6]), vec![1, 4, 2, 5, 3, 6]);
    }
}
