//! Import of the official ImageNet-CoG files, read with `hiercog-pickle`'s restricted unpickler
//! (no code runs).
//!
//! Shapes, as naver/cog reads them (`data/__init__.py`, `data/datasets.py`):
//! - `cog_levels_mapping_file.pkl`: indexed `levels[level - 1]` → the level's concept names, so a
//!   list of 5 lists, or a dict keyed 0..4 (also accepted: keys 1..5, `l1`/`L1`/`cog_l1`);
//! - `cog_concepts_split_file.pkl`: dict wnid → {"train": array of file names, "test": array of
//!   file names} (numpy string arrays in the official file; lists are accepted too); file names
//!   are relative to the ImageNet-21K root and may start with `/`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use hiercog_pickle::Value;

use crate::benchmark::{Benchmark, Level, LevelSummary, Manifest};
use crate::builder::{rank, resolve, taxonomy_ref, BuildInputs, LevelParams};
use crate::error::{Error, Result};
use crate::filter::FilterReport;
use crate::inputs::{ConceptList, InputRef};
use crate::splits::{ConceptSplit, SplitSource, SplitsInfo};

/// The official split file, in memory: concept → its train and test file names.
#[derive(Clone, Debug)]
pub struct OfficialSplits {
    path: PathBuf,
    images_root: Option<PathBuf>,
    concepts: HashMap<String, ConceptSplit>,
}

impl OfficialSplits {
    /// Reads `cog_concepts_split_file.pkl` (shape in the module doc).
    pub fn read(path: &Path) -> Result<Self> {
        let shape = |message: String| Error::OfficialShape {
            path: path.to_path_buf(),
            message,
        };
        let value = load(path)?;
        let Value::Dict(entries) = &value else {
            return Err(shape(format!(
                "expected a dict wnid -> {{train, test}}, found {}",
                value.type_name()
            )));
        };
        let mut concepts = HashMap::with_capacity(entries.len());
        for (k, v) in entries {
            let wnid = k.as_str().ok_or_else(|| {
                shape(format!(
                    "a key is {}, expected a wnid string",
                    k.type_name()
                ))
            })?;
            let files = |split: &str| -> Result<Vec<String>> {
                let list = v
                    .get(split)
                    .ok_or_else(|| shape(format!("{wnid} has no {split:?} entry")))?;
                string_list(list).map_err(|m| shape(format!("{wnid}[{split:?}]: {m}")))
            };
            let strip = |v: Vec<String>| {
                v.into_iter()
                    .map(|f| f.trim_start_matches(['/', '\\']).to_string())
                    .collect()
            };
            concepts.insert(
                wnid.to_string(),
                ConceptSplit {
                    train: strip(files("train")?),
                    test: strip(files("test")?),
                },
            );
        }
        Ok(OfficialSplits {
            path: path.to_path_buf(),
            images_root: None,
            concepts,
        })
    }

    /// Records the ImageNet-21K root the file names are relative to, so that
    /// [`Benchmark::split_files`](crate::Benchmark::split_files) returns full paths.
    pub fn with_images_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.images_root = Some(root.into());
        self
    }

    /// Number of concepts in the file.
    pub fn len(&self) -> usize {
        self.concepts.len()
    }

    /// True when the file has no concept.
    pub fn is_empty(&self) -> bool {
        self.concepts.is_empty()
    }
}

impl SplitSource for OfficialSplits {
    fn info(&self) -> SplitsInfo {
        SplitsInfo {
            source: format!("official:{}", self.path.display()),
            images_root: self.images_root.clone(),
            params: None,
            per_level: Vec::new(),
        }
    }

    fn concept(&self, wnid: &str) -> Result<ConceptSplit> {
        self.concepts
            .get(wnid)
            .cloned()
            .ok_or_else(|| Error::MissingSplit {
                wnid: wnid.into(),
                path: self.path.clone(),
            })
    }
}

/// Reads `cog_levels_mapping_file.pkl` (shape in the module doc) as level lists, L1 first.
pub fn read_official_levels(path: &Path) -> Result<Vec<Vec<String>>> {
    let shape = |message: String| Error::OfficialShape {
        path: path.to_path_buf(),
        message,
    };
    let value = load(path)?;
    let levels: Vec<Vec<String>> = match &value {
        Value::List(items) | Value::Tuple(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| string_list(v).map_err(|m| shape(format!("level {}: {m}", i + 1))))
            .collect::<Result<_>>()?,
        Value::Dict(entries) => {
            let mut keyed = BTreeMap::new();
            for (k, v) in entries {
                let n = level_number(k).ok_or_else(|| {
                    shape(format!("level key {k:?} is neither 0..4, 1..5 nor l1..l5"))
                })?;
                let names = string_list(v).map_err(|m| shape(format!("level {k:?}: {m}")))?;
                if keyed.insert(n, names).is_some() {
                    return Err(shape(format!("level {n} is given twice")));
                }
            }
            // 0-based keys (naver/cog indexes `[level - 1]`) unless the keys start at 1.
            let first = keyed.keys().next().copied().unwrap_or(0);
            if keyed.keys().copied().ne(first..first + keyed.len() as i64)
                || !(first == 0 || first == 1)
            {
                return Err(shape(format!(
                    "level keys {:?} are not consecutive from 0 or 1",
                    keyed.keys().collect::<Vec<_>>()
                )));
            }
            keyed.into_values().collect()
        }
        other => {
            return Err(shape(format!(
                "expected a list of levels or a dict level -> names, found {}",
                other.type_name()
            )))
        }
    };
    if levels.is_empty() || levels.iter().any(Vec::is_empty) {
        return Err(shape("a level is empty, or there is no level".into()));
    }
    let mut seen = HashSet::new();
    for (i, lv) in levels.iter().enumerate() {
        for w in lv {
            if !seen.insert(w.as_str()) {
                return Err(shape(format!(
                    "{w} appears twice (again in level {})",
                    i + 1
                )));
            }
        }
    }
    Ok(levels)
}

