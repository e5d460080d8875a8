//! A benchmark: levels of ranked concepts plus their manifest, written to and read from a
//! directory.
//!
//! Layout of a benchmark directory (every TSV has a header line; similarities are written in
//! shortest round-trip form, so they read back bit for bit):
//! ```text
//! manifest.json          inputs (source + sha256), every parameter, filter reports, level summaries
//! levels/L1.tsv ...      rank  wnid  lemma  similarity  nearest_seen  nearest_seen_lemma
//! ranking.tsv            the same for every eligible concept, plus its level (`-` if in none)
//! removed.tsv            wnid  filter: every pool concept a filter removed
//! splits/L1.tsv ...      path  wnid  split: one line per image (train|test), paths relative to the
//!                        images root; sorted by wnid, split, path (the order naver/cog reads)
//! report.md              what was removed, per-level statistics, nearest-neighbour examples
//! plots/*.png|svg        similarity histogram by level; ranked-similarity curve with the cuts
//! ```
//! Writes go to a temporary sibling directory renamed into place at the end (`hiercog-io`), so a
//! failed run leaves nothing half-written.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::filter::FilterReport;
use crate::inputs::InputRef;
use crate::splits::{Split, SplitCounts, SplitItem, SplitSource, SplitsInfo};

/// Version of the directory layout above.
pub const FORMAT_VERSION: u32 = 1;

/// One concept with its concept-to-set similarity and nearest seen concept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RankedConcept {
    /// wnid or user label.
    pub wnid: String,
    /// First lemma (display name).
    pub lemma: String,
    /// S(c, seen) = max over the seen set of sim(c, s).
    pub similarity: f64,
    /// The seen concept reaching the maximum.
    pub nearest_seen: String,
    /// Its first lemma.
    pub nearest_seen_lemma: String,
}

/// Images with class labels: what one dataset split gives the feature extractor.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LabelledImages {
    /// `(image path, class index)`, in the row order of the extracted features.
    pub items: Vec<(PathBuf, u32)>,
    /// Class names (wnids) by class index.
    pub classes: Vec<String>,
}

/// One level: its concepts, most similar first.
#[derive(Clone, Debug, PartialEq)]
pub struct Level {
    /// `L1`, `L2`, ...
    pub name: String,
    /// Concepts in ranking order.
    pub concepts: Vec<RankedConcept>,
}

impl Level {
    /// The level's wnids sorted by name: class label i of the extracted features is the i-th of
    /// these (naver/cog's convention).
    pub fn sorted_wnids(&self) -> Vec<&str> {
        let mut w: Vec<&str> = self.concepts.iter().map(|c| c.wnid.as_str()).collect();
        w.sort_unstable();
        w
    }
}

/// A pool concept removed by a filter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RemovedConcept {
    /// wnid or label.
    pub wnid: String,
    /// Name of the filter step that removed it.
    pub filter: String,
}

/// Summary statistics of a level's similarities.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SimilarityStats {
    /// Smallest similarity.
    pub min: f64,
    /// Largest similarity.
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Median (mean of the two middle values for an even count).
    pub median: f64,
}

impl SimilarityStats {
    /// Statistics of `values` (all zero when empty).
    pub fn of(values: &[f64]) -> Self {
        if values.is_empty() {
            return Self::default();
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            0.5 * (v[n / 2 - 1] + v[n / 2])
        };
        SimilarityStats {
            min: v[0],
            max: v[n - 1],
            mean: v.iter().sum::<f64>() / n as f64,
            median,
        }
    }
}

/// A level as recorded in the manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LevelSummary {
    /// `L1`, ...
    pub name: String,
    /// Path of its TSV, relative to the benchmark directory.
    pub file: String,
    /// Number of concepts.
    pub size: usize,
    /// Similarity statistics.
    pub similarity: SimilarityStats,
}

