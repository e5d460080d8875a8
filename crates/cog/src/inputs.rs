//! The builder's inputs: concept lists (seen set, candidate pool, exclusion lists) and per-concept
//! image counts, each with the fingerprint recorded in the manifest.

use std::collections::HashMap;
use std::path::Path;

use hiercog_io::{content_lines, LineFile};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The 1,000 ImageNet-1K (ILSVRC-2012) class wnids in class-index order (see `data/SOURCES.md`).
pub const IMAGENET1K_WNIDS: &str = include_str!("../data/imagenet1k_wnids.txt");

/// The 21,841 ImageNet-21K (fall 2011) synsets (see `data/SOURCES.md`).
pub const IMAGENET21K_WNIDS: &str = include_str!("../data/imagenet21k_fall11_wnids.txt");

/// IC(c) = −log(#ImageNet-21K fall-2011 synsets in the subtree of c / 21,841): the IC that reproduces
/// the official ImageNet-CoG levels best (spec §2). Needs a taxonomy with WordNet wnids.
pub fn imagenet21k_information_content(
    tax: &hiercog_taxonomy::Taxonomy,
) -> Result<hiercog_taxonomy::InformationContent> {
    let members = ConceptList::imagenet21k()
        .names()
        .iter()
        .map(|w| tax.id(w))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(hiercog_taxonomy::InformationContent::subtree_members(
        tax, &members,
    )?)
}

/// Where an input came from and its SHA-256, so a manifest pins exactly what was used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputRef {
    /// `builtin:<name>` for shipped lists, otherwise the path as given.
    pub source: String,
    /// Hex SHA-256 of the bytes read.
    pub sha256: String,
    /// Number of items (names, counts) read.
    pub items: usize,
}

impl InputRef {
    /// Fingerprints `bytes` read from `source`.
    pub fn new(source: impl Into<String>, bytes: &[u8], items: usize) -> Self {
        InputRef {
            source: source.into(),
            sha256: sha256_hex(bytes),
            items,
        }
    }

    /// Fingerprints a file on disk (streamed, so large pickles are fine).
    pub fn of_file(path: &Path, items: usize) -> Result<Self> {
        use std::io::Read;
        let mut f = std::fs::File::open(path).map_err(|e| Error::read(path, e))?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = f.read(&mut buf).map_err(|e| Error::read(path, e))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        Ok(InputRef {
            source: path.display().to_string(),
            sha256: hex(&h.finalize()),
            items,
        })
    }
}

/// Hex SHA-256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An ordered list of concept names (wnids or user labels) with its origin.
///
/// Text format: one name per line, the first TAB-separated field counts (so `wnid<TAB>anything`
/// files work), `#` starts a comment, blank lines are skipped. Order matters for the seen set: a
/// nearest-seen tie goes to the concept listed first.
#[derive(Clone, Debug, PartialEq)]
pub struct ConceptList {
    source: InputRef,
    names: Vec<String>,
}

impl ConceptList {
    /// The shipped ImageNet-1K classes (the seen set of ImageNet-CoG).
    pub fn imagenet1k() -> Self {
        Self::parse_builtin("builtin:imagenet1k_wnids.txt", IMAGENET1K_WNIDS)
    }

    /// The shipped ImageNet-21K fall 2011 synsets (the candidate pool of ImageNet-CoG).
    pub fn imagenet21k() -> Self {
        Self::parse_builtin("builtin:imagenet21k_fall11_wnids.txt", IMAGENET21K_WNIDS)
    }

    fn parse_builtin(label: &str, text: &str) -> Self {
        let names = parse_names(text);
        ConceptList {
            source: InputRef::new(label, text.as_bytes(), names.len()),
            names,
        }
    }

    /// Reads a list file (format above); an empty list is an error.
    pub fn from_file(path: &Path) -> Result<Self> {
        let file = LineFile::read(path)?;
        let names = parse_names(file.text());
        if names.is_empty() {
            return Err(Error::parse(
                path,
                1,
                "no concept name in this file (one name per line expected)",
            ));
        }
        Ok(ConceptList {
            source: InputRef::new(
                path.display().to_string(),
                file.text().as_bytes(),
                names.len(),
            ),
            names,
        })
    }

    /// A list given in code; `label` names it in the manifest, the fingerprint hashes the names.
    pub fn from_names<S: Into<String>>(
        label: impl Into<String>,
        names: impl IntoIterator<Item = S>,
    ) -> Self {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        let joined = names.join("\n");
        ConceptList {
            source: InputRef::new(label, joined.as_bytes(), names.len()),
            names,
        }
    }

