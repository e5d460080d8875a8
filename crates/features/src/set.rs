//! The in-memory (or memory-mapped) feature set and its checks.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::formats::{self, Format};
use crate::{Error, Result};

/// Where the matrix lives: an owned vector, or a read-only mapping of a file (no copy).
pub(crate) enum Matrix {
    Owned(Vec<f32>),
    Mapped {
        map: Mmap,
        offset: usize,
        len: usize,
    },
}

impl Matrix {
    fn as_slice(&self) -> &[f32] {
        match self {
            Matrix::Owned(v) => v,
            Matrix::Mapped { map, offset, len } => {
                let bytes = &map[*offset..*offset + len * 4];
                // SAFETY: `mapped` only builds this variant for 4-byte-aligned little-endian f32 data
                // of exactly `len` elements inside the mapping, which lives as long as `self`.
                unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<f32>(), *len) }
            }
        }
    }

    /// Maps `len` f32 values at `offset` of `map`, or copies them when they are not aligned.
    pub(crate) fn mapped(map: Mmap, offset: usize, len: usize) -> Matrix {
        let aligned = (map.as_ptr() as usize + offset).is_multiple_of(std::mem::align_of::<f32>());
        if aligned && cfg!(target_endian = "little") {
            Matrix::Mapped { map, offset, len }
        } else {
            Matrix::Owned(
                map[offset..offset + len * 4]
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            )
        }
    }
}

/// Bytes copied between two releases of a mapping's pages in [`copy_releasing`].
const RELEASE_CHUNK: usize = 64 << 20;

/// `values`, the f32 data at `offset` of `map`, copied `step` values at a time, each chunk's
/// pages dropped from the resident set after its copy.
fn copy_releasing(values: &[f32], map: &Mmap, offset: usize, step: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(values.len());
    for (i, chunk) in values.chunks(step).enumerate() {
        out.extend_from_slice(chunk);
        #[cfg(unix)]
        // SAFETY: the mapping is shared and read-only (`Mmap::map`): MADV_DONTNEED only unmaps
        // the pages, which the page cache still holds and a later read (the next chunks, which
        // may share the released range's edge pages) faults back in with the same contents. An
        // error (advice unsupported) only means the pages stay resident.
        let _ = unsafe {
            map.unchecked_advise_range(
                memmap2::UncheckedAdvice::DontNeed,
                offset + i * step * 4,
                chunk.len() * 4,
            )
        };
    }
    out
}

/// Features of `rows` images (`dim` values each, row-major), their class labels and class names.
pub struct FeatureSet {
    pub(crate) x: Matrix,
    dim: usize,
    /// Class index of each row.
    pub labels: Vec<u32>,
    /// Class name (wnid) of each class index, when known.
    pub class_names: Option<Vec<String>>,
    /// The file or directory the set was loaded from.
    pub source: Option<PathBuf>,
}

impl std::fmt::Debug for FeatureSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeatureSet")
            .field("rows", &self.rows())
            .field("dim", &self.dim)
            .field("classes", &self.num_classes())
            .field("source", &self.source)
            .finish()
    }
}

impl FeatureSet {
    /// Loads a feature set; the format follows the path: a directory (`X.npy`, `Y.npy`,
    /// optional `classes.txt`), `.npz`, `.safetensors` or `.pth`.
    pub fn load(path: &Path) -> Result<Self> {
        let format = Format::of_path(path)?;
        let mut set = formats::load(path, format)?;
        set.source = Some(path.to_path_buf());
        Ok(set)
    }

    /// A set from memory; `x.len()` must be `labels.len() × dim`.
    pub fn from_vec(
        x: Vec<f32>,
        dim: usize,
        labels: Vec<u32>,
        class_names: Option<Vec<String>>,
    ) -> Result<Self> {
        Self::new(Matrix::Owned(x), dim, labels, class_names, None)
    }

    pub(crate) fn new(
        x: Matrix,
        dim: usize,
        labels: Vec<u32>,
        class_names: Option<Vec<String>>,
        path: Option<&Path>,
    ) -> Result<Self> {
        let shown = path.unwrap_or(Path::new(IN_MEMORY));
        FeatureView::new(x.as_slice(), dim, &labels, None, shown)?;
        Ok(FeatureSet {
            x,
            dim,
            labels,
            class_names,
            source: path.map(Path::to_path_buf),
        })
    }

    /// Number of rows (samples).
    pub fn rows(&self) -> usize {
        self.labels.len()
    }

