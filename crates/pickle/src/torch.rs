//! torch checkpoints: the zip format (torch >= 1.6) and the legacy format (a sequence of pickles
//! followed by raw storages), plus the state_dict flattening every model loader needs.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::rc::Rc;

use crate::error::{Error, Result};
use crate::materialize::{materialize, NoStorages, StorageSource};
use crate::object::{Obj, StorageRef};
use crate::value::Value;
use crate::vm::unpickle;

/// The first bytes of a legacy checkpoint: protocol 2, then LONG1 of torch's magic number
/// 0x1950a86a20f9469cfc6c, then STOP.
pub(crate) const LEGACY_MAGIC: &[u8] = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.";
pub(crate) const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
/// The legacy format's protocol version record.
const LEGACY_PROTOCOL: i64 = 1001;

/// How much decoded data (bytes + nodes) a file of `len` bytes may produce; see [`materialize`].
pub(crate) fn budget(len: usize) -> usize {
    len.saturating_mul(16).saturating_add(1 << 20)
}

/// [`Error::Io`] for a failed read of `path`, for `map_err`.
pub(crate) fn read_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let read = hiercog_io::Error::read(path.to_path_buf());
    move |cause| Error::Io(read(cause))
}

/// Reads a `torch.save` file of either format (detected by its first bytes).
pub fn load_torch(path: &Path) -> Result<Value> {
    let name = path.display().to_string();
    let mut head = [0u8; 16];
    let mut f = File::open(path).map_err(read_err(path))?;
    let n = read_up_to(&mut f, &mut head).map_err(read_err(path))?;
    if head[..n].starts_with(ZIP_MAGIC) {
        load_zip(path, &name)
    } else if head[..n].starts_with(LEGACY_MAGIC) {
        let bytes = std::fs::read(path).map_err(read_err(path))?;
        load_legacy(&bytes, &name)
    } else {
        Err(Error::Archive {
            file: name,
            msg: "neither a zip nor a legacy torch.save file (a plain pickle? use load_pickle; a tar-era checkpoint? re-save it with a recent torch)".into(),
        })
    }
}

