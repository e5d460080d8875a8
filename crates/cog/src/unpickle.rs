//! A minimal restricted unpickler for the two official ImageNet-CoG files (plain containers,
//! strings, numbers and 1-D numpy string/object arrays). It never imports or runs code: the only
//! globals it accepts are numpy's array and dtype reconstructors, and it rebuilds those itself.
//!
//! Interim: the workspace's general reader (`hiercog-pickle`) had not landed when this crate was
//! written; once it reads numpy string arrays, `official.rs` should switch to it and this module
//! go away.

use std::path::Path;

/// A Python value from a pickle.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    /// Key-value pairs in insertion order.
    Dict(Vec<(Value, Value)>),
    /// A 1-D numpy array of strings (unicode `<U`, bytes `S` or object dtype).
    StrArray(Vec<String>),
    /// One of the accepted globals (`module.name`), before it is called.
    Global(String),
    /// A numpy dtype, by its type string (`U27`, `O`, ...); the byte order comes with BUILD.
    Dtype(String),
    /// An ndarray under reconstruction (between `_reconstruct` and its BUILD).
    PendingArray,
    /// The MARK sentinel on the stack.
    Mark,
}

impl Value {
    /// Python type name, for error messages.
    pub(crate) fn type_name(&self) -> &'static str {
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
            Value::StrArray(_) => "numpy string array",
            Value::Global(_) | Value::Dtype(_) | Value::PendingArray | Value::Mark => "object",
        }
    }

    /// The string, for `str` values.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// `self[key]` for a dict with string keys.
    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// A list, tuple or array of strings.
    pub(crate) fn as_string_list(&self) -> Option<Vec<String>> {
        match self {
            Value::StrArray(v) => Some(v.clone()),
            Value::List(v) | Value::Tuple(v) => {
                v.iter().map(|x| x.as_str().map(str::to_string)).collect()
            }
            _ => None,
        }
    }
}

/// Reads and decodes a pickle file; the error says what was found where.
pub(crate) fn load(path: &Path) -> Result<Value, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
    Unpickler {
        data: &bytes,
        pos: 0,
        stack: Vec::new(),
        memo: Vec::new(),
    }
    .run()
}

struct Unpickler<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    memo: Vec<Value>,
}