    /// Feature dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The whole matrix, row-major.
    pub fn x(&self) -> &[f32] {
        self.x.as_slice()
    }

    /// Row `i`'s features.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.x()[i * self.dim..(i + 1) * self.dim]
    }

    /// Number of classes: the class names if known, else the largest label + 1.
    pub fn num_classes(&self) -> usize {
        self.view().num_classes()
    }

    /// The set as a borrowed [`FeatureView`] (what the checks and the preprocessing read).
    pub fn view(&self) -> FeatureView<'_> {
        FeatureView {
            x: self.x(),
            dim: self.dim,
            labels: &self.labels,
            class_names: self.class_names.as_deref(),
            source: self.source.as_deref().unwrap_or(Path::new(IN_MEMORY)),
        }
    }

    /// Whether the matrix is memory-mapped rather than held in memory.
    pub fn is_mapped(&self) -> bool {
        matches!(self.x, Matrix::Mapped { .. })
    }

    /// Takes the matrix (row-major, owned) and the labels out of the set, for code that goes on
    /// to transform the matrix in place ([`FittedPreprocess::transform_in_place`](crate::FittedPreprocess::transform_in_place)).
    ///
    /// An owned matrix is moved out. A memory-mapped one is copied chunk by chunk, and each chunk
    /// of the mapping is released from this process's resident memory once copied: the file's
    /// pages (which count in the resident set once read, e.g. by [`check_pair`]) and the copy are
    /// never both held, so a full ImageNet-1K train set (10.5 GB) peaks at one copy, not two.
    pub fn into_matrix_and_labels(self) -> (Vec<f32>, Vec<u32>) {
        let x = match self.x {
            Matrix::Owned(v) => v,
            ref mapped @ Matrix::Mapped {
                ref map, offset, ..
            } => copy_releasing(mapped.as_slice(), map, offset, RELEASE_CHUNK / 4),
        };
        (x, self.labels)
    }

    /// Checks that every value is finite and that labels are 0..C-1 with every class present.
    pub fn validate(&self) -> Result<()> {
        self.view().validate()
    }

    /// Writes the set in `format` at `path`, atomically.
    pub fn save(&self, path: &Path, format: Format) -> Result<()> {
        formats::save(self, path, format)
    }
}

/// How a set without a file is named in messages.
const IN_MEMORY: &str = "<memory>";

/// A borrowed feature matrix with its labels, class names and name: what the checks
/// ([`FeatureView::validate`], [`check_pair`]) and the preprocessing read, so that a matrix held
/// elsewhere (a numpy array handed over by the Python package) is checked and normalised without
/// first being copied into a [`FeatureSet`].
#[derive(Clone, Copy, Debug)]
pub struct FeatureView<'a> {
    x: &'a [f32],
    dim: usize,
    labels: &'a [u32],
    class_names: Option<&'a [String]>,
    source: &'a Path,
}

impl<'a> From<&'a FeatureSet> for FeatureView<'a> {
    fn from(set: &'a FeatureSet) -> Self {
        set.view()
    }
}

impl<'a> FeatureView<'a> {
    /// Views `x` (row-major, `labels.len() × dim`) with its labels; `source` names the matrix in
    /// error messages (a path, or e.g. `X_train`). Fails as [`FeatureSet::from_vec`] does on a
    /// shape that does not fit.
    pub fn new(
        x: &'a [f32],
        dim: usize,
        labels: &'a [u32],
        class_names: Option<&'a [String]>,
        source: &'a Path,
    ) -> Result<Self> {
        if dim == 0 || !x.len().is_multiple_of(dim) {
            return Err(Error::format(
                source.to_path_buf(),
                format!("{} values cannot form rows of dimension {dim}", x.len()),
            ));
        }
        if x.len() / dim != labels.len() {
            return Err(Error::RowMismatch {
                path: source.to_path_buf(),
                rows: x.len() / dim,
                labels: labels.len(),
            });
        }
        Ok(FeatureView {
            x,
            dim,
            labels,
            class_names,
            source,
        })
    }