impl LevelSummary {
    /// The summary of `level`.
    pub fn of(level: &Level) -> Self {
        let sims: Vec<f64> = level.concepts.iter().map(|c| c.similarity).collect();
        LevelSummary {
            name: level.name.clone(),
            file: format!("levels/{}.tsv", level.name),
            size: level.concepts.len(),
            similarity: SimilarityStats::of(&sims),
        }
    }
}

/// `manifest.json`: everything needed to know how a benchmark was made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT_VERSION`].
    pub format: u32,
    /// `hiercog-cog`.
    pub tool: String,
    /// Version of the tool that wrote it.
    pub version: String,
    /// `built` (by the level builder) or `imported` (from the official files).
    pub kind: String,
    /// Every input file or list, by role (`seen`, `pool`, `counts`, `taxonomy`, ...).
    pub inputs: BTreeMap<String, InputRef>,
    /// Every parameter.
    pub params: serde_json::Value,
    /// One report per filter step, in order.
    pub filters: Vec<FilterReport>,
    /// Concepts left after the filters (ranked in `ranking.tsv`).
    pub eligible: usize,
    /// Seen names missing from the taxonomy (skipped with skip-unknown).
    pub unknown_seen: Vec<String>,
    /// The levels.
    pub levels: Vec<LevelSummary>,
    /// Anything relaxed or worth knowing (allow-smaller, concepts left below the last level, ...).
    pub notes: Vec<String>,
    /// The image splits, when written.
    pub splits: Option<SplitsInfo>,
}

impl Default for Manifest {
    fn default() -> Self {
        Manifest {
            format: FORMAT_VERSION,
            tool: "hiercog-cog".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: String::new(),
            inputs: BTreeMap::new(),
            params: serde_json::Value::Null,
            filters: Vec::new(),
            eligible: 0,
            unknown_seen: Vec::new(),
            levels: Vec::new(),
            notes: Vec::new(),
            splits: None,
        }
    }
}

/// How [`Benchmark::write`] behaves.
#[derive(Clone, Debug, Default)]
pub struct WriteOptions {
    /// Replace an existing output directory (only once the new one is complete).
    pub force: bool,
    /// Skip the PNG/SVG plots (they are the slowest part of a small benchmark).
    pub no_plots: bool,
}

/// Levels, ranking and manifest of one benchmark; in memory after a build or an import, or read
/// back with [`load_benchmark`].
#[derive(Clone, Debug)]
pub struct Benchmark {
    manifest: Manifest,
    levels: Vec<Level>,
    ranking: Vec<RankedConcept>,
    removed: Vec<RemovedConcept>,
    dir: Option<PathBuf>,
    images_root: Option<PathBuf>,
}

