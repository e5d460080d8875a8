//! Atomic writes: a temporary sibling of the target, fsync, rename over the target, fsync of the
//! directory. Readers see the old version or the new one, never a torn one; a crash (even
//! `kill -9`) leaves at most a temporary, which [`sweep_temporaries`] removes later.
//!
//! Every temporary is named `.<target name>.tmp-<pid>-<n>[.<ext>]` (the target's extension is kept
//! because some encoders choose their format from it), so that stale ones are recognisable:
//! [`is_temporary`].

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::{Error, Result};

/// Marks a temporary's name: `.<name>` + `TAG` + `<pid>-<n>`.
const TAG: &str = ".tmp-";

/// Writes `bytes` to `target` atomically, creating its parent directory.
pub fn write_atomic(target: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(target, |f| f.write_all(bytes))
}

/// Like [`write_atomic`], with the content written into the temporary file by `fill`.
pub fn write_atomic_with(
    target: &Path,
    fill: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> Result<()> {
    let tmp = AtomicPath::new(target)?;
    let mut file = File::create(tmp.path()).map_err(Error::write(target))?;
    fill(&mut file).map_err(Error::write(target))?;
    drop(file);
    tmp.commit()
}

/// A temporary path beside a target, for writers that want a path rather than a file (an image
/// encoder, a directory built file by file). [`AtomicPath::commit`] moves what was written there
/// over the target; dropping it uncommitted removes it.
#[derive(Debug)]
pub struct AtomicPath {
    tmp: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl AtomicPath {
    /// A fresh temporary path for `target` (nothing is created there), after creating the target's
    /// parent directory.
    pub fn new(target: &Path) -> Result<Self> {
        let dir = parent(target);
        fs::create_dir_all(dir).map_err(Error::write(dir))?;
        Ok(AtomicPath {
            tmp: temporary_for(target),
            target: target.to_path_buf(),
            committed: false,
        })
    }

    /// Where to write: a file, or a directory created by the caller.
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// Syncs what was written (a file, or a directory tree) and moves it over the target. A target
    /// directory is replaced only once the new one is complete: it is moved aside, the new one
    /// renamed in, the old one removed.
    pub fn commit(mut self) -> Result<()> {
        let target = self.target.clone();
        sync_tree(&self.tmp).map_err(Error::write(&target))?;
        if let Some(name) = target.file_name() {
            crate::abort_point(&format!("commit {}", name.to_string_lossy()));
        }
        if target.is_dir() {
            let aside = temporary_for(&target);
            fs::rename(&target, &aside).map_err(Error::write(&target))?;
            if let Err(cause) = fs::rename(&self.tmp, &target) {
                let _ = fs::rename(&aside, &target);
                return Err(Error::Write {
                    path: target,
                    cause,
                });
            }
            remove(&aside).map_err(Error::write(&aside))?;
        } else {
            fs::rename(&self.tmp, &target).map_err(Error::write(&target))?;
        }
        self.committed = true;
        sync_dir(parent(&target)).map_err(Error::write(&target))
    }
}

impl Drop for AtomicPath {
    fn drop(&mut self) {
        if !self.committed {
            let _ = remove(&self.tmp);
        }
    }
}

/// Removes the temporaries of [`write_atomic`] and [`AtomicPath`] that earlier processes left in
/// `dir` (not below it) when they were killed mid-write; returns what was removed. A missing `dir`
/// has none.
///
/// Call it where a task starts or resumes in a directory no other process is writing to at that
/// moment: a temporary of a live writer in another process would be removed under it. The
/// temporaries of this process are kept.
pub fn sweep_temporaries(dir: &Path) -> Result<Vec<PathBuf>> {
    sweep(dir, |_| true)
}

/// Removes the temporaries of `target` alone that earlier processes left beside it: for a task
/// that owns one file of a directory shared with tasks running in parallel (a cluster array task's
/// result file). Returns what was removed.
pub fn sweep_temporaries_of(target: &Path) -> Result<Vec<PathBuf>> {
    let Some(name) = target.file_name() else {
        return Ok(Vec::new());
    };
    let prefix = format!(".{}{TAG}", name.to_string_lossy());
    sweep(parent(target), |n| {
        n.strip_prefix(&prefix)
            .is_some_and(|rest| !rest.contains(TAG))
    })
}

/// Removes the temporaries of other processes in `dir` whose name passes `select`.
fn sweep(dir: &Path, select: impl Fn(&str) -> bool) -> Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::read(dir)(e)),
    };
    let own = std::process::id();
    let mut removed = Vec::new();
    for entry in entries {
        let entry = entry.map_err(Error::read(dir))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        match temporary_pid(&name) {
            Some(pid) if pid != own && select(&name) => {
                let path = entry.path();
                remove(&path).map_err(Error::write(&path))?;
                removed.push(path);
            }
            _ => {}
        }
    }
    removed.sort();
    Ok(removed)
}

/// True when `name` (a file name, not a path) is one of this crate's temporaries.
pub fn is_temporary(name: &str) -> bool {
    temporary_pid(name).is_some()
}

