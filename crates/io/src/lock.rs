//! Exclusive file locks, one per task of a run directory, so that two processes never do the same
//! task at once (a double submission on a cluster, two `hiercog run` on one directory).
//!
//! The lock is the operating system's (`flock`): it is released when the
//! holder drops it or dies, so a lock left by a killed process is free again. The lock file holds
//! the holder's pid and host while it is held, to say who holds it; a holder that releases it
//! empties the file, so text found in a free lock file is that of a process that died holding it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// A held lock; dropping it releases it.
#[derive(Debug)]
pub struct FileLock {
    file: File,
    path: PathBuf,
    taken_over: Option<String>,
}

impl FileLock {
    /// Takes the lock at `path` (creating the file and its directory). If another process holds
    /// it, calls `waiting` once with the holder (`pid N on HOST`) and blocks until it is free.
    pub fn acquire(path: &Path, waiting: impl FnOnce(&str)) -> Result<FileLock> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(Error::write(dir))?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(Error::write(path))?;
        let mut waited = false;
        if !flock(&file, false).map_err(Error::write(path))? {
            waiting(&holder_text(&mut file).unwrap_or_else(|| "another process".into()));
            flock(&file, true).map_err(Error::write(path))?;
            waited = true;
        }
        // Text in a lock that was free: its holder died without releasing it.
        let taken_over = if waited { None } else { holder_text(&mut file) };
        let me = format!("pid {} on {}", std::process::id(), host());
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(me.as_bytes()))
            .and_then(|()| file.sync_data())
            .map_err(Error::write(path))?;
        Ok(FileLock {
            file,
            path: path.to_path_buf(),
            taken_over,
        })
    }

    /// The holder (`pid N on HOST`) of a lock that was found free but not released: a process
    /// that died holding it, whose lock this one took over.
    pub fn taken_over(&self) -> Option<&str> {
        self.taken_over.as_deref()
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Closing the file (after this) releases the lock.
        let _ = self.file.set_len(0);
    }
}

/// Takes the exclusive `flock` of `file`: waits for it when `wait`, else returns whether it was
/// free (false: another open file holds it).
fn flock(file: &File, wait: bool) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    let op = if wait {
        libc::LOCK_EX
    } else {
        libc::LOCK_EX | libc::LOCK_NB
    };
    loop {
        // SAFETY: the descriptor is open for as long as `file` lives.
        if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
            return Ok(true);
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EWOULDBLOCK) if !wait => return Ok(false),
            _ => return Err(e),
        }
    }
}

/// The holder written in a lock file, if any.
fn holder_text(file: &mut File) -> Option<String> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// This machine's name, for lock holders (a cluster's nodes share the run directory).
fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "this host".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_names_its_holder_and_a_released_one_is_clean() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("locks/prepare.lock");
        let first = FileLock::acquire(&path, |_| panic!("free")).unwrap();
        assert_eq!(first.taken_over(), None);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with(&format!("pid {} on ", std::process::id())),
            "{text}"
        );
        // Another open file description of the same file conflicts, as another process would.
        let mut other = OpenOptions::new().read(true).open(&path).unwrap();
        assert!(!flock(&other, false).unwrap());
        assert_eq!(holder_text(&mut other).as_deref(), Some(text.as_str()));
        drop(other);
        drop(first);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
        let again = FileLock::acquire(&path, |_| panic!("free")).unwrap();
        assert_eq!(again.taken_over(), None);
    }

    #[test]
    fn the_lock_of_a_dead_holder_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("extract.lock");
        // What a process killed while holding the lock leaves: its line, and no lock.
        std::fs::write(&path, "pid 4242 on node7").unwrap();
        let lock = FileLock::acquire(&path, |_| panic!("free")).unwrap();
        assert_eq!(lock.taken_over(), Some("pid 4242 on node7"));
    }
}