impl Unpickler<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| {
                format!(
                    "truncated: needs {n} more bytes at offset {} of {}",
                    self.pos,
                    self.data.len()
                )
            })?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn uint(&mut self, n: usize) -> Result<usize, String> {
        let b = self.take(n)?;
        Ok(b.iter()
            .rev()
            .fold(0usize, |acc, &x| (acc << 8) | x as usize))
    }

    fn pop(&mut self) -> Result<Value, String> {
        self.stack
            .pop()
            .ok_or_else(|| format!("stack underflow at offset {}", self.pos))
    }

    /// Items above the topmost MARK (the mark removed).
    fn pop_mark(&mut self) -> Result<Vec<Value>, String> {
        let at = self
            .stack
            .iter()
            .rposition(|v| *v == Value::Mark)
            .ok_or("MARK expected but not found")?;
        let items = self.stack.split_off(at + 1);
        self.stack.pop();
        Ok(items)
    }

    fn top(&mut self) -> Result<&mut Value, String> {
        let pos = self.pos;
        self.stack
            .last_mut()
            .ok_or_else(|| format!("stack underflow at offset {pos}"))
    }

    fn text(&mut self, n: usize) -> Result<Value, String> {
        let b = self.take(n)?;
        String::from_utf8(b.to_vec())
            .map(Value::Str)
            .map_err(|e| format!("invalid UTF-8 string: {e}"))
    }

    fn memo_put(&mut self, i: usize) -> Result<(), String> {
        let v = self.top()?.clone();
        if self.memo.len() <= i {
            self.memo.resize(i + 1, Value::None);
        }
        self.memo[i] = v;
        Ok(())
    }

    fn memo_get(&mut self, i: usize) -> Result<(), String> {
        let v = self
            .memo
            .get(i)
            .cloned()
            .ok_or_else(|| format!("memo entry {i} read before it was written"))?;
        self.stack.push(v);
        Ok(())
    }

    fn run(mut self) -> Result<Value, String> {
        loop {
            let at = self.pos;
            let op = self.take(1)?[0];
            match op {
                0x80 => drop(self.take(1)?),   // PROTO
                0x95 => drop(self.take(8)?),   // FRAME
                b'.' => return self.pop(),     // STOP
                b'(' => self.stack.push(Value::Mark),
                b'}' => self.stack.push(Value::Dict(Vec::new())),
                b']' => self.stack.push(Value::List(Vec::new())),
                b')' => self.stack.push(Value::Tuple(Vec::new())),
                b'N' => self.stack.push(Value::None),
                0x88 => self.stack.push(Value::Bool(true)),
                0x89 => self.stack.push(Value::Bool(false)),
                b'J' => {
                    let v = i32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes"));
                    self.stack.push(Value::Int(v.into()));
                }
                b'K' => {
                    let v = self.uint(1)?;
                    self.stack.push(Value::Int(v as i64));
                }
                b'M' => {
                    let v = self.uint(2)?;
                    self.stack.push(Value::Int(v as i64));
                }
                0x8a => {
                    // LONG1: little-endian two's complement of n <= 8 bytes.
                    let n = self.uint(1)?;
                    let b = self.take(n)?;
                    if n > 8 {
                        return Err(format!("integer of {n} bytes at offset {at} is too large"));
                    }
                    let mut v: i64 = b.iter().rev().fold(0i64, |acc, &x| (acc << 8) | x as i64);
                    if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
                        v -= 1i64 << (8 * n);
                    }
                    self.stack.push(Value::Int(v));
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.take(8)?.try_into().expect("8 bytes"));
                    self.stack.push(Value::Float(v));
                }
                0x8c => {
                    let n = self.uint(1)?;
                    let v = self.text(n)?;
                    self.stack.push(v);
                }
                b'X' => {
                    let n = self.uint(4)?;
                    let v = self.text(n)?;
                    self.stack.push(v);
                }
                0x8d => {
                    let n = self.uint(8)?;
                    let v = self.text(n)?;
                    self.stack.push(v);
                }
                b'C' | b'B' | 0x8e => {
                    let n = match op {
                        b'C' => self.uint(1)?,
                        b'B' => self.uint(4)?,
                        _ => self.uint(8)?,
                    };
                    let b = self.take(n)?.to_vec();
                    self.stack.push(Value::Bytes(b));
                }
                b'q' => {
                    let i = self.uint(1)?;
                    self.memo_put(i)?;
                }
                b'r' => {
                    let i = self.uint(4)?;
                    self.memo_put(i)?;
                }
                0x94 => {
                    let i = self.memo.len();
                    self.memo_put(i)?;
                }
                b'h' => {
                    let i = self.uint(1)?;
                    self.memo_get(i)?;
                }
                b'j' => {
                    let i = self.uint(4)?;
                    self.memo_get(i)?;
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::Tuple(items));
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    let at = self.stack.len().checked_sub(n).ok_or("stack underflow in TUPLE")?;
                    let items = self.stack.split_off(at);
                    self.stack.push(Value::Tuple(items));
                }
                b'a' => {
                    let v = self.pop()?;
                    match self.top()? {
                        Value::List(l) => l.push(v),
                        other => return Err(format!("APPEND to a {} at offset {at}", other.type_name())),
                    }
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    match self.top()? {
                        Value::List(l) => l.extend(items),
                        other => return Err(format!("APPENDS to a {} at offset {at}", other.type_name())),
                    }
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    match self.top()? {
                        Value::Dict(d) => d.push((k, v)),
                        other => return Err(format!("SETITEM on a {} at offset {at}", other.type_name())),
                    }
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    if items.len() % 2 != 0 {
                        return Err(format!("SETITEMS with an odd number of items at offset {at}"));
                    }
                    let mut it = items.into_iter();
                    let mut pairs = Vec::new();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        pairs.push((k, v));
                    }
                    match self.top()? {
                        Value::Dict(d) => d.extend(pairs),
                        other => return Err(format!("SETITEMS on a {} at offset {at}", other.type_name())),
                    }
                }
                b'c' => {
                    let line = |s: &mut Self| -> Result<String, String> {
                        let rest = &s.data[s.pos..];
                        let n = rest.iter().position(|&b| b == b'\n').ok_or("unterminated GLOBAL")?;
                        let t = String::from_utf8_lossy(&rest[..n]).into_owned();
                        s.pos += n + 1;
                        Ok(t)
                    };
                    let (module, name) = (line(&mut self)?, line(&mut self)?);
                    self.stack.push(global(&module, &name)?);
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module.as_str(), name.as_str()) {
                        (Some(m), Some(n)) => {
                            let g = global(m, n)?;
                            self.stack.push(g);
                        }
                        _ => return Err(format!("STACK_GLOBAL without module and name strings at offset {at}")),
                    }
                }
                b'R' | 0x81 => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    self.stack.push(call(&callable, &args)?);
                }
                b'b' => {
                    let state = self.pop()?;
                    let obj = self.pop()?;
                    self.stack.push(build(obj, &state)?);
                }
                _ => {
                    return Err(format!(
                        "opcode 0x{op:02x} at offset {at} is not supported (only containers, strings, numbers and numpy string arrays are read)"
                    ))
                }
            }
        }
    }
}