/// The pid in a temporary's name `.<name>.tmp-<pid>-<n>[.<ext>]`.
fn temporary_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?;
    let (_, tail) = rest.rsplit_once(TAG)?;
    let (pid, counter) = tail.split_once('-')?;
    let counter = counter.split_once('.').map_or(counter, |(n, _)| n);
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(pid) && digits(counter))
        .then(|| pid.parse().ok())
        .flatten()
}

/// A temporary name beside `target`, unique within this process.
fn temporary_for(target: &Path) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = target
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    let tmp = format!(".{name}{TAG}{}-{n}{ext}", std::process::id());
    parent(target).join(tmp)
}

fn parent(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Removes a file or a directory tree.
fn remove(path: &Path) -> std::io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// fsync of a file, or of every file and directory of a tree.
fn sync_tree(path: &Path) -> std::io::Result<()> {
    if fs::symlink_metadata(path)?.is_dir() {
        for entry in fs::read_dir(path)? {
            sync_tree(&entry?.path())?;
        }
        sync_dir(path)
    } else {
        File::open(path)?.sync_all()
    }
}

/// fsync of a directory, so that a rename in it is durable. File systems that cannot sync a
/// directory (they answer "invalid argument") are left as they are.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    match File::open(dir).and_then(|d| d.sync_all()) {
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut n: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    }

    #[test]
    fn write_replaces_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/out.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(names(p.parent().unwrap()), ["out.json"]);
    }

    #[test]
    fn failed_fill_keeps_the_old_file_and_says_the_disk_is_full() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.bin");
        write_atomic(&p, b"old").unwrap();
        let err = write_atomic_with(&p, |f| {
            f.write_all(b"partial")?;
            Err(std::io::Error::from_raw_os_error(28))
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "cannot write {}: No space left on device (os error 28) (the disk is full: free \
                 some space and re-run; the previous version of the file is untouched)",
                p.display()
            )
        );
        assert!(
            std::error::Error::source(&err).is_none(),
            "cause printed once"
        );
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(names(dir.path()), ["out.bin"]);
    }

    #[test]
    fn temporaries_keep_the_extension_and_are_recognised() {
        let t = temporary_for(Path::new("dir/plot.png"));
        let name = t.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with(".plot.png.tmp-") && name.ends_with(".png"),
            "{name}"
        );
        assert!(is_temporary(&name));
        assert_eq!(temporary_pid(&name), Some(std::process::id()));
        for other in [
            "plot.png",
            ".plot.png",
            ".a.tmp-12",
            ".a.tmp-x-1",
            ".a.tmp--1",
            "a.tmp-1-2",
        ] {
            assert!(!is_temporary(other), "{other}");
        }
        assert!(is_temporary(
            ".shard-00003.safetensors.tmp-4242-17.safetensors"
        ));
    }

    #[test]
    fn directories_are_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("set");
        for content in ["one", "two"] {
            let tmp = AtomicPath::new(&target).unwrap();
            fs::create_dir(tmp.path()).unwrap();
            fs::write(tmp.path().join("X"), content).unwrap();
            tmp.commit().unwrap();
        }
        assert_eq!(fs::read_to_string(target.join("X")).unwrap(), "two");
        assert_eq!(names(dir.path()), ["set"]);
        // Dropped uncommitted: nothing is left and the target is untouched.
        let tmp = AtomicPath::new(&target).unwrap();
        fs::create_dir(tmp.path()).unwrap();
        drop(tmp);
        assert_eq!(names(dir.path()), ["set"]);
    }

    #[test]
    fn sweep_removes_stale_temporaries_of_other_processes_only() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join(".a.json.tmp-999999999-0"), b"x").unwrap();
        fs::create_dir(d.join(".features.tmp-999999999-3")).unwrap();
        fs::write(d.join(".features.tmp-999999999-3/X.npy"), b"x").unwrap();
        let own = temporary_for(&d.join("b.json"));
        fs::write(&own, b"in flight").unwrap();
        fs::write(d.join("kept.json"), b"x").unwrap();
        let removed = sweep_temporaries(d).unwrap();
        assert_eq!(removed.len(), 2, "{removed:?}");
        let own_name = own.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(names(d), [own_name, "kept.json".to_string()]);
        assert!(sweep_temporaries(&d.join("missing")).unwrap().is_empty());
    }

    #[test]
    fn sweeping_one_target_leaves_the_temporaries_of_its_neighbours() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for name in [
            ".ab12.json.tmp-999999999-0.json",
            ".ab12.json.tmp-999999998-4.json",
            ".ab123.json.tmp-999999999-1.json",
            ".cd34.json.tmp-999999999-2.json",
        ] {
            fs::write(d.join(name), b"x").unwrap();
        }
        let removed = sweep_temporaries_of(&d.join("ab12.json")).unwrap();
        assert_eq!(removed.len(), 2, "{removed:?}");
        assert_eq!(
            names(d),
            [
                ".ab123.json.tmp-999999999-1.json",
                ".cd34.json.tmp-999999999-2.json"
            ]
        );
    }
}
