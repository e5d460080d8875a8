//! The pickle virtual machine: protocols 0–5, no code execution. Globals resolve to the closed
//! [`Global`] whitelist and calling one runs our own code for it; torch storages (persistent ids)
//! stay symbolic ([`StorageRef`]) until [`crate::materialize`] copies tensors out.

use std::collections::HashMap;
use std::rc::Rc;

use crate::error::{Error, Result};
use crate::numpy;
use crate::object::{DictObj, Global, Obj, StorageRef, TensorSpec};
use crate::value::DType;

/// The memo: pickles number entries 0, 1, 2, ... (a vector), but may use any 32-bit key (a map).
#[derive(Default)]
struct Memo {
    dense: Vec<Option<Obj>>,
    sparse: HashMap<u64, Obj>,
    /// Number of keys stored (MEMOIZE's next key).
    len: u64,
}

impl Memo {
    fn get(&self, i: u64) -> Option<&Obj> {
        match usize::try_from(i).ok().and_then(|k| self.dense.get(k)) {
            Some(slot) => slot.as_ref(),
            None => self.sparse.get(&i),
        }
    }

    fn put(&mut self, i: u64, o: Obj) {
        let fresh = match usize::try_from(i) {
            Ok(k) if k < self.dense.len() => self.dense[k].replace(o).is_none(),
            Ok(k) if k == self.dense.len() && !self.sparse.contains_key(&i) => {
                self.dense.push(Some(o));
                true
            }
            _ => self.sparse.insert(i, o).is_none(),
        };
        self.len += u64::from(fresh);
    }
}

/// Where an error is reported: the file's name and the opcode being run.
struct Here<'a> {
    file: &'a str,
    offset: usize,
    op: u8,
}

impl Here<'_> {
    fn err(&self, msg: impl Into<String>) -> Error {
        Error::Malformed {
            file: self.file.to_string(),
            offset: self.offset,
            opcode: opcode_name(self.op),
            msg: msg.into(),
        }
    }
}

fn opcode_name(op: u8) -> String {
    if op.is_ascii_graphic() {
        format!("{:?} (0x{op:02x})", op as char)
    } else {
        format!("0x{op:02x}")
    }
}

/// Runs one pickle starting at `data[start..]` and returns the object and the offset just past STOP.
/// `file` names the source in errors. Persistent ids must be torch storage tuples.
pub(crate) fn unpickle(data: &[u8], start: usize, file: &str) -> Result<Unpickled> {
    Machine {
        data,
        pos: start,
        file,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: Memo::default(),
        storages: HashMap::new(),
    }
    .run()
}

/// What one pickle decoded to.
pub(crate) struct Unpickled {
    pub obj: Obj,
    /// The offset just past the STOP opcode.
    pub end: usize,
    /// The dtype of every (root) storage key the pickle referenced.
    pub storages: HashMap<String, DType>,
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    file: &'a str,
    stack: Vec<Obj>,
    marks: Vec<usize>,
    memo: Memo,
    storages: HashMap<String, DType>,
}

