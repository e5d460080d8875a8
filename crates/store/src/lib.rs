//! hiercog-store: what makes every long hiercog job resumable and safe to interrupt.
//!
//! * [`ResultsStore`] is a SQLite database (bundled, WAL mode, busy timeout) holding one JSON record
//!   per finished run under a [`RunKey`] — a hash of everything that determines the result (input
//!   fingerprints, protocol config, seed). A job asks the store before working and skips what is
//!   there, so a re-run after a crash, Ctrl-C or `kill -9` redoes nothing finished. Several processes
//!   on one machine may write to one store at once; on a network file system (NFS, Lustre) SQLite's
//!   locking is unsafe, so `hiercog-run`'s cluster array tasks write their own files instead.
//! * [`file_fingerprint`] and [`path_fingerprint`] identify an input file or directory by its
//!   whole content (XXH3-128, at memory speed).
//!
//! Files are written atomically by `hiercog-io`, which every crate shares.
//!
//! ```
//! use hiercog_store::{ResultsStore, RunKey};
//!
//! let dir = tempfile::tempdir()?;
//! let store = ResultsStore::open(&dir.path().join("results.sqlite"))?;
//! let key = RunKey::from_parts(&[b"train.npy fingerprint", b"seed 22"]);
//! assert_eq!(store.get(&key)?, None);
//! store.put(&key, "probe", &serde_json::json!({"top1": 71.3}))?;
//! assert_eq!(store.get(&key)?.unwrap()["top1"], 71.3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};

/// Errors of the store; each names the file and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An input could not be read, or the store's directory not created.
    #[error(transparent)]
    Io(#[from] hiercog_io::Error),
    /// SQLite failed on the store.
    #[error("results store {path}: {cause} (if the file is corrupt, move it away and re-run: finished work will be recomputed)")]
    Sqlite {
        /// The store.
        path: PathBuf,
        /// What SQLite said.
        cause: rusqlite::Error,
    },
    /// A record of the store is not JSON.
    #[error("results store {path}: record {key} is not valid JSON: {cause}")]
    Record {
        /// The store.
        path: PathBuf,
        /// The record's key.
        key: String,
        /// What the JSON parser said.
        cause: serde_json::Error,
    },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// The identity of a run: a SHA-256 over the parts that determine its result.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunKey(String);

impl RunKey {
    /// Hashes the parts, length-prefixed so that ("ab","c") and ("a","bc") differ.
    pub fn from_parts(parts: &[&[u8]]) -> Self {
        let mut h = Sha256::new();
        for p in parts {
            h.update((p.len() as u64).to_le_bytes());
            h.update(p);
        }
        RunKey(hex(&h.finalize()))
    }

    /// A key stored earlier (e.g. read back from the database or a task file).
    pub fn from_hex(s: &str) -> Self {
        RunKey(s.to_string())
    }

    /// The full hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RunKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0[..12.min(self.0.len())])
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A content fingerprint of a file: the XXH3-128 hash of its whole content (and its size). Any
/// change anywhere in the file changes it; hashing runs at several GB/s, faster than the file is
/// read from disk.
pub fn file_fingerprint(path: &Path) -> Result<String> {
    let err = |e| hiercog_io::Error::read(path)(e);
    let mut f = File::open(path).map_err(err)?;
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 8 << 20];
    let mut len = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(err)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        len += n as u64;
    }
    Ok(format!("xxh3-{:032x}-{len}", h.digest128()))
}

