//! Image lists: ImageNet-style class folders, `path<TAB>label` files, and the labelled items
//! the extraction loop consumes.

use crate::error::{read_err, Error, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Images with integer labels and the class name (wnid) of each label.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageSet {
    /// `(path, label)` in a fixed order (the row order of the extracted features).
    pub items: Vec<(PathBuf, u32)>,
    /// `classes[label]` is the class name, a wnid for ImageNet layouts.
    pub classes: Vec<String>,
    /// Files under the root that are not JPEG/PNG and were left out, for the report.
    pub ignored: Vec<PathBuf>,
}

/// Whether a file name looks like a JPEG or PNG (case-insensitive, e.g. `.JPEG`).
pub fn is_image_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
}

impl ImageSet {
    /// `root/<class>/<image>` (ImageNet `train/`, `val/` in class folders, IN-21K
    /// `root/<wnid>/`): classes sorted by name, label = position, images sorted by path —
    /// torchvision `ImageFolder`'s order.
    pub fn from_folder(root: &Path) -> Result<Self> {
        let mut class_dirs: Vec<PathBuf> = read_dir_sorted(root)?
            .into_iter()
            .filter(|p| p.is_dir())
            .collect();
        class_dirs.sort();
        if class_dirs.is_empty() {
            return Err(Error::Dataset {
                path: root.to_path_buf(),
                reason: "no class sub-folders; expected root/<class>/<image>".into(),
            });
        }
        let mut set = ImageSet::default();
        for dir in class_dirs {
            let label = set.classes.len() as u32;
            set.classes.push(
                dir.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
            );
            let mut files = Vec::new();
            collect_files(&dir, &mut files)?;
            files.sort();
            for f in files {
                if is_image_file(&f) {
                    set.items.push((f, label));
                } else {
                    set.ignored.push(f);
                }
            }
        }
        Ok(set)
    }

    /// A list file, one image per line: `path<TAB>label`, where label is a class name (e.g. a
    /// wnid) or a non-negative integer. Relative paths are relative to `base` (default: the
    /// list's folder). Class names are sorted to give labels; integer labels are kept as given.
    /// A line file ([`hiercog_io::LineFile`]): `#` comments and blank lines are skipped.
    pub fn from_list(list: &Path, base: Option<&Path>) -> Result<Self> {
        let file = hiercog_io::LineFile::read(list)?;
        let base = base
            .map(Path::to_path_buf)
            .unwrap_or_else(|| list.parent().map(Path::to_path_buf).unwrap_or_default());
        let mut rows = Vec::new();
        for (number, line) in file.lines() {
            let (path, label) = line.split_once('\t').ok_or_else(|| {
                file.error(number, format!("expected `path<TAB>label`, got {line:?}"))
            })?;
            let p = Path::new(path);
            let p = if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            };
            rows.push((p, label.trim().to_string()));
        }
        if rows.is_empty() {
            return Err(Error::Dataset {
                path: list.to_path_buf(),
                reason: "no images listed".into(),
            });
        }
        let numeric = rows.iter().all(|(_, l)| l.parse::<u32>().is_ok());
        let mut set = ImageSet::default();
        if numeric {
            let max = rows
                .iter()
                .map(|(_, l)| l.parse::<u32>().expect("checked"))
                .max()
                .unwrap_or(0);
            set.classes = (0..=max).map(|i| i.to_string()).collect();
            set.items = rows
                .into_iter()
                .map(|(p, l)| (p, l.parse().expect("checked")))
                .collect();
        } else {
            let mut names: BTreeMap<String, u32> =
                rows.iter().map(|(_, l)| (l.clone(), 0)).collect();
            for (i, v) in names.values_mut().enumerate() {
                *v = i as u32;
            }
            set.classes = names.keys().cloned().collect();
            set.items = rows.into_iter().map(|(p, l)| (p, names[&l])).collect();
        }
        Ok(set)
    }
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read_err(dir))?
        .map(|e| e.map(|e| e.path()).map_err(read_err(dir)))
        .collect::<Result<_>>()?;
    v.sort();
    Ok(v)
}

/// All files below `dir`, recursively (ImageFolder also walks nested folders).
fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for p in read_dir_sorted(dir)? {
        if p.is_dir() {
            collect_files(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_layout_gives_sorted_classes() {
        let d = tempfile::tempdir().unwrap();
        for (c, f) in [
            ("n02", "b.JPEG"),
            ("n01", "z.png"),
            ("n01", "a.jpg"),
            ("n01", "notes.txt"),
        ] {
            std::fs::create_dir_all(d.path().join(c)).unwrap();
            std::fs::write(d.path().join(c).join(f), b"").unwrap();
        }
        let s = ImageSet::from_folder(d.path()).unwrap();
        assert_eq!(s.classes, ["n01", "n02"]);
        let names: Vec<_> = s
            .items
            .iter()
            .map(|(p, l)| (p.file_name().unwrap().to_str().unwrap().to_string(), *l))
            .collect();
        assert_eq!(
            names,
            [
                ("a.jpg".into(), 0),
                ("z.png".into(), 0),
                ("b.JPEG".to_string(), 1)
            ]
        );
        assert_eq!(s.ignored.len(), 1);
    }

    #[test]
    fn lists_with_wnids_or_integers() {
        let d = tempfile::tempdir().unwrap();
        let l = d.path().join("list.tsv");
        std::fs::write(&l, "# comment\nx/a.jpg\tn02\n/abs/b.jpg\tn01\n\n").unwrap();
        let s = ImageSet::from_list(&l, None).unwrap();
        assert_eq!(s.classes, ["n01", "n02"]);
        assert_eq!(s.items[0], (d.path().join("x/a.jpg"), 1));
        assert_eq!(s.items[1], (PathBuf::from("/abs/b.jpg"), 0));
        std::fs::write(&l, "a.jpg\t3\nb.jpg\t0\n").unwrap();
        let s = ImageSet::from_list(&l, None).unwrap();
        assert_eq!(s.classes.len(), 4);
        assert_eq!(s.items[0].1, 3);
    }

    #[test]
    fn malformed_list_line_is_located() {
        let d = tempfile::tempdir().unwrap();
        let l = d.path().join("list.tsv");
        std::fs::write(&l, "a.jpg\t1\nb.jpg 2\n").unwrap();
        match ImageSet::from_list(&l, None) {
            Err(Error::Io(hiercog_io::Error::Line { line, .. })) => assert_eq!(line, 2),
            other => panic!("{other:?}"),
        }
    }
}