    /// The whole matrix, row-major.
    pub fn x(&self) -> &'a [f32] {
        self.x
    }

    /// Feature dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.labels.len()
    }

    /// Class index of each row.
    pub fn labels(&self) -> &'a [u32] {
        self.labels
    }

    /// Number of classes: the class names if known, else the largest label + 1.
    pub fn num_classes(&self) -> usize {
        match self.class_names {
            Some(names) => names.len(),
            None => self.labels.iter().max().map_or(0, |&m| m as usize + 1),
        }
    }

    fn shown(&self) -> PathBuf {
        self.source.to_path_buf()
    }

    /// Checks that every value is finite, naming the rows that are not.
    pub fn check_finite(&self) -> Result<()> {
        check_finite(self.source, self.x, self.dim)
    }

    /// Checks that every value is finite and that labels are 0..C-1 with every class present.
    pub fn validate(&self) -> Result<()> {
        self.check_finite()?;
        let c = self.num_classes();
        if let Some(&l) = self.labels.iter().find(|&&l| l as usize >= c) {
            return Err(Error::Labels {
                path: self.shown(),
                problem: format!("label {l} is out of range for {c} classes"),
            });
        }
        let present: BTreeSet<u32> = self.labels.iter().copied().collect();
        if present.len() != c {
            let missing: Vec<String> = (0..c as u32)
                .filter(|l| !present.contains(l))
                .take(5)
                .map(|l| l.to_string())
                .collect();
            return Err(Error::Labels {
                path: self.shown(),
                problem: format!(
                    "{} of {c} classes have no row (e.g. {})",
                    c - present.len(),
                    missing.join(", ")
                ),
            });
        }
        Ok(())
    }
}

/// Checks that every value of the `dim`-wide rows `x` is finite, naming the rows that are not
/// (`source` names the matrix: a path, or e.g. `X_train`).
pub fn check_finite(source: &Path, x: &[f32], dim: usize) -> Result<()> {
    let bad: Vec<usize> = x
        .chunks(dim.max(1))
        .enumerate()
        .filter(|(_, row)| row.iter().any(|v| !v.is_finite()))
        .map(|(i, _)| i)
        .collect();
    if !bad.is_empty() {
        return Err(Error::NonFinite {
            path: source.to_path_buf(),
            count: bad.len(),
            examples: list_rows(&bad),
        });
    }
    Ok(())
}

/// "rows 3, 17 and 2 more".
fn list_rows(rows: &[usize]) -> String {
    let shown: Vec<String> = rows.iter().take(5).map(|r| r.to_string()).collect();
    match rows.len() {
        1 => format!("row {}", shown[0]),
        n if n <= 5 => format!("rows {}", shown.join(", ")),
        n => format!("rows {} and {} more", shown.join(", "), n - 5),
    }
}

/// Checks that a train and a test set can be used together: both valid, same dimension, same
/// classes (every class present in both, same class names when both have them).
pub fn check_pair<'a>(
    train: impl Into<FeatureView<'a>>,
    test: impl Into<FeatureView<'a>>,
) -> Result<()> {
    let (train, test) = (train.into(), test.into());
    let mismatch = |problem: String| Error::Mismatch {
        train: train.shown(),
        test: test.shown(),
        problem,
    };
    if train.dim() != test.dim() {
        return Err(mismatch(format!(
            "features are {}-d in train but {}-d in test: were they extracted with the same model?",
            train.dim(),
            test.dim()
        )));
    }
    train.validate()?;
    test.validate()?;
    if let (Some(a), Some(b)) = (train.class_names, test.class_names) {
        if a != b {
            let diff: Vec<&String> = a
                .iter()
                .filter(|n| !b.contains(n))
                .chain(b.iter().filter(|n| !a.contains(n)))
                .take(5)
                .collect();
            return Err(mismatch(format!(
                "the class lists differ (e.g. {diff:?}); every class must be in both"
            )));
        }
    } else if train.num_classes() != test.num_classes() {
        return Err(mismatch(format!(
            "{} classes in train but {} in test",
            train.num_classes(),
            test.num_classes()
        )));
    }
    Ok(())
}

