//! Image trees `ROOT/<concept>/<image>`: counting images per concept (streaming, with a progress
//! callback) and listing one concept's images for the splits.

use std::path::Path;

use crate::error::{Error, Result};
use crate::inputs::{ImageCounts, InputRef};

/// File extensions counted as images (compared case-insensitively).
pub const IMAGE_EXTENSIONS: [&str; 8] = ["jpeg", "jpg", "png", "bmp", "gif", "webp", "tif", "tiff"];

/// Progress of [`count_images`], reported after each concept folder.
#[derive(Clone, Debug)]
pub struct CountProgress<'a> {
    /// Concept folders done so far.
    pub done: usize,
    /// Concept folders in the tree.
    pub total: usize,
    /// The folder just counted.
    pub concept: &'a str,
    /// Its number of images.
    pub images: u64,
}

/// Counts the images directly inside each sub-directory of `root` (one folder per concept, named
/// by its wnid or label; hidden entries and non-image files are skipped, nothing is decoded).
/// Folders are visited in name order and never listed in full, so a 14-million-image ImageNet-21K
/// tree is counted in constant memory. Empty folders are kept with a count of 0.
pub fn count_images(
    root: &Path,
    mut on_progress: impl FnMut(&CountProgress<'_>),
) -> Result<ImageCounts> {
    let concepts = concept_folders(root)?;
    let mut counts = Vec::with_capacity(concepts.len());
    for (i, name) in concepts.iter().enumerate() {
        let dir = root.join(name);
        let mut n = 0u64;
        for entry in std::fs::read_dir(&dir).map_err(|e| Error::read(&dir, e))? {
            let entry = entry.map_err(|e| Error::read(&dir, e))?;
            if is_image_name(&entry.file_name().to_string_lossy()) && is_file(&entry.path()) {
                n += 1;
            }
        }
        on_progress(&CountProgress {
            done: i + 1,
            total: concepts.len(),
            concept: name,
            images: n,
        });
        counts.push((name.clone(), n));
    }
    let tsv: String = counts.iter().map(|(c, n)| format!("{c}\t{n}\n")).collect();
    let source = InputRef::new(
        format!("images:{}", root.display()),
        tsv.as_bytes(),
        counts.len(),
    );
    Ok(ImageCounts::new(source, counts))
}

/// Sub-directory names of `root`, sorted; an error when there is none.
pub fn concept_folders(root: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root).map_err(|e| Error::read(root, e))? {
        let entry = entry.map_err(|e| Error::read(root, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') && entry.path().is_dir() {
            out.push(name);
        }
    }
    if out.is_empty() {
        return Err(Error::NoConceptFolders(root.to_path_buf()));
    }
    out.sort();
    Ok(out)
}

/// Image file names directly inside `dir`, sorted (byte order), so that a seeded shuffle of them
/// is reproducible whatever order the file system lists them in.
pub(crate) fn list_images(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::read(dir, e))? {
        let entry = entry.map_err(|e| Error::read(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_image_name(&name) && is_file(&entry.path()) {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

fn is_image_name(name: &str) -> bool {
    !name.starts_with('.')
        && name
            .rsplit_once('.')
            .is_some_and(|(_, ext)| IMAGE_EXTENSIONS.iter().any(|e| e.eq_ignore_ascii_case(ext)))
}

/// True for a regular file or a link to one.
fn is_file(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(p: &Path) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"x").unwrap();
    }

    #[test]
    fn counts_images_per_folder_and_reports_progress() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        touch(&r.join("n2/a.JPEG"));
        touch(&r.join("n2/b.jpg"));
        touch(&r.join("n2/notes.txt"));
        touch(&r.join("n2/.hidden.jpg"));
        touch(&r.join("n1/c.png"));
        std::fs::create_dir_all(r.join("n3")).unwrap();
        std::fs::create_dir_all(r.join("n2/sub.jpg")).unwrap();
        touch(&r.join("stray.jpg"));
        let mut seen = Vec::new();
        let c = count_images(r, |p| {
            seen.push((p.done, p.total, p.concept.to_string(), p.images))
        })
        .unwrap();
        assert_eq!(
            c.entries(),
            [("n1".into(), 1), ("n2".into(), 2), ("n3".into(), 0)]
        );
        assert_eq!(seen.last().unwrap(), &(3, 3, "n3".to_string(), 0));
        assert_eq!(list_images(&r.join("n2")).unwrap(), ["a.JPEG", "b.jpg"]);
    }

    #[test]
    fn a_tree_without_folders_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        touch(&dir.path().join("a.jpg"));
        let err = count_images(dir.path(), |_| {}).unwrap_err();
        assert!(matches!(err, Error::NoConceptFolders(_)), "{err}");
        let missing = dir.path().join("nope");
        assert!(matches!(
            count_images(&missing, |_| {}).unwrap_err(),
            Error::Read { .. }
        ));
    }
}