/// A content fingerprint of a file, or of a directory (a `.npy` feature set) as the names and
/// [`file_fingerprint`]s of its files, sorted by name.
pub fn path_fingerprint(path: &Path) -> Result<String> {
    if !path.is_dir() {
        return file_fingerprint(path);
    }
    let mut files: Vec<PathBuf> = fs::read_dir(path)
        .map_err(hiercog_io::Error::read(path))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let parts = files
        .iter()
        .map(|f| {
            let name = f
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            Ok(format!("{name}:{}", file_fingerprint(f)?))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(parts.join(","))
}

/// The SQLite results store: one JSON record per finished run.
pub struct ResultsStore {
    path: PathBuf,
    conn: Connection,
}

impl ResultsStore {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let sql = |cause| Error::Sqlite {
            path: path.to_path_buf(),
            cause,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(hiercog_io::Error::write(dir))?;
        }
        let conn = Connection::open(path).map_err(sql)?;
        // Another writer (a parallel array task) holds the lock for milliseconds: wait, don't fail.
        conn.busy_timeout(Duration::from_secs(120)).map_err(sql)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(sql)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS runs (
                key TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                record TEXT NOT NULL,
                finished_at INTEGER NOT NULL
            );
            CREATE INDEX IF NOT EXISTS runs_kind ON runs(kind);",
        )
        .map_err(sql)?;
        Ok(ResultsStore {
            path: path.to_path_buf(),
            conn,
        })
    }

    /// Where the store lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sql_err(&self, cause: rusqlite::Error) -> Error {
        Error::Sqlite {
            path: self.path.clone(),
            cause,
        }
    }

    fn parse(&self, key: &str, text: &str) -> Result<serde_json::Value> {
        serde_json::from_str(text).map_err(|cause| Error::Record {
            path: self.path.clone(),
            key: key.to_string(),
            cause,
        })
    }

    /// The record of a finished run, if any.
    pub fn get(&self, key: &RunKey) -> Result<Option<serde_json::Value>> {
        let text: Option<String> = self
            .conn
            .query_row(
                "SELECT record FROM runs WHERE key = ?1",
                params![key.0],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql_err(e))?;
        text.map(|t| self.parse(&key.0, &t)).transpose()
    }

    /// Records a finished run (replacing an earlier record of the same key) in one transaction.
    pub fn put(&self, key: &RunKey, kind: &str, record: &serde_json::Value) -> Result<()> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        self.conn
            .execute(
                "INSERT OR REPLACE INTO runs (key, kind, record, finished_at) VALUES (?1, ?2, ?3, ?4)",
                params![key.0, kind, record.to_string(), now],
            )
            .map_err(|e| self.sql_err(e))?;
        Ok(())
    }

    /// All records, optionally of one kind, in the order they finished.
    pub fn list(&self, kind: Option<&str>) -> Result<Vec<(RunKey, serde_json::Value)>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT key, record FROM runs WHERE (?1 IS NULL OR kind = ?1) ORDER BY finished_at, rowid",
            )
            .map_err(|e| self.sql_err(e))?;
        let rows = stmt
            .query_map(params![kind], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(|e| self.sql_err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (key, text) = row.map_err(|e| self.sql_err(e))?;
            let value = self.parse(&key, &text)?;
            out.push((RunKey(key), value));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn run_keys_are_length_prefixed_and_stable() {
        let a = RunKey::from_parts(&[b"ab", b"c"]);
        let b = RunKey::from_parts(&[b"a", b"bc"]);
        assert_ne!(a, b);
        assert_eq!(a, RunKey::from_parts(&[b"ab", b"c"]));
        assert_eq!(a.as_str().len(), 64);
    }

    #[test]
    fn fingerprint_changes_with_content_and_size() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        fs::write(&p, vec![1u8; 3 << 20]).unwrap();
        let a = file_fingerprint(&p).unwrap();
        let mut data = vec![1u8; 3 << 20];
        *data.last_mut().unwrap() = 2;
        fs::write(&p, &data).unwrap();
        let b = file_fingerprint(&p).unwrap();
        fs::write(&p, b"small").unwrap();
        let c = file_fingerprint(&p).unwrap();
        assert!(a != b && b != c && a != c);
        // A change in the middle of a large file, away from its first and last MiB, counts too.
        let mut data = vec![1u8; 3 << 20];
        data[(3 << 20) / 2] = 2;
        fs::write(&p, &data).unwrap();
        assert_ne!(file_fingerprint(&p).unwrap(), a);
        assert!(file_fingerprint(&dir.path().join("missing"))
            .unwrap_err()
            .to_string()
            .contains("missing"));
    }

    #[test]
    fn directory_fingerprint_covers_every_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("X.npy"), b"x").unwrap();
        fs::write(dir.path().join("Y.npy"), b"y").unwrap();
        let a = path_fingerprint(dir.path()).unwrap();
        assert!(a.starts_with("X.npy:") && a.contains(",Y.npy:"), "{a}");
        fs::write(dir.path().join("Y.npy"), b"z").unwrap();
        assert_ne!(path_fingerprint(dir.path()).unwrap(), a);
        let x = dir.path().join("X.npy");
        assert_eq!(path_fingerprint(&x).unwrap(), file_fingerprint(&x).unwrap());
    }

    #[test]
    fn store_round_trip_replace_and_list() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.sqlite");
        let store = ResultsStore::open(&path).unwrap();
        let k1 = RunKey::from_parts(&[b"one"]);
        let k2 = RunKey::from_parts(&[b"two"]);
        assert_eq!(store.get(&k1).unwrap(), None);
        store.put(&k1, "probe", &json!({"top1": 0.5})).unwrap();
        store.put(&k2, "knn", &json!({"top1": 0.25})).unwrap();
        store.put(&k1, "probe", &json!({"top1": 0.75})).unwrap();
        assert_eq!(store.get(&k1).unwrap(), Some(json!({"top1": 0.75})));
        drop(store);
        let store = ResultsStore::open(&path).unwrap();
        assert_eq!(store.list(None).unwrap().len(), 2);
        let probes = store.list(Some("probe")).unwrap();
        assert_eq!(probes, vec![(k1, json!({"top1": 0.75}))]);
    }

    #[test]
    fn concurrent_writers_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.sqlite");
        ResultsStore::open(&path).unwrap();
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let store = ResultsStore::open(&path).unwrap();
                    for i in 0..25 {
                        let key = RunKey::from_parts(&[format!("{t}-{i}").as_bytes()]);
                        store.put(&key, "probe", &json!({"t": t, "i": i})).unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(
            ResultsStore::open(&path).unwrap().list(None).unwrap().len(),
            100
        );
    }

    #[test]
    fn garbage_file_is_a_clear_error_printed_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.sqlite");
        fs::write(&path, vec![7u8; 4096]).unwrap();
        let err = ResultsStore::open(&path)
            .err()
            .expect("garbage must not open");
        assert_eq!(
            err.to_string(),
            format!(
                "results store {}: file is not a database (if the file is corrupt, move it away \
                 and re-run: finished work will be recomputed)",
                path.display()
            )
        );
        assert!(std::error::Error::source(&err).is_none());
    }
}

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