/// Maps arbitrary labels to 0..C-1 in increasing order; returns the new labels and, for each new
/// index, the old label.
pub fn remap_labels(labels: &[u32]) -> (Vec<u32>, Vec<u32>) {
    let old: Vec<u32> = labels
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let new = labels
        .iter()
        .map(|l| old.binary_search(l).expect("present") as u32)
        .collect();
    (new, old)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(x: Vec<f32>, labels: Vec<u32>) -> FeatureSet {
        FeatureSet::from_vec(x, 2, labels, None).unwrap()
    }

    /// A mapped matrix taken out in chunks that split pages and rows unevenly equals the mapping.
    #[test]
    fn mapped_matrix_is_copied_whole_in_released_chunks() {
        let values: Vec<f32> = (0..10_000).map(|i| i as f32 * 0.5 - 7.0).collect();
        let mut bytes = vec![0u8; 12]; // a header: the data starts off the page boundary
        bytes.extend(values.iter().flat_map(|v| v.to_le_bytes()));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.bin");
        std::fs::write(&path, &bytes).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        // SAFETY: a read-only mapping of a file this test alone writes, before mapping it.
        let map = unsafe { Mmap::map(&file) }.unwrap();
        let matrix = Matrix::mapped(map, 12, values.len());
        let Matrix::Mapped { map, .. } = &matrix else {
            panic!("aligned f32 data is mapped")
        };
        for step in [1, 777, 1024, 10_000, 20_000] {
            assert_eq!(
                copy_releasing(matrix.as_slice(), map, 12, step),
                values,
                "step {step}"
            );
        }
        let set = FeatureSet::new(
            matrix,
            4,
            (0..2500).map(|i| i % 3).collect(),
            None,
            Some(&path),
        )
        .unwrap();
        assert!(set.is_mapped());
        let (x, labels) = set.into_matrix_and_labels();
        assert_eq!((x, labels.len()), (values, 2500));
    }

    #[test]
    fn shape_errors() {
        assert!(matches!(
            FeatureSet::from_vec(vec![0.0; 6], 2, vec![0, 1], None),
            Err(Error::RowMismatch {
                rows: 3,
                labels: 2,
                ..
            })
        ));
        assert!(FeatureSet::from_vec(vec![0.0; 5], 2, vec![0, 1], None).is_err());
    }

    #[test]
    fn validate_names_nonfinite_rows_and_label_gaps() {
        let s = set(
            vec![0.0, 1.0, f32::NAN, 0.0, 1.0, f32::INFINITY],
            vec![0, 1, 0],
        );
        let msg = s.validate().unwrap_err().to_string();
        assert!(msg.contains("rows 1, 2"), "{msg}");
        let s = set(vec![0.0; 4], vec![0, 2]);
        let msg = s.validate().unwrap_err().to_string();
        assert!(
            msg.contains("1 of 3 classes have no row (e.g. 1)") && msg.contains("remap"),
            "{msg}"
        );
        let s = FeatureSet::from_vec(
            vec![0.0; 4],
            2,
            vec![0, 5],
            Some(vec!["a".into(), "b".into()]),
        )
        .unwrap();
        assert!(s
            .validate()
            .unwrap_err()
            .to_string()
            .contains("label 5 is out of range for 2 classes"));
    }

    #[test]
    fn pair_checks() {
        let a = set(vec![0.0; 4], vec![0, 1]);
        let b = FeatureSet::from_vec(vec![0.0; 6], 3, vec![0, 1], None).unwrap();
        assert!(check_pair(&a, &b)
            .unwrap_err()
            .to_string()
            .contains("2-d in train but 3-d in test"));
        let c = set(vec![0.0; 6], vec![0, 1, 2]);
        assert!(check_pair(&a, &c)
            .unwrap_err()
            .to_string()
            .contains("2 classes in train but 3 in test"));
        let named = |n: &[&str]| {
            FeatureSet::from_vec(
                vec![0.0; 4],
                2,
                vec![0, 1],
                Some(n.iter().map(|s| s.to_string()).collect()),
            )
            .unwrap()
        };
        assert!(check_pair(&named(&["x", "y"]), &named(&["x", "z"]))
            .unwrap_err()
            .to_string()
            .contains("class lists differ"));
        check_pair(&named(&["x", "y"]), &named(&["x", "y"])).unwrap();
    }

    #[test]
    fn a_view_is_checked_under_its_own_name() {
        let x = [0.0, 1.0, f32::NAN, 0.0];
        let msg = FeatureView::new(&x, 2, &[0, 1], None, Path::new("X_train"))
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with("X_train: non-finite features") && msg.contains("row 1"),
            "{msg}"
        );
        let msg = FeatureView::new(&x, 2, &[0], None, Path::new("X_test"))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("X_test: 2 rows of features but 1 labels"),
            "{msg}"
        );
        let ok = FeatureView::new(&x[..2], 2, &[0], None, Path::new("a")).unwrap();
        let b = [0.0, 1.0, 2.0];
        let other = FeatureView::new(&b, 3, &[0], None, Path::new("b")).unwrap();
        assert!(check_pair(ok, other)
            .unwrap_err()
            .to_string()
            .contains("train (a) and test (b) disagree: features are 2-d in train but 3-d"));
    }

    #[test]
    fn remap() {
        assert_eq!(
            remap_labels(&[7, 3, 7, 10]),
            (vec![1, 0, 1, 2], vec![3, 7, 10])
        );
    }
}