impl Machine<'_> {
    fn take(&mut self, h: &Here, n: usize) -> Result<&[u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| {
                h.err(format!(
                    "needs {n} more bytes but the input ends at byte {}",
                    self.data.len()
                ))
            })?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn uint(&mut self, h: &Here, n: usize) -> Result<u64> {
        let b = self.take(h, n)?;
        Ok(b.iter()
            .rev()
            .fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
    }

    /// A length argument, bounded by what is left of the input (never trusted for allocation).
    fn len(&mut self, h: &Here, n: usize) -> Result<usize> {
        let v = self.uint(h, n)?;
        usize::try_from(v)
            .ok()
            .filter(|&l| l <= self.data.len() - self.pos)
            .ok_or_else(|| h.err(format!("length {v} runs past the end of the input")))
    }

    fn line(&mut self, h: &Here) -> Result<&[u8]> {
        let rest = &self.data[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| h.err("unterminated text argument (no newline)"))?;
        self.pos += n + 1;
        Ok(&rest[..n])
    }

    fn line_str(&mut self, h: &Here) -> Result<String> {
        let l = self.line(h)?;
        String::from_utf8(l.to_vec()).map_err(|_| h.err("text argument is not UTF-8"))
    }

    fn pop(&mut self, h: &Here) -> Result<Obj> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err(h.err("stack underflow (pop past a MARK)"));
        }
        self.stack.pop().ok_or_else(|| h.err("stack underflow"))
    }

    fn top(&mut self, h: &Here) -> Result<&Obj> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err(h.err("stack underflow (top past a MARK)"));
        }
        self.stack.last().ok_or_else(|| h.err("stack underflow"))
    }

    fn pop_mark(&mut self, h: &Here) -> Result<Vec<Obj>> {
        let m = self
            .marks
            .pop()
            .ok_or_else(|| h.err("no MARK on the stack"))?;
        Ok(self.stack.split_off(m))
    }

    fn push(&mut self, o: Obj) {
        self.stack.push(o);
    }

    /// The memo key argument of GET/PUT (a text line), BINGET/BINPUT (1 byte) or
    /// LONG_BINGET/LONG_BINPUT (4 bytes).
    fn memo_index(&mut self, h: &Here) -> Result<u64> {
        match h.op {
            b'g' | b'p' => {
                let l = self.line_str(h)?;
                l.trim()
                    .parse()
                    .map_err(|_| h.err(format!("bad memo index {l:?}")))
            }
            b'h' | b'q' => self.uint(h, 1),
            _ => self.uint(h, 4),
        }
    }

    fn memo_get(&mut self, h: &Here, i: u64) -> Result<()> {
        let o = self
            .memo
            .get(i)
            .ok_or_else(|| h.err(format!("memo key {i} was never stored")))?
            .clone();
        self.push(o);
        Ok(())
    }

    fn memo_put(&mut self, h: &Here, i: u64) -> Result<()> {
        let o = self.top(h)?.clone();
        self.memo.put(i, o);
        Ok(())
    }

    fn run(mut self) -> Result<Unpickled> {
        loop {
            let offset = self.pos;
            let op = *self.data.get(offset).ok_or_else(|| Error::Malformed {
                file: self.file.to_string(),
                offset,
                opcode: "end of input".into(),
                msg: "the pickle ends without a STOP opcode".into(),
            })?;
            self.pos += 1;
            let h = Here {
                file: self.file,
                offset,
                op,
            };
            match op {
                b'.' => {
                    let obj = self.pop(&h)?;
                    return Ok(Unpickled {
                        obj,
                        end: self.pos,
                        storages: self.storages,
                    });
                }
                0x80 => {
                    let p = self.uint(&h, 1)?;
                    if p > 5 {
                        return Err(h.err(format!("pickle protocol {p} is newer than 5")));
                    }
                }
                0x95 => {
                    self.uint(&h, 8)?; // FRAME: a length hint only
                }
                b'(' => self.marks.push(self.stack.len()),
                b'0' => {
                    if self.marks.last() == Some(&self.stack.len()) {
                        self.marks.pop();
                    } else {
                        self.pop(&h)?;
                    }
                }
                b'1' => {
                    self.pop_mark(&h)?;
                }
                b'2' => {
                    let o = self.top(&h)?.clone();
                    self.push(o);
                }
                b'N' => self.push(Obj::None),
                0x88 => self.push(Obj::Bool(true)),
                0x89 => self.push(Obj::Bool(false)),
                b'J' => {
                    let v = self.uint(&h, 4)? as u32 as i32;
                    self.push(Obj::Int(i64::from(v)));
                }
                b'K' => {
                    let v = self.uint(&h, 1)?;
                    self.push(Obj::Int(v as i64));
                }
                b'M' => {
                    let v = self.uint(&h, 2)?;
                    self.push(Obj::Int(v as i64));
                }
                0x8a | 0x8b => {
                    let n = if op == 0x8a {
                        self.uint(&h, 1)?
                    } else {
                        self.uint(&h, 4)?
                    };
                    let n = usize::try_from(n).unwrap_or(usize::MAX);
                    let b = self.take(&h, n)?;
                    let v = long_from_le(b).ok_or_else(|| {
                        h.err("integer does not fit in 64 bits (hiercog reads i64 only)")
                    })?;
                    self.push(Obj::Int(v));
                }
                b'I' => {
                    let l = self.line_str(&h)?;
                    let o = match l.as_str() {
                        "00" => Obj::Bool(false),
                        "01" => Obj::Bool(true),
                        s => Obj::Int(
                            s.trim()
                                .parse()
                                .map_err(|_| h.err(format!("bad INT {s:?}")))?,
                        ),
                    };
                    self.push(o);
                }
                b'L' => {
                    let l = self.line_str(&h)?;
                    let s = l.trim().trim_end_matches('L');
                    let v = s.parse().map_err(|_| {
                        h.err(format!("bad LONG {s:?} (or it does not fit in i64)"))
                    })?;
                    self.push(Obj::Int(v));
                }
                b'G' => {
                    let b = self.take(&h, 8)?;
                    let v = f64::from_be_bytes(b.try_into().unwrap_or([0; 8]));
                    self.push(Obj::Float(v));
                }
                b'F' => {
                    let l = self.line_str(&h)?;
                    let v = l
                        .trim()
                        .parse()
                        .map_err(|_| h.err(format!("bad FLOAT {l:?}")))?;
                    self.push(Obj::Float(v));
                }
                b'X' | 0x8c | 0x8d => {
                    let n = match op {
                        b'X' => 4,
                        0x8c => 1,
                        _ => 8,
                    };
                    let n = self.len(&h, n)?;
                    let b = self.take(&h, n)?;
                    let s: Rc<str> = std::str::from_utf8(b)
                        .map_err(|_| h.err("string is not valid UTF-8"))?
                        .into();
                    self.push(Obj::Str(s));
                }
                b'V' => {
                    let l = self.line(&h)?.to_vec();
                    let s = raw_unicode_escape(&l)
                        .ok_or_else(|| h.err("bad raw-unicode-escape text"))?;
                    self.push(Obj::Str(s.into()));
                }
                b'T' | b'U' => {
                    let n = if op == b'T' { 4 } else { 1 };
                    let n = self.len(&h, n)?;
                    let b = self.take(&h, n)?.to_vec();
                    self.push(py2_string(b));
                }
                b'S' => {
                    let l = self.line(&h)?.to_vec();
                    let b = string_escape(&l).ok_or_else(|| h.err("bad quoted STRING argument"))?;
                    self.push(py2_string(b));
                }
                b'B' | b'C' | 0x8e | 0x96 => {
                    let n = match op {
                        b'B' => 4,
                        b'C' => 1,
                        _ => 8,
                    };
                    let n = self.len(&h, n)?;
                    let b: Rc<[u8]> = self.take(&h, n)?.into();
                    self.push(Obj::Bytes(b));
                }
                b')' => self.push(Obj::tuple(Vec::new())),
                b't' => {
                    let items = self.pop_mark(&h)?;
                    self.push(Obj::tuple(items));
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop(&h)?);
                    }
                    items.reverse();
                    self.push(Obj::tuple(items));
                }
                b']' => self.push(Obj::List(Rc::default())),
                b'l' => {
                    let items = self.pop_mark(&h)?;
                    self.push(Obj::list(items));
                }
                b'a' | b'e' => {
                    let items = if op == b'a' {
                        vec![self.pop(&h)?]
                    } else {
                        self.pop_mark(&h)?
                    };
                    match self.top(&h)? {
                        Obj::List(l) => l.borrow_mut().extend(items),
                        o => return Err(h.err(format!("APPEND to a {}", o.type_name()))),
                    }
                }
                b'}' => self.push(Obj::Dict(Rc::default())),
                b'd' => {
                    let items = self.pop_mark(&h)?;
                    let d = Obj::Dict(Rc::default());
                    self.push(d);
                    self.set_items(&h, items)?;
                }
                b's' => {
                    let v = self.pop(&h)?;
                    let k = self.pop(&h)?;
                    self.set_items(&h, vec![k, v])?;
                }
                b'u' => {
                    let items = self.pop_mark(&h)?;
                    self.set_items(&h, items)?;
                }
                0x8f => self.push(Obj::Set(Rc::default())),
                0x90 => {
                    let items = self.pop_mark(&h)?;
                    match self.top(&h)? {
                        Obj::Set(s) => s.borrow_mut().extend(items),
                        o => return Err(h.err(format!("ADDITEMS to a {}", o.type_name()))),
                    }
                }
                0x91 => {
                    let items = self.pop_mark(&h)?;
                    self.push(Obj::set(items));
                }
                b'g' | b'h' | b'j' => {
                    let i = self.memo_index(&h)?;
                    self.memo_get(&h, i)?;
                }
                b'p' | b'q' | b'r' => {
                    let i = self.memo_index(&h)?;
                    self.memo_put(&h, i)?;
                }
                0x94 => {
                    let i = self.memo.len;
                    self.memo_put(&h, i)?;
                }
                b'c' => {
                    let module = self.line_str(&h)?;
                    let name = self.line_str(&h)?;
                    let g = self.global(&h, &module, &name)?;
                    self.push(g);
                }
                0x93 => {
                    let name = self.pop(&h)?;
                    let module = self.pop(&h)?;
                    let (Obj::Str(module), Obj::Str(name)) = (module, name) else {
                        return Err(h.err("STACK_GLOBAL needs a module and a name string"));
                    };
                    let g = self.global(&h, &module, &name)?;
                    self.push(g);
                }
                b'i' => {
                    let module = self.line_str(&h)?;
                    let name = self.line_str(&h)?;
                    let g = self.global(&h, &module, &name)?;
                    let args = self.pop_mark(&h)?;
                    let o = call(&h, &g, args)?;
                    self.push(o);
                }
                b'o' => {
                    let mut args = self.pop_mark(&h)?;
                    if args.is_empty() {
                        return Err(h.err("OBJ without a class"));
                    }
                    let cls = args.remove(0);
                    let o = call(&h, &cls, args)?;
                    self.push(o);
                }
                b'R' | 0x81 => {
                    let args = self.pop(&h)?;
                    let f = self.pop(&h)?;
                    let Obj::Tuple(args) = args else {
                        return Err(
                            h.err(format!("arguments are a {}, not a tuple", args.type_name()))
                        );
                    };
                    let o = call(&h, &f, args.to_vec())?;
                    self.push(o);
                }
                0x92 => {
                    let kwargs = self.pop(&h)?;
                    let args = self.pop(&h)?;
                    let cls = self.pop(&h)?;
                    let empty_kwargs =
                        matches!(&kwargs, Obj::Dict(d) if d.borrow().items.is_empty());
                    let (Obj::Tuple(args), true) = (args, empty_kwargs) else {
                        return Err(
                            h.err("NEWOBJ_EX needs an argument tuple and no keyword arguments")
                        );
                    };
                    let o = call(&h, &cls, args.to_vec())?;
                    self.push(o);
                }
                b'b' => {
                    let state = self.pop(&h)?;
                    match self.top(&h)? {
                        Obj::NpDtype(d) => numpy::build_dtype(d, &state).map_err(|m| h.err(m))?,
                        Obj::NpPending(a) => {
                            let built = numpy::build_array(&state).map_err(|m| h.err(m))?;
                            *a.borrow_mut() = Some(built);
                        }
                        Obj::Dict(d) if d.borrow().attributes_are_items => {
                            let Obj::Dict(attributes) = &state else {
                                return Err(h.err(format!(
                                    "BUILD of an argparse.Namespace with a {} (expected a dict)",
                                    state.type_name()
                                )));
                            };
                            let attributes = attributes.borrow().items.clone();
                            let mut d = d.borrow_mut();
                            for (k, v) in attributes {
                                d.insert(k, v);
                            }
                        }
                        // OrderedDict attributes (a state_dict's `_metadata`): not part of the data.
                        Obj::Dict(_) => {}
                        // Parameter attributes carried next to the tensor.
                        Obj::Tensor(_)
                            if matches!(&state, Obj::Dict(_) | Obj::Tuple(_) | Obj::None) => {}
                        o => {
                            return Err(h.err(format!(
                                "BUILD on a {} (only dicts and tensors take attributes)",
                                o.type_name()
                            )))
                        }
                    }
                }
                b'Q' => {
                    let pid = self.pop(&h)?;
                    let s = persistent_storage(&h, &pid)?;
                    let root = s.view.as_ref().map_or(&s.key, |v| &v.0);
                    self.storages.insert(root.clone(), s.dtype);
                    self.push(Obj::Storage(s));
                }
                b'P' => {
                    let l = self.line_str(&h)?;
                    return Err(h.err(format!(
                        "text persistent id {l:?} (torch uses binary persistent ids; re-save with torch.save)"
                    )));
                }
                0x82..=0x84 | 0x97 | 0x98 => {
                    return Err(Error::Unsupported {
                        file: self.file.to_string(),
                        offset,
                        opcode: opcode_name(op),
                    })
                }
                _ => return Err(h.err("unknown opcode")),
            }
        }
    }

    fn set_items(&mut self, h: &Here, items: Vec<Obj>) -> Result<()> {
        if !items.len().is_multiple_of(2) {
            return Err(h.err("odd number of items for a dict"));
        }
        let Obj::Dict(d) = self.top(h)? else {
            return Err(h.err(format!("SETITEM on a {}", self.top(h)?.type_name())));
        };
        let mut d = d.borrow_mut();
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            d.insert(k, v);
        }
        Ok(())
    }

    fn global(&self, h: &Here, module: &str, name: &str) -> Result<Obj> {
        Global::resolve(module, name)
            .map(Obj::Global)
            .ok_or_else(|| Error::Forbidden {
                file: self.file.to_string(),
                offset: h.offset,
                global: format!("{module}.{name}"),
            })
    }
}

