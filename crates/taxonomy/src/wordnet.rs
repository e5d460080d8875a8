//! Reader of WordNet 3.0 database files (`man 5 wndb`): `data.noun`, `index.noun`, `cntlist(.rev)`.

use std::collections::HashMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::taxonomy::{RawConcept, Taxonomy};

/// One synset line of `data.noun`, as far as hiercog needs it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DataLine {
    pub offset: u32,
    pub lex_filenum: u8,
    /// (word, lex_id) pairs in file order.
    pub words: Vec<(String, u8)>,
    /// Offsets of `@` (hypernym) pointers, then of `@i` (instance hypernym) pointers.
    pub hypernyms: Vec<u32>,
    pub instance_hypernyms: Vec<u32>,
    pub gloss: String,
}

/// Parses one `data.noun` synset line; `Err` carries a message naming the bad field. Never panics.
pub(crate) fn parse_data_line(line: &str) -> std::result::Result<DataLine, String> {
    let (body, gloss) = match line.split_once(" | ") {
        Some((b, g)) => (b, g.trim_end().to_string()),
        None => (line.trim_end(), String::new()),
    };
    let mut f = body.split_ascii_whitespace();
    let mut next = |what: &str| {
        f.next()
            .ok_or_else(|| format!("line ends before the {what} field"))
    };
    let offset_s = next("synset_offset")?;
    let offset = parse_dec(offset_s, "synset_offset")?;
    let lex_filenum = parse_dec(next("lex_filenum")?, "lex_filenum")?;
    let lex_filenum =
        u8::try_from(lex_filenum).map_err(|_| format!("lex_filenum {lex_filenum} is over 255"))?;
    let ss_type = next("ss_type")?;
    if ss_type != "n" {
        return Err(format!(
            "ss_type is {ss_type:?}, expected \"n\" (a noun synset)"
        ));
    }
    let w_cnt = parse_hex(next("w_cnt")?, "w_cnt")?;
    if w_cnt == 0 || w_cnt > 0xff {
        return Err(format!("w_cnt {w_cnt} is outside 1..=255 (two hex digits)"));
    }
    let mut words = Vec::with_capacity(w_cnt as usize);
    for _ in 0..w_cnt {
        let w = next("word")?.to_string();
        let lex_id = parse_hex(next("lex_id")?, "lex_id")?;
        let lex_id = u8::try_from(lex_id).map_err(|_| format!("lex_id {lex_id} is over 255"))?;
        words.push((w, lex_id));
    }
    let p_cnt = parse_dec(next("p_cnt")?, "p_cnt")?;
    let mut hypernyms = Vec::new();
    let mut instance_hypernyms = Vec::new();
    for _ in 0..p_cnt {
        let sym = next("pointer_symbol")?;
        let target = parse_dec(next("pointer offset")?, "pointer offset")?;
        let pos = next("pointer pos")?;
        let _src_tgt = next("pointer source/target")?;
        if pos != "n" {
            continue;
        }
        match sym {
            "@" => hypernyms.push(target),
            "@i" => instance_hypernyms.push(target),
            _ => {}
        }
    }
    Ok(DataLine {
        offset,
        lex_filenum,
        words,
        hypernyms,
        instance_hypernyms,
        gloss,
    })
}

fn parse_dec(s: &str, what: &str) -> std::result::Result<u32, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{what} {s:?} is not a decimal number"));
    }
    s.parse().map_err(|_| format!("{what} {s:?} is too large"))
}

fn parse_hex(s: &str, what: &str) -> std::result::Result<u32, String> {
    u32::from_str_radix(s, 16).map_err(|_| format!("{what} {s:?} is not a hexadecimal number"))
}

fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|cause| Error::WordNetRead {
        path: path.to_path_buf(),
        cause,
    })?;
    // WordNet files are ASCII/Latin-1; keep going on stray bytes rather than failing.
    Ok(String::from_utf8(bytes)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

/// Reads a WordNet dict directory into a [`Taxonomy`] of noun synsets.
pub(crate) fn read_dir(dir: &Path) -> Result<Taxonomy> {
    let data_path = dir.join("data.noun");
    let text = read_text(&data_path)?;
    let mut lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.starts_with("  ") || line.trim().is_empty() {
            continue; // license header
        }
        let parsed = parse_data_line(line).map_err(|message| Error::WordNetParse {
            path: data_path.clone(),
            line: i + 1,
            message,
        })?;
        lines.push((i + 1, parsed));
    }
    if lines.is_empty() {
        return Err(Error::WordNetParse {
            path: data_path,
            line: 0,
            message: "no synset line found".into(),
        });
    }
    lines.sort_by_key(|(_, l)| l.offset);
    let by_offset: HashMap<u32, u32> = lines
        .iter()
        .enumerate()
        .map(|(i, (_, l))| (l.offset, i as u32))
        .collect();
    let mut concepts = Vec::with_capacity(lines.len());
    for (lineno, l) in &lines {
        let mut parents = Vec::new();
        for &o in l.hypernyms.iter().chain(&l.instance_hypernyms) {
            let p = by_offset.get(&o).ok_or_else(|| Error::WordNetParse {
                path: data_path.clone(),
                line: *lineno,
                message: format!("pointer to offset {o:08} which has no synset line"),
            })?;
            parents.push(*p);
        }
        concepts.push(RawConcept {
            name: format!("n{:08}", l.offset),
            lemmas: l.words.iter().map(|(w, _)| w.clone()).collect(),
            gloss: Some(l.gloss.clone()),
            parents,
            n_hypernyms: l.hypernyms.len(),
            sense_count: 0,
            sense_number: 1,
        });
    }
    read_sense_numbers(dir, &lines, &mut concepts)?;
    read_sense_counts(dir, &lines, &mut concepts)?;
    Taxonomy::build(concepts, true, &data_path)
}

/// NLTK names a synset `lemma.n.NN` with NN the position of its offset in `index.noun`.
fn read_sense_numbers(
    dir: &Path,
    lines: &[(usize, DataLine)],
    concepts: &mut [RawConcept],
) -> Result<()> {
    let path = dir.join("index.noun");
    let text = read_text(&path)?;
    let mut offsets_of: HashMap<&str, Vec<u32>> = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.starts_with("  ") || line.trim().is_empty() {
            continue;
        }
        let bad = |message: String| Error::WordNetParse {
            path: path.clone(),
            line: i + 1,
            message,
        };
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        // lemma pos synset_cnt p_cnt [ptr_symbol...] sense_cnt tagsense_cnt synset_offset...
        let synset_cnt = f
            .get(2)
            .and_then(|s| s.parse::<usize>().ok())
            .ok_or_else(|| bad("bad synset_cnt".into()))?;
        if f.len() < synset_cnt {
            return Err(bad("fewer offsets than synset_cnt".into()));
        }
        let offs: std::result::Result<Vec<u32>, String> = f[f.len() - synset_cnt..]
            .iter()
            .map(|s| parse_dec(s, "synset_offset"))
            .collect();
        offsets_of.insert(f[0], offs.map_err(bad)?);
    }
    for ((_, l), c) in lines.iter().zip(concepts.iter_mut()) {
        let lemma = c.lemmas[0].to_lowercase();
        let pos = offsets_of
            .get(lemma.as_str())
            .and_then(|o| o.iter().position(|&x| x == l.offset));
        let pos = pos.ok_or_else(|| Error::WordNetParse {
            path: path.clone(),
            line: 0,
            message: format!("lemma {lemma:?} of synset {:08} is not indexed", l.offset),
        })?;
        c.sense_number = u16::try_from(pos + 1).unwrap_or(u16::MAX);
    }
    Ok(())
}

