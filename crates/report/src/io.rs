//! Atomic file writes: write beside the target, then rename over it.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// A temporary path in the same directory as `target` (so the rename is atomic) that keeps the target's
/// extension (the PNG encoder picks its format from it).
pub(crate) fn temp_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = target
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = format!(".{name}.tmp{}.{ext}", std::process::id());
    target.with_file_name(tmp)
}

/// Moves a finished temporary file over `target`; removes the temporary file if that fails.
pub(crate) fn commit(tmp: &Path, target: &Path) -> Result<()> {
    std::fs::rename(tmp, target).map_err(|source| {
        let _ = std::fs::remove_file(tmp);
        Error::Io {
            path: target.to_path_buf(),
            source,
        }
    })
}

/// Writes `bytes` to `target` atomically (temporary file beside it, then rename), creating the
/// parent directory: readers never see a half-written `report.md`/`report.json`.
pub fn write_atomic(target: &Path, bytes: &[u8]) -> Result<()> {
    ensure_parent(target)?;
    let tmp = temp_path(target);
    if let Err(source) = std::fs::write(&tmp, bytes) {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::Io {
            path: target.to_path_buf(),
            source,
        });
    }
    commit(&tmp, target)
}

/// Creates the parent directory of `target` if needed.
pub(crate) fn ensure_parent(target: &Path) -> Result<()> {
    match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                path: dir.to_path_buf(),
                source,
            })
        }
        _ => Ok(()),
    }
}
