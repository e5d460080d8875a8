//! Reader of user is-a edge lists: `parent<TAB>child` per line (or two whitespace-separated
//! fields when the line has no tab), `#` comments and blank lines ignored, duplicate edges merged.

use std::collections::HashMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::taxonomy::{RawConcept, Taxonomy};

pub(crate) fn read_isa_file(path: &Path) -> Result<Taxonomy> {
    let file = hiercog_io::LineFile::read(path)?;
    parse_isa(file.text(), path)
}

pub(crate) fn parse_isa(text: &str, path: &Path) -> Result<Taxonomy> {
    let mut concepts: Vec<RawConcept> = Vec::new();
    let mut index: HashMap<String, u32> = HashMap::new();
    let mut intern = |name: &str, concepts: &mut Vec<RawConcept>| -> u32 {
        *index.entry(name.to_string()).or_insert_with(|| {
            concepts.push(RawConcept {
                name: name.to_string(),
                lemmas: vec![name.to_string()],
                ..RawConcept::default()
            });
            (concepts.len() - 1) as u32
        })
    };
    for (number, line) in hiercog_io::content_lines(text) {
        let fields: Vec<&str> = if line.contains('\t') {
            line.split('\t').map(str::trim).collect()
        } else {
            line.split_whitespace().collect()
        };
        let bad = |message: String| Error::IsaParse {
            path: path.to_path_buf(),
            line: number,
            message,
        };
        if fields.len() != 2 || fields.iter().any(|f| f.is_empty()) {
            return Err(bad(format!(
                "found {} non-empty fields in {line:?}",
                fields.iter().filter(|f| !f.is_empty()).count()
            )));
        }
        if fields[0] == fields[1] {
            return Err(Error::Cycle {
                path: path.to_path_buf(),
                cycle: format!("{0} -> parent {0} (line {number})", fields[0]),
            });
        }
        let p = intern(fields[0], &mut concepts);
        let c = intern(fields[1], &mut concepts);
        let rc = &mut concepts[c as usize];
        if !rc.parents.contains(&p) {
            rc.parents.push(p);
            rc.n_hypernyms += 1;
        }
    }
    if concepts.is_empty() {
        return Err(Error::IsaParse {
            path: path.to_path_buf(),
            line: 0,
            message: "no edge found".into(),
        });
    }
    Taxonomy::build(concepts, false, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        // Any text is a taxonomy or an error (cycles included), never a panic.
        #[test]
        fn never_panics(input in r"([a-e]{1,2}[\t ][a-e]{1,2}\n|#[a-z]*\n|\PC{0,8}\n){0,12}") {
            let _ = parse_isa(&input, Path::new("fuzz.tsv"));
        }
    }
}