fn read_up_to(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// The zip format: `<dir>/data.pkl` plus one `<dir>/data/<key>` entry per storage.
fn load_zip(path: &Path, name: &str) -> Result<Value> {
    let zerr = |msg: String| Error::Archive {
        file: name.to_string(),
        msg,
    };
    let file = File::open(path).map_err(read_err(path))?;
    let file_len = file.metadata().map_err(read_err(path))?.len();
    let mut zip = zip::ZipArchive::new(BufReader::new(file))
        .map_err(|e| zerr(format!("not a readable zip archive: {e}")))?;
    let pkl = zip
        .file_names()
        .find(|n| {
            n.strip_suffix("/data.pkl")
                .is_some_and(|d| !d.contains('/'))
        })
        .map(str::to_string)
        .ok_or_else(|| {
            zerr("no `<dir>/data.pkl` entry; this zip is not a torch.save checkpoint".into())
        })?;
    let dir = pkl.trim_end_matches("data.pkl").to_string();
    if let Ok(mut bo) = zip.by_name(&format!("{dir}byteorder")) {
        let mut s = String::new();
        bo.by_ref()
            .take(16)
            .read_to_string(&mut s)
            .map_err(|e| zerr(format!("cannot read byteorder: {e}")))?;
        if s.trim() != "little" {
            return Err(zerr(format!(
                "storages are in `{}` byte order; only little-endian checkpoints are read (re-save on a little-endian machine)",
                s.trim()
            )));
        }
    }
    let limit = budget(usize::try_from(file_len).unwrap_or(usize::MAX));
    let data = read_entry(&mut zip, &pkl, limit).map_err(zerr)?;
    let obj = unpickle(&data, 0, name)?.obj;
    let mut src = ZipStorages {
        zip,
        dir,
        file: name.to_string(),
        limit,
        cache: HashMap::new(),
    };
    materialize(&obj, &mut src, limit, name)
}

/// Reads a whole entry, refusing entries larger than `limit` (a zip bomb guard).
fn read_entry<R: Read + std::io::Seek>(
    zip: &mut zip::ZipArchive<R>,
    entry: &str,
    limit: usize,
) -> std::result::Result<Vec<u8>, String> {
    let mut f = zip
        .by_name(entry)
        .map_err(|e| format!("no entry `{entry}`: {e}"))?;
    let size = f.size();
    if size > limit as u64 {
        return Err(format!(
            "entry `{entry}` claims {size} bytes, far more than the file holds"
        ));
    }
    let mut out = Vec::with_capacity(size as usize);
    f.by_ref()
        .take(size)
        .read_to_end(&mut out)
        .map_err(|e| format!("cannot read entry `{entry}`: {e}"))?;
    Ok(out)
}

struct ZipStorages<R> {
    zip: zip::ZipArchive<R>,
    dir: String,
    file: String,
    limit: usize,
    cache: HashMap<String, Rc<[u8]>>,
}

impl<R: Read + std::io::Seek> StorageSource for ZipStorages<R> {
    fn bytes(&mut self, s: &StorageRef) -> Result<Rc<[u8]>> {
        if let Some(b) = self.cache.get(&s.key) {
            return Ok(b.clone());
        }
        let entry = format!("{}data/{}", self.dir, s.key);
        let b: Rc<[u8]> = read_entry(&mut self.zip, &entry, self.limit)
            .map_err(|msg| Error::Storage {
                file: self.file.clone(),
                key: s.key.clone(),
                msg,
            })?
            .into();
        self.cache.insert(s.key.clone(), b.clone());
        Ok(b)
    }
}

/// The legacy format: magic, protocol version, sys_info, the object, the storage keys, then for
/// each key an 8-byte little-endian element count and the raw elements.
pub(crate) fn load_legacy(bytes: &[u8], name: &str) -> Result<Value> {
    let lerr = |msg: String| Error::Archive {
        file: name.to_string(),
        msg,
    };
    // The magic number (a 10-byte int, beyond Value's i64) is checked as raw bytes.
    if !bytes.starts_with(LEGACY_MAGIC) {
        return Err(lerr(
            "does not start with torch's legacy magic number".into(),
        ));
    }
    let proto = unpickle(bytes, LEGACY_MAGIC.len(), name)?;
    if !matches!(proto.obj, Obj::Int(LEGACY_PROTOCOL)) {
        return Err(lerr(format!(
            "legacy protocol version is not {LEGACY_PROTOCOL}; re-save the checkpoint with a recent torch"
        )));
    }
    let sys = unpickle(bytes, proto.end, name)?;
    let sys_info = materialize(&sys.obj, &mut NoStorages, budget(bytes.len()), name)?;
    if sys_info.get("little_endian") == Some(&Value::Bool(false)) {
        return Err(lerr(
            "saved on a big-endian machine; only little-endian checkpoints are read".into(),
        ));
    }
    let object = unpickle(bytes, sys.end, name)?;
    let keys = unpickle(bytes, object.end, name)?;
    let mut pos = keys.end;
    let keys = materialize(&keys.obj, &mut NoStorages, budget(bytes.len()), name)?;
    let keys = keys
        .as_list()
        .ok_or_else(|| lerr("the storage key record is not a list".into()))?;
    let mut roots = HashMap::new();
    for key in keys {
        let key = key
            .as_str()
            .ok_or_else(|| lerr("a storage key is not a string".into()))?;
        let serr = |msg: String| Error::Storage {
            file: name.to_string(),
            key: key.to_string(),
            msg,
        };
        let dtype = *object.storages.get(key).ok_or_else(|| {
            serr("is stored but no tensor refers to it, so its dtype is unknown".into())
        })?;
        let count = bytes
            .get(pos..pos + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
            .ok_or_else(|| serr(format!("the element count at byte {pos} is cut off")))?;
        let start = pos + 8;
        let end = usize::try_from(count)
            .ok()
            .and_then(|c| c.checked_mul(dtype.size()))
            .and_then(|n| n.checked_add(start))
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| {
                serr(format!(
                    "{count} elements at byte {start} run past the end of the file (truncated?)"
                ))
            })?;
        roots.insert(key.to_string(), Rc::<[u8]>::from(&bytes[start..end]));
        pos = end;
    }
    let mut src = LegacyStorages {
        roots,
        file: name.to_string(),
    };
    materialize(&object.obj, &mut src, budget(bytes.len()), name)
}

struct LegacyStorages {
    roots: HashMap<String, Rc<[u8]>>,
    file: String,
}

impl StorageSource for LegacyStorages {
    fn bytes(&mut self, s: &StorageRef) -> Result<Rc<[u8]>> {
        let serr = |key: &str, msg: String| Error::Storage {
            file: self.file.clone(),
            key: key.to_string(),
            msg,
        };
        let root = s.view.as_ref().map_or(&s.key, |v| &v.0);
        let data = self
            .roots
            .get(root)
            .ok_or_else(|| serr(root, "is referenced but not stored in the file".into()))?;
        match &s.view {
            None => Ok(data.clone()),
            Some((_, offset, n)) => {
                let es = s.dtype.size();
                offset
                    .checked_add(*n)
                    .and_then(|e| e.checked_mul(es))
                    .filter(|&e| e <= data.len())
                    .map(|e| Rc::from(&data[offset * es..e]))
                    .ok_or_else(|| {
                        serr(
                            &s.key,
                            format!("view of {n} elements at {offset} lies outside its storage"),
                        )
                    })
            }
        }
    }
}