/// Little-endian two's complement, as LONG1/LONG4 store it.
fn long_from_le(b: &[u8]) -> Option<i64> {
    let neg = b.last().is_some_and(|&x| x & 0x80 != 0);
    let fill = if neg { 0xff } else { 0 };
    if b.len() > 8 && b[8..].iter().any(|&x| x != fill) {
        return None;
    }
    let mut buf = [fill; 8];
    let n = b.len().min(8);
    buf[..n].copy_from_slice(&b[..n]);
    let v = i64::from_le_bytes(buf);
    // a 9+ byte encoding must agree in sign with its truncation
    if b.len() > 8 && (v < 0) != neg {
        return None;
    }
    Some(v)
}

/// A Python 2 `str`: text when it is UTF-8, bytes otherwise.
fn py2_string(b: Vec<u8>) -> Obj {
    match String::from_utf8(b) {
        Ok(s) => Obj::Str(s.into()),
        Err(e) => Obj::Bytes(e.into_bytes().into()),
    }
}

/// The argument of protocol 0 `STRING`: a quoted Python literal with backslash escapes.
fn string_escape(l: &[u8]) -> Option<Vec<u8>> {
    let q = *l.first()?;
    if l.len() < 2 || !(q == b'\'' || q == b'"') || *l.last()? != q {
        return None;
    }
    let body = &l[1..l.len() - 1];
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let c = body[i];
        i += 1;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let e = *body.get(i)?;
        i += 1;
        let byte = match e {
            b'n' => b'\n',
            b't' => b'\t',
            b'r' => b'\r',
            b'0'..=b'7' => {
                let mut v = u32::from(e - b'0');
                for _ in 0..2 {
                    match body.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                u8::try_from(v).ok()?
            }
            b'x' => {
                let hex = std::str::from_utf8(body.get(i..i + 2)?).ok()?;
                i += 2;
                u8::from_str_radix(hex, 16).ok()?
            }
            b'\\' | b'\'' | b'"' => e,
            other => {
                out.push(b'\\');
                other
            }
        };
        out.push(byte);
    }
    Some(out)
}