/// Sums SemCor tag counts per synset from `cntlist.rev` (`key num count`) or `cntlist`
/// (`count key num`); absent files leave the counts at 0.
fn read_sense_counts(
    dir: &Path,
    lines: &[(usize, DataLine)],
    concepts: &mut [RawConcept],
) -> Result<()> {
    let (path, reversed) = if dir.join("cntlist.rev").exists() {
        (dir.join("cntlist.rev"), true)
    } else if dir.join("cntlist").exists() {
        (dir.join("cntlist"), false)
    } else {
        return Ok(());
    };
    let mut by_key: HashMap<(String, u8, u8), usize> = HashMap::new();
    for (i, (_, l)) in lines.iter().enumerate() {
        for (w, lex_id) in &l.words {
            by_key.insert((w.to_lowercase(), l.lex_filenum, *lex_id), i);
        }
    }
    let text = read_text(&path)?;
    for (i, line) in text.lines().enumerate() {
        let bad = |message: String| Error::WordNetParse {
            path: path.clone(),
            line: i + 1,
            message,
        };
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        if f.is_empty() {
            continue;
        }
        if f.len() != 3 {
            return Err(bad(format!("expected 3 fields, found {}", f.len())));
        }
        let (key, count) = if reversed { (f[0], f[2]) } else { (f[1], f[0]) };
        let count = parse_dec(count, "tag_cnt").map_err(bad)?;
        let Some((lemma, rest)) = key.split_once('%') else {
            return Err(bad(format!("sense key {key:?} has no '%'")));
        };
        let parts: Vec<&str> = rest.split(':').collect();
        if parts.len() < 3 {
            return Err(bad(format!(
                "sense key {key:?} is not lemma%ss_type:lex_filenum:lex_id:..."
            )));
        }
        if parts[0] != "1" {
            continue; // not a noun
        }
        let lex_filenum = parse_dec(parts[1], "lex_filenum").map_err(bad)?;
        let lex_id = parse_dec(parts[2], "lex_id").map_err(bad)?;
        let k = (
            lemma.to_string(),
            lex_filenum.min(255) as u8,
            lex_id.min(255) as u8,
        );
        if let Some(&s) = by_key.get(&k) {
            concepts[s].sense_count = concepts[s].sense_count.saturating_add(count);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DOG: &str = "02084071 05 n 03 dog 0 domestic_dog 0 Canis_familiaris 0 023 @ 02083346 n 0000 @ 01317541 n 0000 #m 02083863 n 0000 ~ 01322604 n 0000 ~ 02084732 n 0000 ~ 02084861 n 0000 ~ 02085272 n 0000 ~ 02085374 n 0000 ~ 02085998 n 0000 ~ 02086723 n 0000 ~ 02087384 n 0000 ~ 02087551 n 0000 ~ 02087924 n 0000 ~ 02088839 n 0000 ~ 02089232 n 0000 ~ 02089468 n 0000 ~ 02089555 n 0000 ~ 02090323 n 0000 ~ 02090827 n 0000 ~ 02097967 n 0000 ~ 02112993 n 0000 ~ 02113336 n 0000 ~ 02113550 n 0000 | a member of the genus Canis (probably descended from the common wolf) that has been domesticated by man since prehistoric times; occurs in many breeds; \"the dog barked all night\"  ";

    #[test]
    fn parses_dog_line() {
        let l = parse_data_line(DOG).unwrap();
        assert_eq!(l.offset, 2084071);
        assert_eq!(l.lex_filenum, 5);
        assert_eq!(l.words[0], ("dog".to_string(), 0));
        assert_eq!(l.words.len(), 3);
        assert_eq!(l.hypernyms, vec![2083346, 1317541]);
        assert!(l.instance_hypernyms.is_empty());
        assert!(l.gloss.starts_with("a member of the genus Canis"));
    }

    #[test]
    fn rejects_truncated_and_non_noun_lines() {
        assert!(parse_data_line("02084071 05 n 03 dog 0").is_err());
        assert!(parse_data_line("02084071 05 v 01 run 0 000 | go").is_err());
        assert!(parse_data_line("hello world").is_err());
        assert!(parse_data_line("").is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        // The parser never panics, whatever the line.
        #[test]
        fn never_panics_on_arbitrary_text(s in "\\PC*") {
            let _ = parse_data_line(&s);
        }

        // Nor on lines that look almost right: random tokens from the WordNet alphabet.
        #[test]
        fn never_panics_on_near_wordnet_lines(toks in prop::collection::vec(
            prop_oneof!["[0-9]{1,9}", "[0-9a-f]{1,3}", Just("n".to_string()), Just("@".to_string()),
                        Just("@i".to_string()), Just("|".to_string()), "[a-z_]{1,6}"], 0..40)) {
            let _ = parse_data_line(&toks.join(" "));
        }

        // Field-shaped lines with extreme counts (allocation sizes come from the input).
        #[test]
        fn never_panics_on_extreme_counts(off in any::<u32>(), w in any::<u32>(), p in any::<u32>(), tail in "[ a-z0-9@~|]{0,60}") {
            let _ = parse_data_line(&format!("{off:08} 05 n {w:x} dog 0 {p} {tail}"));
        }

        // Every truncation of a real line is either parsed or rejected, never a panic.
        #[test]
        fn never_panics_on_truncated_real_line(cut in 0usize..600) {
            let cut = cut.min(DOG.len());
            let _ = parse_data_line(&DOG[..cut]);
        }
    }
}
