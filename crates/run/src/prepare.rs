//! Stage 1: images, levels and the image lists of every dataset.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hiercog_cog::{
    count_images, import_official, load_benchmark, Benchmark, BuildInputs, ConceptList,
    ConceptSource, ImageTreeSplits, LabelledImages, LevelBuilder, LevelParams, Split, SplitParams,
    SplitSource, WriteOptions,
};
use hiercog_synth::{default_concepts, default_seen, generate, SynthParams};
use hiercog_taxonomy::{Taxonomy, TaxonomySource};

use crate::config::{ConceptSet, ImageSource, LevelSource, RunConfig};
use crate::layout::RunDir;
use crate::{Error, Observer, Result};

/// The images root of the unseen concepts (and of the seen ones unless `images.seen_root` is set).
pub(crate) fn images_root(cfg: &RunConfig, dir: &RunDir) -> Result<PathBuf> {
    match cfg.images.source {
        ImageSource::Synthetic => Ok(dir.synthetic_images()),
        ImageSource::Folders => {
            let root = cfg.images.root.clone().ok_or_else(|| {
                Error::Invalid(
                    "images.source = \"folders\" needs images.root: the folder of the unseen \
                     concepts' images, one sub-folder per wnid (ImageNet-21K layout)"
                        .into(),
                )
            })?;
            existing_dir(&root, "images.root")?;
            Ok(root)
        }
    }
}

fn existing_dir(path: &Path, what: &str) -> Result<()> {
    if path.is_dir() {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "{what} {} is not a directory: check the path (an ImageNet-style folder with one sub-folder per wnid)",
            path.display()
        )))
    }
}

/// A concept set of the config; `synthetic` is the synthetic image set's (its seen concepts or all).
fn concept_list(
    set: &ConceptSet,
    synthetic: impl FnOnce() -> Result<ConceptList>,
    cfg: &RunConfig,
    dir: &RunDir,
) -> Result<ConceptList> {
    Ok(match set {
        ConceptSet::Synthetic => synthetic()?,
        ConceptSet::Listed(ConceptSource::ImageFolders) => {
            ConceptSource::ImageFolders.load(Some(&images_root(cfg, dir)?))?
        }
        ConceptSet::Listed(source) => source.load(None)?,
    })
}

/// The seen concepts, in list order.
pub(crate) fn seen_list(cfg: &RunConfig, dir: &RunDir, tax: &Taxonomy) -> Result<ConceptList> {
    let synthetic = || {
        Ok(ConceptList::from_names(
            "builtin:synthetic-default-seen",
            default_seen(tax, &default_concepts())?,
        ))
    };
    concept_list(&cfg.levels.seen, synthetic, cfg, dir)
}

fn pool_list(cfg: &RunConfig, dir: &RunDir) -> Result<ConceptList> {
    let synthetic = || {
        Ok(ConceptList::from_names(
            "builtin:synthetic-default-concepts",
            default_concepts(),
        ))
    };
    concept_list(&cfg.levels.pool, synthetic, cfg, dir)
}

fn level_params(cfg: &RunConfig) -> LevelParams {
    let l = &cfg.levels;
    l.preset
        .params(l.levels, l.concepts_per_level)
        .ic(l.ic.clone())
        .measure(l.measure)
        .cuts(l.cuts.cuts(l.levels, l.concepts_per_level))
}

/// Renders the synthetic images if the config asks for them (idempotent).
pub(crate) fn images(
    cfg: &RunConfig,
    dir: &RunDir,
    tax: &Taxonomy,
    obs: &dyn Observer,
) -> Result<()> {
    if cfg.images.source != ImageSource::Synthetic {
        return Ok(());
    }
    let params = SynthParams {
        images_per_concept: cfg.images.synthetic_per_concept,
        seed: cfg.images.synthetic_seed,
        ..SynthParams::default()
    };
    obs.task(
        "images",
        &format!(
            "rendering the SYNTHETIC hierarchical image set: {} WordNet concepts × {} images",
            params.concepts.len(),
            params.images_per_concept
        ),
    );
    generate(tax, &params, &dir.synthetic_images(), &|done, total| {
        obs.progress("concepts", done, total)
    })?;
    Ok(())
}