/// The accepted globals: numpy's array and dtype reconstructors (numpy 1 and 2 module names).
fn global(module: &str, name: &str) -> Result<Value, String> {
    let ok = matches!(
        (module, name),
        (
            "numpy.core.multiarray" | "numpy._core.multiarray",
            "_reconstruct"
        ) | ("numpy", "ndarray" | "dtype")
    );
    if ok {
        Ok(Value::Global(format!("{module}.{name}")))
    } else {
        Err(format!("refusing global {module}.{name}: only plain data and numpy string arrays are read, never code"))
    }
}

fn call(callable: &Value, args: &Value) -> Result<Value, String> {
    let (Value::Global(g), Value::Tuple(a)) = (callable, args) else {
        return Err(format!(
            "cannot call a {} with {}",
            callable.type_name(),
            args.type_name()
        ));
    };
    if g.ends_with("._reconstruct") {
        return Ok(Value::PendingArray);
    }
    if g == "numpy.dtype" {
        if let Some(Value::Str(t)) = a.first() {
            return Ok(Value::Dtype(t.clone()));
        }
    }
    Err(format!("unsupported call of {g}"))
}

fn build(obj: Value, state: &Value) -> Result<Value, String> {
    match obj {
        Value::Dtype(t) => Ok(Value::Dtype(t)),
        Value::PendingArray => {
            // ndarray state: (version, shape, dtype, fortran_order, raw bytes or object list)
            let Value::Tuple(s) = state else {
                return Err("ndarray state is not a tuple".into());
            };
            let [_, Value::Tuple(shape), Value::Dtype(dtype), _, data] = &s[..] else {
                return Err("unexpected ndarray state".into());
            };
            if shape.len() != 1 {
                return Err(format!(
                    "only 1-D arrays are read, found {} dimensions",
                    shape.len()
                ));
            }
            let n = match shape[0] {
                Value::Int(n) if n >= 0 => n as usize,
                _ => return Err("bad array shape".into()),
            };
            decode_array(dtype, n, data).map(Value::StrArray)
        }
        other => Err(format!("cannot set the state of a {}", other.type_name())),
    }
}

/// Elements of a 1-D string array: `U<k>` (UTF-32LE, NUL-padded), `S<k>` (bytes) or object.
fn decode_array(dtype: &str, n: usize, data: &Value) -> Result<Vec<String>, String> {
    if dtype == "O" {
        let Value::List(items) = data else {
            return Err("object array without its item list".into());
        };
        return items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or("object array of non-strings".to_string())
            })
            .collect();
    }
    let Value::Bytes(raw) = data else {
        return Err(format!("array data of dtype {dtype} is not bytes"));
    };
    let (kind, width) = dtype.split_at(1);
    let width: usize = width
        .parse()
        .map_err(|_| format!("unsupported dtype {dtype}"))?;
    let item = if kind == "U" {
        4 * width
    } else if kind == "S" {
        width
    } else {
        return Err(format!("unsupported dtype {dtype}: strings expected"));
    };
    if raw.len() != n * item {
        return Err(format!(
            "array of {n} x {dtype} has {} data bytes",
            raw.len()
        ));
    }
    raw.chunks(item.max(1))
        .take(n)
        .map(|c| {
            if kind == "U" {
                c.chunks(4)
                    .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
                    .take_while(|&u| u != 0)
                    .map(|u| char::from_u32(u).ok_or_else(|| format!("invalid code point {u}")))
                    .collect()
            } else {
                Ok(String::from_utf8_lossy(c)
                    .trim_end_matches('\0')
                    .to_string())
            }
        })
        .collect()
}