impl Benchmark {
    /// Assembles a benchmark (the manifest's level summaries must describe `levels`).
    pub(crate) fn new(
        manifest: Manifest,
        levels: Vec<Level>,
        ranking: Vec<RankedConcept>,
        removed: Vec<RemovedConcept>,
    ) -> Self {
        Benchmark {
            manifest,
            levels,
            ranking,
            removed,
            dir: None,
            images_root: None,
        }
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The levels, L1 (most similar to the seen set) first.
    pub fn levels(&self) -> &[Level] {
        &self.levels
    }

    /// The level named `name` (`L1`, `l1` and `1` all work).
    pub fn level(&self, name: &str) -> Result<&Level> {
        let want = name.trim_start_matches(['L', 'l']);
        self.levels
            .iter()
            .find(|l| l.name.trim_start_matches('L') == want)
            .ok_or_else(|| Error::UnknownLevel {
                path: self.dir.clone().unwrap_or_default(),
                level: name.to_string(),
                available: self
                    .levels
                    .iter()
                    .map(|l| l.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// Every eligible concept, best first (for an imported benchmark: the level concepts).
    pub fn ranking(&self) -> &[RankedConcept] {
        &self.ranking
    }

    /// Pool concepts removed by the filters.
    pub fn removed(&self) -> &[RemovedConcept] {
        &self.removed
    }

    /// The directory it was loaded from.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Where split paths are resolved: [`Benchmark::set_images_root`] if called, else the root
    /// recorded at build time.
    pub fn images_root(&self) -> Option<&Path> {
        self.images_root.as_deref().or_else(|| {
            self.manifest
                .splits
                .as_ref()
                .and_then(|s| s.images_root.as_deref())
        })
    }

    /// Resolves split paths against `root` (e.g. the ImageNet-21K tree for an imported benchmark).
    pub fn set_images_root(&mut self, root: impl Into<PathBuf>) {
        self.images_root = Some(root.into());
    }

    /// The images of one level's split, in naver/cog's order (wnid, then path), each with its
    /// class label (index of its wnid in [`Level::sorted_wnids`]). Paths are joined to
    /// [`Benchmark::images_root`] when one is known.
    pub fn split_files(&self, level: &str, split: Split) -> Result<Vec<SplitItem>> {
        let lv = self.level(level)?;
        let dir = self
            .dir
            .as_deref()
            .filter(|_| self.manifest.splits.is_some());
        let Some(dir) = dir else {
            return Err(Error::NoSplits {
                path: self.dir.clone().unwrap_or_default(),
            });
        };
        let labels: BTreeMap<&str, usize> = lv
            .sorted_wnids()
            .into_iter()
            .enumerate()
            .map(|(i, w)| (w, i))
            .collect();
        let path = dir.join("splits").join(format!("{}.tsv", lv.name));
        let text = std::fs::read_to_string(&path).map_err(|e| Error::read(&path, e))?;
        let root = self.images_root();
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate().skip(1) {
            let f: Vec<&str> = line.split('\t').collect();
            let [p, wnid, s] = f[..] else {
                return Err(Error::parse(
                    &path,
                    i + 1,
                    "expected `path<TAB>wnid<TAB>split`",
                ));
            };
            let s: Split = s
                .parse()
                .map_err(|m: String| Error::parse(&path, i + 1, m))?;
            if s != split {
                continue;
            }
            let label = *labels.get(wnid).ok_or_else(|| {
                Error::parse(
                    &path,
                    i + 1,
                    format!("{wnid} is not a concept of level {}", lv.name),
                )
            })?;
            let p = root.map_or_else(|| PathBuf::from(p), |r| r.join(p));
            out.push(SplitItem {
                path: p,
                wnid: wnid.to_string(),
                label,
            });
        }
        Ok(out)
    }

    /// One level's split as labelled images, the rows of its extracted features: the split's
    /// images in [`Benchmark::split_files`] order, labelled by index into `classes` (the level's
    /// [`Level::sorted_wnids`]).
    pub fn labelled_split(&self, level: &str, split: Split) -> Result<LabelledImages> {
        let classes = self
            .level(level)?
            .sorted_wnids()
            .into_iter()
            .map(String::from)
            .collect();
        let items = self
            .split_files(level, split)?
            .into_iter()
            .map(|it| (it.path, it.label as u32))
            .collect();
        Ok(LabelledImages { items, classes })
    }

    /// Writes the benchmark directory `out` (layout in the module doc) atomically. With `splits`,
    /// one split file per level is written and the manifest records the split counts.
    /// `on_progress(stage, done, total)` is called while splits are drawn.
    pub fn write(
        &self,
        out: &Path,
        opts: &WriteOptions,
        splits: Option<&dyn SplitSource>,
        mut on_progress: impl FnMut(&str, usize, usize),
    ) -> Result<()> {
        if out.exists() && !opts.force {
            return Err(Error::OutputExists {
                path: out.to_path_buf(),
            });
        }
        let tmp = hiercog_io::AtomicPath::new(out)?;
        self.write_into(tmp.path(), opts, splits, &mut on_progress)?;
        Ok(tmp.commit()?)
    }

    fn write_into(
        &self,
        dir: &Path,
        opts: &WriteOptions,
        splits: Option<&dyn SplitSource>,
        on_progress: &mut dyn FnMut(&str, usize, usize),
    ) -> Result<()> {
        let mk = |d: &Path| std::fs::create_dir_all(d).map_err(|e| Error::write(d, e));
        mk(&dir.join("levels"))?;
        let mut level_of = BTreeMap::new();
        for lv in &self.levels {
            write_file(
                &dir.join("levels").join(format!("{}.tsv", lv.name)),
                &concepts_tsv(&lv.concepts, None),
            )?;
            level_of.extend(
                lv.concepts
                    .iter()
                    .map(|c| (c.wnid.as_str(), lv.name.as_str())),
            );
        }
        write_file(
            &dir.join("ranking.tsv"),
            &concepts_tsv(&self.ranking, Some(&level_of)),
        )?;
        let mut removed = String::from("wnid\tfilter\n");
        for r in &self.removed {
            let _ = writeln!(removed, "{}\t{}", r.wnid, r.filter);
        }
        write_file(&dir.join("removed.tsv"), &removed)?;

        let mut manifest = self.manifest.clone();
        if let Some(src) = splits {
            mk(&dir.join("splits"))?;
            manifest.splits = Some(self.write_splits(&dir.join("splits"), src, on_progress)?);
        }
        let with_splits = Benchmark {
            manifest: manifest.clone(),
            ..self.clone()
        };
        if !opts.no_plots {
            mk(&dir.join("plots"))?;
            crate::summary::draw_plots(&with_splits, &dir.join("plots"))?;
        }
        write_file(
            &dir.join("report.md"),
            &crate::summary::render_report(&with_splits, !opts.no_plots),
        )?;
        let json = serde_json::to_string_pretty(&manifest).expect("a manifest always serializes");
        write_file(&dir.join("manifest.json"), &(json + "\n"))
    }

    fn write_splits(
        &self,
        dir: &Path,
        src: &dyn SplitSource,
        on_progress: &mut dyn FnMut(&str, usize, usize),
    ) -> Result<SplitsInfo> {
        let mut info = src.info();
        let total: usize = self.levels.iter().map(|l| l.concepts.len()).sum();
        let mut done = 0;
        for lv in &self.levels {
            let path = dir.join(format!("{}.tsv", lv.name));
            let file = std::fs::File::create(&path).map_err(|e| Error::write(&path, e))?;
            let mut w = std::io::BufWriter::new(file);
            let io = |e| Error::write(&path, e);
            writeln!(w, "path\twnid\tsplit").map_err(io)?;
            let mut counts = SplitCounts {
                level: lv.name.clone(),
                train: 0,
                test: 0,
            };
            for wnid in lv.sorted_wnids() {
                let mut cs = src.concept(wnid)?;
                cs.train.sort();
                cs.test.sort();
                for (split, files) in [(Split::Train, &cs.train), (Split::Test, &cs.test)] {
                    for f in files.iter() {
                        writeln!(w, "{f}\t{wnid}\t{split}").map_err(io)?;
                    }
                }
                counts.train += cs.train.len();
                counts.test += cs.test.len();
                done += 1;
                on_progress("splits", done, total);
            }
            w.flush().map_err(io)?;
            info.per_level.push(counts);
        }
        Ok(info)
    }
}

/// Reads a benchmark directory written by [`Benchmark::write`].
pub fn load_benchmark(dir: &Path) -> Result<Benchmark> {
    let mpath = dir.join("manifest.json");
    if !mpath.is_file() {
        return Err(Error::NotABenchmark {
            path: dir.to_path_buf(),
            reason: "no manifest.json".into(),
        });
    }
    let text = std::fs::read_to_string(&mpath).map_err(|e| Error::read(&mpath, e))?;
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| Error::Manifest {
        path: mpath.clone(),
        cause: e,
    })?;
    if manifest.format != FORMAT_VERSION {
        return Err(Error::NotABenchmark {
            path: dir.to_path_buf(),
            reason: format!(
                "layout version {} but this tool reads {FORMAT_VERSION}",
                manifest.format
            ),
        });
    }
    let mut levels = Vec::new();
    for s in &manifest.levels {
        let concepts = read_concepts_tsv(&dir.join(&s.file), false)?;
        if concepts.len() != s.size {
            return Err(Error::NotABenchmark {
                path: dir.to_path_buf(),
                reason: format!(
                    "{} has {} concepts but the manifest says {}",
                    s.file,
                    concepts.len(),
                    s.size
                ),
            });
        }
        levels.push(Level {
            name: s.name.clone(),
            concepts,
        });
    }
    let ranking = read_concepts_tsv(&dir.join("ranking.tsv"), true)?;
    let rpath = dir.join("removed.tsv");
    let rtext = std::fs::read_to_string(&rpath).map_err(|e| Error::read(&rpath, e))?;
    let mut removed = Vec::new();
    for (i, line) in rtext.lines().enumerate().skip(1) {
        let (w, f) = line
            .split_once('\t')
            .ok_or_else(|| Error::parse(&rpath, i + 1, "expected `wnid<TAB>filter`"))?;
        removed.push(RemovedConcept {
            wnid: w.into(),
            filter: f.into(),
        });
    }
    Ok(Benchmark {
        manifest,
        levels,
        ranking,
        removed,
        dir: Some(dir.to_path_buf()),
        images_root: None,
    })
}

const CONCEPT_HEADER: &str = "rank\twnid\tlemma\tsimilarity\tnearest_seen\tnearest_seen_lemma";

/// Level or ranking TSV; `level_of` adds the level column.
fn concepts_tsv(concepts: &[RankedConcept], level_of: Option<&BTreeMap<&str, &str>>) -> String {
    let mut s = String::with_capacity(64 * (concepts.len() + 1));
    s.push_str(CONCEPT_HEADER);
    s.push_str(if level_of.is_some() {
        "\tlevel\n"
    } else {
        "\n"
    });
    for (i, c) in concepts.iter().enumerate() {
        let _ = write!(
            s,
            "{}\t{}\t{}\t{}\t{}\t{}",
            i + 1,
            c.wnid,
            c.lemma,
            c.similarity,
            c.nearest_seen,
            c.nearest_seen_lemma
        );
        if let Some(m) = level_of {
            let _ = write!(s, "\t{}", m.get(c.wnid.as_str()).copied().unwrap_or("-"));
        }
        s.push('\n');
    }
    s
}

/// Reads a level TSV, or the ranking TSV (`with_level`: its level column is implied by the levels).
fn read_concepts_tsv(path: &Path, with_level: bool) -> Result<Vec<RankedConcept>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::read(path, e))?;
    let mut lines = text.lines().enumerate();
    let header = lines.next().map(|(_, h)| h).unwrap_or("");
    if !header.starts_with(CONCEPT_HEADER) {
        return Err(Error::parse(
            path,
            1,
            format!("expected the header `{CONCEPT_HEADER}`"),
        ));
    }
    let want = if with_level { 7 } else { 6 };
    let mut out = Vec::new();
    for (i, line) in lines {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != want {
            return Err(Error::parse(
                path,
                i + 1,
                format!("expected {want} TAB-separated fields, found {}", f.len()),
            ));
        }
        let similarity: f64 = f[3].parse().map_err(|_| {
            Error::parse(
                path,
                i + 1,
                format!("similarity {:?} is not a number", f[3]),
            )
        })?;
        out.push(RankedConcept {
            wnid: f[1].into(),
            lemma: f[2].into(),
            similarity,
            nearest_seen: f[4].into(),
            nearest_seen_lemma: f[5].into(),
        });
    }
    Ok(out)
}

pub(crate) fn write_file(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| Error::write(path, e))
}