/// Builds, imports or loads the levels; returns the benchmark (with its directory).
pub(crate) fn levels(
    cfg: &RunConfig,
    dir: &RunDir,
    tax: &Taxonomy,
    obs: &dyn Observer,
) -> Result<Benchmark> {
    if cfg.levels.source == LevelSource::Dir {
        let d = cfg.levels.dir.clone().ok_or_else(|| {
            Error::Invalid(
                "levels.source = \"dir\" needs levels.dir (a `hiercog cog build` output)".into(),
            )
        })?;
        return Ok(load_benchmark(&d)?);
    }
    let out = dir.levels();
    if out.join("manifest.json").is_file() {
        obs.note(&format!("levels: reusing {}", out.display()));
        return Ok(load_benchmark(&out)?);
    }
    let root = images_root(cfg, dir)?;
    let seen = seen_list(cfg, dir, tax)?;
    let pool = pool_list(cfg, dir)?;
    let counts = match cfg.images.source {
        ImageSource::Folders => {
            obs.task(
                "count images",
                &format!("counting images per concept under {}", root.display()),
            );
            Some(count_images(&root, |p| {
                obs.progress("folders", p.done, p.total)
            })?)
        }
        ImageSource::Synthetic => None,
    };
    let inputs = BuildInputs {
        taxonomy: tax,
        taxonomy_source: taxonomy_source(cfg).to_string(),
        seen: &seen,
        pool: &pool,
        counts: counts.as_ref(),
    };
    let params = level_params(cfg);
    let split_params = SplitParams {
        seed: cfg.images.split_seed,
        test: cfg.images.test_per_concept,
        train_cap: cfg.images.train_per_concept,
    };
    let tree = ImageTreeSplits::new(&root, split_params)?;
    let (bench, official_splits) = match cfg.levels.source {
        LevelSource::Build => {
            obs.task(
                "levels",
                &format!(
                    "ranking {} candidate concepts by {} similarity to {} seen concepts",
                    pool.names().len(),
                    cfg.levels.measure,
                    seen.names().len()
                ),
            );
            (LevelBuilder::new(params)?.build(&inputs)?, None)
        }
        LevelSource::Official => {
            let pkl = cfg.levels.official_levels_pkl.clone().ok_or_else(|| {
                Error::Invalid(
                    "levels.source = \"official\" needs levels.official_levels_pkl".into(),
                )
            })?;
            obs.task(
                "levels",
                &format!("importing the official levels from {}", pkl.display()),
            );
            import_official(
                &pkl,
                cfg.levels.official_split_pkl.as_deref(),
                &inputs,
                &params,
            )?
        }
        LevelSource::Dir => unreachable!("handled above"),
    };
    // The official split file names images relative to the ImageNet-21K root: record the root,
    // so that the benchmark's split paths resolve wherever the run is started from.
    let official_splits = official_splits.map(|s| s.with_images_root(&root));
    let splits: &dyn SplitSource = match &official_splits {
        Some(s) => s,
        None => &tree,
    };
    bench.write(
        &out,
        &WriteOptions::default(),
        Some(splits),
        |stage, done, total| obs.progress(stage, done, total),
    )?;
    Ok(load_benchmark(&out)?)
}

pub(crate) fn taxonomy_source(cfg: &RunConfig) -> TaxonomySource {
    TaxonomySource::choose(
        cfg.taxonomy.wordnet_dir.as_deref(),
        cfg.taxonomy.isa_file.as_deref(),
    )
}

/// Writes the seen set's train/test lists (`seen.tsv`: `path<TAB>wnid<TAB>split`), unless present.
/// With `images.seen_root` holding `train/` and `val/` (the ImageNet-1K layout) those are the
/// splits, as in ImageNet-CoG; otherwise the seen concepts' folders are split like the levels'.
pub(crate) fn seen_splits(
    cfg: &RunConfig,
    dir: &RunDir,
    tax: &Taxonomy,
    obs: &dyn Observer,
) -> Result<()> {
    let out = dir.seen_splits();
    if out.is_file() {
        return Ok(());
    }
    let seen = seen_list(cfg, dir, tax)?;
    let wnids: BTreeSet<&str> = seen.names().iter().map(String::as_str).collect();
    let root = match &cfg.images.seen_root {
        Some(r) => {
            existing_dir(r, "images.seen_root")?;
            r.clone()
        }
        None => images_root(cfg, dir)?,
    };
    obs.task(
        "seen splits",
        &format!("listing the images of {} seen concepts", wnids.len()),
    );
    let mut tsv = String::from("path\twnid\tsplit\n");
    let imagenet_layout = root.join("train").is_dir() && root.join("val").is_dir();
    let tree = ImageTreeSplits::new(
        &root,
        SplitParams {
            seed: cfg.images.split_seed,
            test: cfg.images.test_per_concept,
            train_cap: cfg.images.train_per_concept,
        },
    )?;
    for (i, wnid) in wnids.iter().enumerate() {
        if imagenet_layout {
            for (sub, split) in [("train", Split::Train), ("val", Split::Test)] {
                let folder = root.join(sub).join(wnid);
                let mut files: Vec<String> = std::fs::read_dir(&folder)
                    .map_err(hiercog_io::Error::read(&folder))?
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('.'))
                    .collect();
                files.sort();
                for f in files {
                    let _ = writeln!(
                        tsv,
                        "{}\t{wnid}\t{split}",
                        root.join(sub).join(wnid).join(f).display()
                    );
                }
            }
        } else {
            let s = tree.concept(wnid)?;
            for (files, split) in [(&s.train, Split::Train), (&s.test, Split::Test)] {
                for f in files {
                    let _ = writeln!(tsv, "{}\t{wnid}\t{split}", root.join(f).display());
                }
            }
        }
        obs.progress("concepts", i + 1, wnids.len());
    }
    hiercog_io::write_atomic(&out, tsv.as_bytes())?;
    Ok(())
}

/// The images of one dataset's split (the seen set's from `seen.tsv`, a level's from its split file).
pub(crate) fn dataset_items(
    dir: &RunDir,
    bench: &Benchmark,
    dataset: &str,
    split: Split,
) -> Result<LabelledImages> {
    if dataset == crate::SEEN {
        let path = dir.seen_splits();
        let text = std::fs::read_to_string(&path).map_err(hiercog_io::Error::read(&path))?;
        let rows: Vec<(&str, &str, &str)> = text
            .lines()
            .skip(1)
            .filter_map(|l| {
                let mut f = l.split('\t');
                Some((f.next()?, f.next()?, f.next()?))
            })
            .collect();
        let classes: Vec<String> = rows
            .iter()
            .map(|r| r.1)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .map(String::from)
            .collect();
        let want = split.to_string();
        let items = rows
            .iter()
            .filter(|r| r.2 == want)
            .map(|r| {
                let label = classes
                    .binary_search_by(|c| c.as_str().cmp(r.1))
                    .expect("class listed") as u32;
                (PathBuf::from(r.0), label)
            })
            .collect();
        return Ok(LabelledImages { items, classes });
    }
    Ok(bench.labelled_split(dataset, split)?)
}

/// Loads the configured taxonomy.
pub(crate) fn taxonomy(cfg: &RunConfig) -> hiercog_taxonomy::Result<Arc<Taxonomy>> {
    taxonomy_source(cfg).load()
}