    /// The names, in order, duplicates included.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Where the list came from.
    pub fn source(&self) -> &InputRef {
        &self.source
    }
}

fn parse_names(text: &str) -> Vec<String> {
    content_lines(text)
        .filter_map(|(_, line)| {
            let name = line.split('\t').next().unwrap_or("").trim();
            (!name.is_empty()).then(|| name.to_string())
        })
        .collect()
}

/// Number of images per concept, read from a TSV or counted in an image tree
/// ([`count_images`](crate::count_images)).
///
/// TSV format: `name<TAB>count` per line, an optional `wnid<TAB>count` header, `#` comments.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageCounts {
    source: InputRef,
    counts: Vec<(String, u64)>,
    index: HashMap<String, u64>,
}

impl ImageCounts {
    /// Counts in the order given; a name given twice is an error reported by [`ImageCounts::from_file`].
    pub fn new(source: InputRef, counts: Vec<(String, u64)>) -> Self {
        let index = counts.iter().cloned().collect();
        ImageCounts {
            source,
            counts,
            index,
        }
    }

    /// Reads a counts TSV (format above).
    pub fn from_file(path: &Path) -> Result<Self> {
        let file = LineFile::read(path)?;
        let mut counts = Vec::new();
        let mut seen = HashMap::new();
        let mut first = true;
        for (number, line) in file.lines() {
            let mut fields = line.split('\t');
            let (Some(name), Some(count)) = (fields.next(), fields.next()) else {
                return Err(file
                    .error(number, format!("expected `name<TAB>count`, found {line:?}"))
                    .into());
            };
            let (name, count) = (name.trim(), count.trim());
            if std::mem::take(&mut first) && count == "count" {
                continue;
            }
            let n: u64 = count.parse().map_err(|_| {
                file.error(
                    number,
                    format!("image count {count:?} of {name} is not a non-negative integer"),
                )
            })?;
            if let Some(prev) = seen.insert(name.to_string(), number) {
                return Err(file
                    .error(
                        number,
                        format!("{name} is counted twice (first on line {prev})"),
                    )
                    .into());
            }
            counts.push((name.to_string(), n));
        }
        Ok(Self::new(
            InputRef::new(
                path.display().to_string(),
                file.text().as_bytes(),
                counts.len(),
            ),
            counts,
        ))
    }

    /// The TSV text [`ImageCounts::from_file`] reads back.
    pub fn to_tsv(&self) -> String {
        let mut out = String::from("wnid\tcount\n");
        for (name, n) in &self.counts {
            out.push_str(&format!("{name}\t{n}\n"));
        }
        out
    }

    /// Images of `name` (0 when absent).
    pub fn get(&self, name: &str) -> u64 {
        self.index.get(name).copied().unwrap_or(0)
    }

    /// True when `name` has an entry (possibly 0).
    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// All entries, in order.
    pub fn entries(&self) -> &[(String, u64)] {
        &self.counts
    }

    /// Where the counts came from.
    pub fn source(&self) -> &InputRef {
        &self.source
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_lists_have_their_documented_sizes() {
        assert_eq!(ConceptList::imagenet1k().names().len(), 1000);
        assert_eq!(ConceptList::imagenet21k().names().len(), 21_841);
        assert_eq!(ConceptList::imagenet1k().names()[0], "n01440764");
    }

    #[test]
    fn list_parsing_skips_comments_and_extra_fields() {
        let l = ConceptList::from_names(
            "x",
            parse_names("# head\nn01440764\ttench\n\n  dog  # pet\n"),
        );
        assert_eq!(l.names(), ["n01440764", "dog"]);
    }

    #[test]
    fn counts_round_trip_and_reject_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.tsv");
        std::fs::write(&p, "wnid\tcount\na\t3\nb\t0\n").unwrap();
        let c = ImageCounts::from_file(&p).unwrap();
        assert_eq!((c.get("a"), c.get("b"), c.get("zz")), (3, 0, 0));
        std::fs::write(&p, c.to_tsv()).unwrap();
        assert_eq!(ImageCounts::from_file(&p).unwrap().entries(), c.entries());
        std::fs::write(&p, "a\t3\na\t4\n").unwrap();
        assert!(ImageCounts::from_file(&p)
            .unwrap_err()
            .to_string()
            .contains("counted twice"));
        std::fs::write(&p, "a\tmany\n").unwrap();
        assert!(ImageCounts::from_file(&p)
            .unwrap_err()
            .to_string()
            .contains(":1:"));
        std::fs::write(&p, "a 3\n").unwrap();
        assert!(ImageCounts::from_file(&p)
            .unwrap_err()
            .to_string()
            .contains("name<TAB>count"));
    }
}
