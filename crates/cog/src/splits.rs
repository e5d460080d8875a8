//! Per-concept train/test image splits: drawn from an image tree with a seed, or taken from the
//! official split file.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::images::list_images;

/// Which half of a concept's images.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Training images (the probe is fitted and tuned on them).
    Train,
    /// Held-out test images.
    Test,
}

impl std::fmt::Display for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Split::Train => "train",
            Split::Test => "test",
        })
    }
}

impl FromStr for Split {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "train" => Ok(Split::Train),
            "test" => Ok(Split::Test),
            _ => Err(format!("unknown split {s:?}: use train or test")),
        }
    }
}

/// One image of a level's split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitItem {
    /// Image path (joined to the images root when the benchmark knows it).
    pub path: PathBuf,
    /// Its concept.
    pub wnid: String,
    /// Class index of the concept within its level (sorted-wnid order).
    pub label: usize,
}

/// Image paths of one concept, relative to the images root.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConceptSplit {
    /// Training images.
    pub train: Vec<String>,
    /// Test images.
    pub test: Vec<String>,
}

/// Images per split written for one level.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitCounts {
    /// Level name.
    pub level: String,
    /// Training images in the level.
    pub train: usize,
    /// Test images in the level.
    pub test: usize,
}

/// How the splits were made, as recorded in the manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitsInfo {
    /// `image-tree` or `official:<file>`.
    pub source: String,
    /// Root the split paths are relative to, when known.
    pub images_root: Option<PathBuf>,
    /// Parameters of a drawn split (absent for the official one).
    pub params: Option<SplitParams>,
    /// Images written per level.
    pub per_level: Vec<SplitCounts>,
}

/// Where split files come from.
pub trait SplitSource {
    /// The manifest record (without the counts, filled in while writing).
    fn info(&self) -> SplitsInfo;
    /// The images of one concept.
    fn concept(&self, wnid: &str) -> Result<ConceptSplit>;
}

/// Parameters of a drawn split. Defaults follow ImageNet-CoG: 50 test images per concept and at
/// most 1,300 training images (naver/cog checks 732 <= train <= 1,300, test == 50).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitParams {
    /// Seed of the shuffles.
    pub seed: u64,
    /// Test images per concept.
    pub test: usize,
    /// Most training images per concept.
    pub train_cap: usize,
}

impl Default for SplitParams {
    fn default() -> Self {
        SplitParams {
            seed: 0,
            test: 50,
            train_cap: 1300,
        }
    }
}

/// Splits drawn from an image tree `root/<wnid>/<image>`.
///
/// Per concept: list its images, sort them by name, shuffle with a ChaCha8 generator seeded by
/// the first 8 bytes of SHA-256(seed as little-endian u64 ‖ wnid), take the first `test` as the
/// test set and up to `train_cap` of the rest as the training set. A concept's split depends only
/// on the seed, its name and its files, not on which other concepts are drawn.
#[derive(Clone, Debug)]
pub struct ImageTreeSplits {
    root: PathBuf,
    params: SplitParams,
}

impl ImageTreeSplits {
    /// Splits of the tree at `root`; `params.test` must be at least 1.
    pub fn new(root: impl Into<PathBuf>, params: SplitParams) -> Result<Self> {
        if params.test == 0 || params.train_cap == 0 {
            return Err(Error::InvalidParam(format!(
                "a split needs at least 1 test and 1 training image per concept (test {}, train cap {})",
                params.test, params.train_cap
            )));
        }
        Ok(ImageTreeSplits {
            root: root.into(),
            params,
        })
    }

    /// The tree's root.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl SplitSource for ImageTreeSplits {
    fn info(&self) -> SplitsInfo {
        SplitsInfo {
            source: "image-tree".into(),
            images_root: Some(self.root.clone()),
            params: Some(self.params),
            per_level: Vec::new(),
        }
    }

    fn concept(&self, wnid: &str) -> Result<ConceptSplit> {
        let dir = self.root.join(wnid);
        let mut files = list_images(&dir)?;
        let p = self.params;
        if files.len() <= p.test {
            return Err(Error::TooFewImages {
                wnid: wnid.into(),
                found: files.len(),
                needed: p.test + 1,
                test: p.test,
                dir,
            });
        }
        files.shuffle(&mut concept_rng(p.seed, wnid));
        let rel = |f: &String| format!("{wnid}/{f}");
        let test = files[..p.test].iter().map(rel).collect();
        let train = files[p.test..].iter().take(p.train_cap).map(rel).collect();
        Ok(ConceptSplit { train, test })
    }
}

/// The generator of one concept's shuffle (see [`ImageTreeSplits`]).
fn concept_rng(seed: u64, wnid: &str) -> rand_chacha::ChaCha8Rng {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update(wnid.as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    rand_chacha::ChaCha8Rng::seed_from_u64(u64::from_le_bytes(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(counts: &[(&str, usize)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (w, n) in counts {
            std::fs::create_dir_all(dir.path().join(w)).unwrap();
            for i in 0..*n {
                std::fs::write(dir.path().join(w).join(format!("{w}_{i}.JPEG")), b"").unwrap();
            }
        }
        dir
    }

    #[test]
    fn split_is_seeded_disjoint_capped_and_order_independent() {
        let t = tree(&[("a", 30), ("b", 8)]);
        let p = SplitParams {
            seed: 3,
            test: 5,
            train_cap: 20,
        };
        let s = ImageTreeSplits::new(t.path(), p).unwrap();
        let a = s.concept("a").unwrap();
        assert_eq!((a.test.len(), a.train.len()), (5, 20));
        let mut all: Vec<&String> = a.train.iter().chain(&a.test).collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 25);
        assert!(a.test.iter().all(|f| f.starts_with("a/a_")));
        assert_eq!(s.concept("a").unwrap(), a, "same seed, same split");
        let other = ImageTreeSplits::new(t.path(), SplitParams { seed: 4, ..p }).unwrap();
        assert_ne!(
            other.concept("a").unwrap().test,
            a.test,
            "another seed, another split"
        );
        let b = s.concept("b").unwrap();
        assert_eq!((b.test.len(), b.train.len()), (5, 3));
    }

    #[test]
    fn too_few_images_is_a_clear_error() {
        let t = tree(&[("a", 5), ("e", 0)]);
        let s = ImageTreeSplits::new(
            t.path(),
            SplitParams {
                seed: 0,
                test: 5,
                train_cap: 10,
            },
        )
        .unwrap();
        let err = s.concept("a").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "concept a has 5 images under {}, fewer than the 6 a split needs (5 test + at \
                 least 1 train): raise the minimum image count so that such concepts are \
                 filtered out, or take fewer test images per concept",
                t.path().join("a").display()
            )
        );
        assert!(std::error::Error::source(&err).is_none());
        assert!(matches!(
            s.concept("e").unwrap_err(),
            Error::TooFewImages { found: 0, .. }
        ));
        assert!(matches!(
            s.concept("missing").unwrap_err(),
            Error::Read { .. }
        ));
        assert!(ImageTreeSplits::new(
            t.path(),
            SplitParams {
                seed: 0,
                test: 0,
                train_cap: 1
            }
        )
        .is_err());
    }
}