/// The argument of protocol 0 `UNICODE`: latin-1 text with `\uXXXX` / `\UXXXXXXXX` escapes.
fn raw_unicode_escape(l: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(l.len());
    let mut i = 0;
    while i < l.len() {
        let c = l[i];
        if c == b'\\' && matches!(l.get(i + 1), Some(b'u' | b'U')) {
            let n = if l[i + 1] == b'u' { 4 } else { 8 };
            let hex = std::str::from_utf8(l.get(i + 2..i + 2 + n)?).ok()?;
            out.push(char::from_u32(u32::from_str_radix(hex, 16).ok()?)?);
            i += 2 + n;
        } else {
            out.push(char::from(c));
            i += 1;
        }
    }
    Some(out)
}

/// Resolves a torch persistent id `('storage', StorageClass, key, location, numel[, view])`.
fn persistent_storage(h: &Here, pid: &Obj) -> Result<Rc<StorageRef>> {
    let Obj::Tuple(t) = pid else {
        return Err(h.err(format!(
            "persistent id is a {}, not a torch storage tuple",
            pid.type_name()
        )));
    };
    let bad =
        || h.err("persistent id is not ('storage', <StorageClass>, key, location, numel[, view])");
    if t.len() < 5 || !matches!(&t[0], Obj::Str(s) if &**s == "storage") {
        return Err(bad());
    }
    let dtype = match &t[1] {
        Obj::Global(Global::StorageClass(d)) => *d,
        // torch >= 2 may name the dtype instead of a storage class
        Obj::Global(Global::TorchDtype(d)) => *d,
        _ => return Err(bad()),
    };
    let key = match &t[2] {
        Obj::Str(s) => s.to_string(),
        Obj::Int(i) => i.to_string(),
        _ => return Err(bad()),
    };
    let numel = t[4].usize().ok_or_else(bad)?;
    let view = match t.get(5) {
        None | Some(Obj::None) => None,
        Some(Obj::Tuple(v)) if v.len() == 3 => {
            let root = match &v[0] {
                Obj::Str(s) => s.to_string(),
                _ => return Err(bad()),
            };
            Some((
                root,
                v[1].usize().ok_or_else(bad)?,
                v[2].usize().ok_or_else(bad)?,
            ))
        }
        _ => return Err(bad()),
    };
    Ok(Rc::new(StorageRef {
        key,
        dtype,
        numel,
        view,
    }))
}