/// Level number from a dict key: an int, or a string `3`, `l3`, `L3`, `cog_l3`.
fn level_number(k: &Value) -> Option<i64> {
    match k {
        Value::Int(i) => Some(*i),
        Value::Str(s) => s
            .trim_start_matches("cog_")
            .trim_start_matches(['l', 'L'])
            .parse()
            .ok(),
        _ => None,
    }
}

/// A list or tuple of strings (the pickle reader turns numpy string arrays into lists).
fn string_list(v: &Value) -> std::result::Result<Vec<String>, String> {
    v.as_list()
        .and_then(|items| {
            items
                .iter()
                .map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .ok_or_else(|| {
            format!(
                "expected a list or array of strings, found {}",
                v.type_name()
            )
        })
}

fn load(path: &Path) -> Result<Value> {
    Ok(hiercog_pickle::load_pickle(path)?)
}

/// Converts the official level file (and optionally its split file) into a [`Benchmark`]:
/// the official concepts, each with hiercog's S(c) to `inputs.seen` under `params`' measure and IC
/// (the official files carry no similarity), sorted within each level by the documented
/// tie-breaking rule. Only `params`' measure, IC and skip-unknown are used.
pub fn import_official(
    levels_pkl: &Path,
    splits_pkl: Option<&Path>,
    inputs: &BuildInputs<'_>,
    params: &LevelParams,
) -> Result<(Benchmark, Option<OfficialSplits>)> {
    let tax = inputs.taxonomy;
    let official = read_official_levels(levels_pkl)?;
    let seen = resolve(tax, inputs.seen, "seen concepts are", params.skip_unknown)?;
    if seen.ids.is_empty() {
        return Err(Error::EmptyList("seen set (after dropping unknown names)"));
    }
    let pool = resolve(tax, inputs.pool, "pool concepts are", params.skip_unknown)?;
    let all = ConceptList::from_names(
        levels_pkl.display().to_string(),
        official.iter().flatten().cloned(),
    );
    let known = resolve(
        tax,
        &all,
        "concepts of the official level file are",
        params.skip_unknown,
    )?;
    let measure = params.measure;
    let ic = if measure.needs_ic() {
        Some(params.ic.compute(tax, &pool.ids, inputs.counts)?)
    } else {
        None
    };
    let scored = rank(tax, ic.as_deref(), measure, &seen.ids, &known.ids)?;
    let by_name: HashMap<&str, usize> = scored
        .iter()
        .enumerate()
        .map(|(i, c)| (c.wnid.as_str(), i))
        .collect();
    let levels: Vec<Level> = official
        .iter()
        .enumerate()
        .map(|(i, names)| {
            let mut idx: Vec<usize> = names
                .iter()
                .filter_map(|n| by_name.get(n.as_str()).copied())
                .collect();
            idx.sort_unstable();
            Level {
                name: format!("L{}", i + 1),
                concepts: idx.into_iter().map(|k| scored[k].clone()).collect(),
            }
        })
        .collect();
    let ranking = levels
        .iter()
        .flat_map(|l| l.concepts.iter().cloned())
        .collect();

    let splits = splits_pkl.map(OfficialSplits::read).transpose()?;
    let mut input_refs = BTreeMap::new();
    input_refs.insert(
        "official_levels".to_string(),
        InputRef::of_file(levels_pkl, all.names().len())?,
    );
    if let (Some(p), Some(s)) = (splits_pkl, &splits) {
        input_refs.insert(
            "official_splits".to_string(),
            InputRef::of_file(p, s.len())?,
        );
    }
    input_refs.insert("seen".to_string(), inputs.seen.source().clone());
    input_refs.insert("pool".to_string(), inputs.pool.source().clone());
    input_refs.insert(
        "taxonomy".to_string(),
        taxonomy_ref(tax, &inputs.taxonomy_source),
    );
    let mut json = params.to_json();
    json["preset"] = "official".into();
    json["filters"] = serde_json::json!([]);
    json["cuts"] = serde_json::json!({"mode": "official"});
    let manifest = Manifest {
        kind: "imported".into(),
        inputs: input_refs,
        params: json,
        filters: vec![FilterReport {
            name: "not-in-taxonomy".into(),
            description: "drop official concepts missing from the taxonomy (an error unless skip-unknown)".into(),
            removed: known.unknown.len(),
            remaining: known.ids.len(),
            examples: known.unknown.iter().take(5).cloned().collect(),
            note: None,
        }],
        eligible: known.ids.len(),
        unknown_seen: seen.unknown,
        levels: levels.iter().map(LevelSummary::of).collect(),
        notes: vec!["similarities are hiercog's S(c) for the official concepts; the official files carry none".into()],
        ..Manifest::default()
    };
    Ok((
        Benchmark::new(manifest, levels, ranking, Vec::new()),
        splits,
    ))
}
