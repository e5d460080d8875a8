//! From the VM's objects to [`Value`]s: storages fetched from a [`StorageSource`], tensors
//! copied out, under a byte budget bounded by the input size so that a hostile file cannot make
//! us allocate absurd amounts.

use std::rc::Rc;

use crate::error::{Error, Result};
use crate::object::{Obj, StorageRef, TensorSpec, MAX_DEPTH};
use crate::value::{Tensor, Value};

/// Provides the raw little-endian bytes of a storage, `numel * dtype.size()` long.
pub(crate) trait StorageSource {
    fn bytes(&mut self, storage: &StorageRef) -> Result<Rc<[u8]>>;
}

/// For plain pickles: a persistent id there is an error.
pub(crate) struct NoStorages;

impl StorageSource for NoStorages {
    fn bytes(&mut self, storage: &StorageRef) -> Result<Rc<[u8]>> {
        Err(Error::Shape(format!(
            "storage `{}` is referenced but this is a plain pickle, not a torch checkpoint; load it with load_torch",
            storage.key
        )))
    }
}

/// Converts the VM's result to a [`Value`], fetching storages and copying tensors out.
/// `budget` caps the bytes and nodes produced (shared sub-objects are copied each time they
/// are referenced, so a small hostile pickle could otherwise expand exponentially).
pub(crate) fn materialize(
    o: &Obj,
    src: &mut dyn StorageSource,
    budget: usize,
    file: &str,
) -> Result<Value> {
    let mut m = Materializer { src, budget, file };
    m.value(o, 0)
}

struct Materializer<'a> {
    src: &'a mut dyn StorageSource,
    budget: usize,
    file: &'a str,
}

impl Materializer<'_> {
    fn spend(&mut self, n: usize) -> Result<()> {
        self.budget = self.budget.checked_sub(n.saturating_add(1)).ok_or_else(|| Error::Limit {
            file: self.file.to_string(),
            msg: "the decoded value is far larger than the file (shared references expanded too often)".into(),
        })?;
        Ok(())
    }

    fn value(&mut self, o: &Obj, depth: usize) -> Result<Value> {
        if depth > MAX_DEPTH {
            return Err(Error::Limit {
                file: self.file.to_string(),
                msg: format!(
                    "containers nest deeper than {MAX_DEPTH} levels (or refer to themselves)"
                ),
            });
        }
        let d = depth + 1;
        Ok(match o {
            Obj::None => Value::None,
            Obj::Bool(b) => Value::Bool(*b),
            Obj::Int(i) => Value::Int(*i),
            Obj::Float(f) => Value::Float(*f),
            Obj::Str(s) => {
                self.spend(s.len())?;
                Value::Str(s.to_string())
            }
            Obj::Bytes(b) => {
                self.spend(b.len())?;
                Value::Bytes(b.to_vec())
            }
            Obj::List(l) | Obj::Set(l) => Value::List(self.values(&l.borrow(), d)?),
            Obj::Tuple(t) => Value::Tuple(self.values(t, d)?),
            Obj::Dict(dict) => {
                let dict = dict.borrow();
                let mut out = Vec::with_capacity(dict.items.len());
                for (k, v) in &dict.items {
                    self.spend(1)?;
                    out.push((self.value(k, d)?, self.value(v, d)?));
                }
                Value::Dict(out)
            }
            Obj::Global(g) => Value::Str(g.name()),
            Obj::Storage(s) => self.tensor(&TensorSpec::new(s.clone(), vec![s.numel], vec![1]))?,
            Obj::Tensor(t) => self.tensor(t)?,
            Obj::Array(t) => {
                self.spend(t.data.len())?;
                Value::Tensor(Tensor::clone(t))
            }
            Obj::NpDtype(d) => Value::Str(d.borrow().descr.clone()),
            Obj::NpPending(a) => match &*a.borrow() {
                Some(o) => self.value(o, d)?,
                None => {
                    return Err(Error::Shape(format!(
                    "{}: a numpy array never received its contents (no BUILD); the file is corrupt",
                    self.file
                )))
                }
            },
        })
    }

    fn values(&mut self, items: &[Obj], depth: usize) -> Result<Vec<Value>> {
        self.spend(items.len())?;
        items.iter().map(|o| self.value(o, depth)).collect()
    }

    fn tensor(&mut self, spec: &TensorSpec) -> Result<Value> {
        let es = spec.storage.dtype.size();
        self.spend(spec.numel().saturating_mul(es))?;
        let bytes = self.src.bytes(&spec.storage)?;
        let need = spec.storage.numel.saturating_mul(es);
        if bytes.len() < need {
            return Err(Error::Storage {
                file: self.file.to_string(),
                key: spec.storage.key.clone(),
                msg: format!(
                    "holds {} bytes but {need} are needed; the checkpoint is truncated",
                    bytes.len()
                ),
            });
        }
        Ok(Value::Tensor(Tensor {
            dtype: spec.storage.dtype,
            shape: spec.size.clone(),
            data: spec.gather(&bytes),
        }))
    }
}