/// Applies a whitelisted callable; anything else is refused.
fn call(h: &Here, f: &Obj, args: Vec<Obj>) -> Result<Obj> {
    let Obj::Global(g) = f else {
        return Err(h.err(format!(
            "calling a {}, which is not a whitelisted global",
            f.type_name()
        )));
    };
    let bad = |what: &str| h.err(format!("{}: {what}", g.name()));
    match g {
        Global::RebuildTensorV2 | Global::RebuildTensor => {
            let min = if *g == Global::RebuildTensor { 4 } else { 6 };
            if args.len() < min {
                return Err(bad("too few arguments"));
            }
            let Obj::Storage(storage) = &args[0] else {
                return Err(bad("the first argument is not a storage"));
            };
            let offset = args[1].usize().ok_or_else(|| bad("bad storage offset"))?;
            let dims =
                |o: &Obj| -> Option<Vec<usize>> { o.items()?.iter().map(Obj::usize).collect() };
            let size = dims(&args[2]).ok_or_else(|| bad("bad size"))?;
            let stride = dims(&args[3]).ok_or_else(|| bad("bad stride"))?;
            let spec = TensorSpec {
                storage: storage.clone(),
                offset,
                size,
                stride,
            };
            spec.check().map_err(|m| bad(&m))?;
            Ok(Obj::Tensor(Rc::new(spec)))
        }
        Global::RebuildParameter | Global::RebuildParameterWithState => match args.first() {
            Some(t @ Obj::Tensor(_)) => Ok(t.clone()),
            _ => Err(bad("the first argument is not a tensor")),
        },
        Global::OrderedDict => {
            let d = Obj::Dict(Rc::default());
            match args.as_slice() {
                [] => {}
                [pairs] => {
                    let Obj::Dict(dict) = &d else { unreachable!() };
                    for p in pairs
                        .items()
                        .ok_or_else(|| bad("argument is not a list of pairs"))?
                    {
                        match p.items().as_deref() {
                            Some([k, v]) => dict.borrow_mut().insert(k.clone(), v.clone()),
                            _ => return Err(bad("argument is not a list of pairs")),
                        }
                    }
                }
                _ => return Err(bad("too many arguments")),
            }
            Ok(d)
        }
        Global::Namespace => match args.as_slice() {
            [] => {
                let mut namespace = DictObj::default();
                namespace.attributes_are_items = true;
                Ok(Obj::Dict(Rc::new(std::cell::RefCell::new(namespace))))
            }
            _ => Err(bad("takes no positional arguments")),
        },
        Global::TorchSize => match args.as_slice() {
            [] => Ok(Obj::tuple(Vec::new())),
            [dims] => Ok(Obj::tuple(
                dims.items().ok_or_else(|| bad("argument is not a tuple"))?,
            )),
            _ => Err(bad("too many arguments")),
        },
        Global::Set | Global::FrozenSet => match args.as_slice() {
            [] => Ok(Obj::Set(Rc::default())),
            [items] => Ok(Obj::set(
                items.items().ok_or_else(|| bad("argument is not a list"))?,
            )),
            _ => Err(bad("too many arguments")),
        },
        Global::CodecsEncode | Global::Bytes | Global::Bytearray => match args.as_slice() {
            [] => Ok(Obj::Bytes(Rc::from(Vec::new()))),
            [Obj::Bytes(b)] => Ok(Obj::Bytes(b.clone())),
            [Obj::Str(s), Obj::Str(enc)] if matches!(&**enc, "latin1" | "latin-1") => s
                .chars()
                .map(|c| u8::try_from(u32::from(c)).ok())
                .collect::<Option<Vec<u8>>>()
                .map(|b| Obj::Bytes(b.into()))
                .ok_or_else(|| bad("text is not latin-1")),
            _ => Err(bad("only (str, 'latin1') or (bytes,) arguments are read")),
        },
        Global::NpReconstruct => Ok(Obj::NpPending(Rc::default())),
        Global::NpDtype => numpy::dtype(&args).map_err(|m| bad(&m)),
        Global::NpScalar => numpy::scalar(&args).map_err(|m| bad(&m)),
        Global::NpFrombuffer => numpy::frombuffer(&args).map_err(|m| bad(&m)),
        Global::StorageClass(_) | Global::TorchDtype(_) | Global::NpNdarray => {
            Err(bad("is not callable here"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    #[test]
    fn long_decoding_handles_sign_and_width() {
        assert_eq!(long_from_le(&[]), Some(0));
        assert_eq!(long_from_le(&[0xff]), Some(-1));
        assert_eq!(long_from_le(&[0x00, 0x80]), Some(-32768));
        assert_eq!(long_from_le(&[0xff, 0x00]), Some(255));
        let mut nine = i64::MAX.to_le_bytes().to_vec();
        nine.push(0);
        assert_eq!(long_from_le(&nine), Some(i64::MAX));
        assert_eq!(long_from_le(&[0, 0, 0, 0, 0, 0, 0, 0x80, 0]), None);
        assert_eq!(long_from_le(&[1; 10]), None);
    }

    #[test]
    fn memo_counts_keys_for_memoize_whether_dense_or_sparse() {
        let mut m = Memo::default();
        m.put(0, Obj::Int(0));
        m.put(7, Obj::Int(7));
        m.put(0, Obj::Int(1)); // overwrite: not a new key
        assert_eq!(m.len, 2);
        m.put(1, Obj::Int(2));
        assert!(matches!(m.get(0), Some(Obj::Int(1))));
        assert!(matches!(m.get(7), Some(Obj::Int(7))));
        assert!(matches!(m.get(1), Some(Obj::Int(2))));
        assert!(m.get(2).is_none() && m.get(u64::MAX).is_none());
    }

    #[test]
    fn an_argparse_namespace_is_a_dict_of_its_attributes() {
        // pickle.dumps(argparse.Namespace(arch="resnet50", lr=0.5), protocol=2)
        let p = b"\x80\x02cargparse\nNamespace\nq\x00)\x81q\x01}q\x02(X\x04\x00\x00\x00archq\x03X\x08\x00\x00\x00resnet50q\x04X\x02\x00\x00\x00lrq\x05G?\xe0\x00\x00\x00\x00\x00\x00ub.".to_vec();
        let v = unpickle(&p, 0, "args").unwrap();
        let value = crate::materialize::materialize(
            &v.obj,
            &mut crate::materialize::NoStorages,
            1 << 20,
            "args",
        )
        .unwrap();
        assert_eq!(value.get("arch").and_then(Value::as_str), Some("resnet50"));
        assert_eq!(value.get("lr").and_then(Value::as_float), Some(0.5));
        // A Namespace built from a non-dict state is malformed, not silently empty.
        let e = unpickle(b"\x80\x02cargparse\nNamespace\n)\x81)b.", 0, "args").err();
        assert!(e.is_some_and(|e| e.to_string().contains("with a tuple")));
    }

    #[test]
    fn text_escapes() {
        assert_eq!(string_escape(b"'a\\nb\\x41\\''").unwrap(), b"a\nbA'");
        assert_eq!(raw_unicode_escape(b"caf\xe9 \\u00e9").unwrap(), "café é");
        assert!(string_escape(b"'unterminated").is_none());
    }
}
