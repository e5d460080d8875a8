//! `hiercog cog`: build, inspect, import and compare CoG benchmark levels (crate `hiercog-cog`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use hiercog_cog::{
    compare, count_images, import_official, load_benchmark, BuildInputs, ConceptList,
    ConceptSource, CutStyle, Filter, IcSource, ImageCounts, ImageTreeSplits, LevelBuilder,
    LevelParams, OfficialSplits, Preset, SplitParams, SplitSource, WriteOptions,
};
use hiercog_report::table::Table;
use hiercog_taxonomy::{Measure, Taxonomy};
use indicatif::{ProgressBar, ProgressStyle};

use super::common::{with_flag_hint, TaxonomySource};

/// Build, inspect, import and compare CoG benchmark levels.
///
/// A CoG benchmark ranks unseen concepts by their semantic similarity to the concepts a model was
/// trained on (S(c) = max over seen s of Lin(c, s)) and cuts the ranking into levels, L1 closest.
/// `build --preset imagenet-cog` reproduces the ImageNet-CoG construction on the shipped
/// ImageNet-1K and ImageNet-21K lists; any seen set, pool or taxonomy works the same way.
///
/// Examples:
///   hiercog cog build --out levels/
///   hiercog cog build --images /data/imagenet21k --out cog/          (counts, filter, splits)
///   hiercog cog build --preset generic --taxonomy isa.tsv --seen seen.txt --pool pool.txt \
///       --levels 4 --per-level 12 --out small/
///   hiercog cog show levels/ --level L3
///   hiercog cog import --levels-pkl cog_levels_mapping_file.pkl \
///       --splits-pkl cog_concepts_split_file.pkl --out official/
///   hiercog cog compare official/ levels/
///   hiercog cog count-images /data/imagenet21k --out counts.tsv
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct CogArgs {
    #[command(subcommand)]
    command: CogCommand,
}

#[derive(clap::Subcommand)]
enum CogCommand {
    /// Build the levels (and image splits with --images) into a benchmark directory.
    Build(BuildArgs),
    /// Print a benchmark directory's filters, levels and (with --level) a level's concepts.
    Show(ShowArgs),
    /// Per-level overlap (Jaccard) and rank correlation (Spearman) of two benchmark directories.
    Compare(CompareArgs),
    /// Count the images of each concept folder ROOT/<wnid>/ (streaming), as a counts TSV.
    CountImages(CountArgs),
    /// Convert the official ImageNet-CoG pickles into a benchmark directory.
    Import(ImportArgs),
}

/// Inputs shared by `build` and `import`.
#[derive(clap::Args)]
struct ConceptArgs {
    #[command(flatten)]
    taxonomy: TaxonomySource,
    /// Seen concepts: `in1k` (the shipped ImageNet-1K classes), `in21k`, or a file of one name per
    /// line (first TAB field; `#` comments). Order matters: nearest-seen ties go to the first.
    #[arg(long, default_value = "in1k", value_name = "in1k|in21k|FILE")]
    seen: ConceptSource,
    /// Candidate pool: `in21k` (the shipped ImageNet-21K fall 2011 synsets), `in1k`, `images`
    /// (the concept folders of --images), or a file of names.
    #[arg(long, default_value = "in21k", value_name = "in21k|in1k|images|FILE")]
    pool: ConceptSource,
    /// Information content of lin/res/jcn: pool-subtree (share of the pool under a concept),
    /// image-counts (the image
    /// counts propagated up), semcor, intrinsic, imagenet21k, or counts:FILE.
    #[arg(long, default_value = "pool-subtree")]
    ic: IcSource,
    /// Similarity measure: path | lch | wup | res | lin | jcn.
    #[arg(long, default_value = "lin")]
    measure: Measure,
    /// Drop names missing from the taxonomy (listed in the report) instead of failing.
    #[arg(long)]
    skip_unknown: bool,
    /// Replace the output directory if it exists (only once the new one is complete).
    #[arg(long)]
    force: bool,
    /// Do not draw the PNG/SVG plots.
    #[arg(long)]
    no_plots: bool,
}

#[derive(clap::Args)]
struct BuildArgs {
    #[command(flatten)]
    concepts: ConceptArgs,
    /// Starting point for the filters and cuts: imagenet-cog (drop seen, ancestors of seen,
    /// non-leaves of the pool, the person subtree n00007846 and, with image counts, concepts with
    /// fewer than 782 images; 5 levels of 1,000) or generic (drop seen, ancestors of seen,
    /// non-leaves; for any taxonomy).
    #[arg(
        long,
        default_value = "imagenet-cog",
        value_name = "imagenet-cog|generic"
    )]
    preset: Preset,
    /// Images per concept: `wnid<TAB>count` lines (as written by `hiercog cog count-images`).
    #[arg(long, value_name = "FILE")]
    counts: Option<PathBuf>,
    /// Image tree ROOT/<wnid>/*.JPEG: counted when --counts is not given, and split per concept
    /// into train/test files the extraction step reads.
    #[arg(long, value_name = "ROOT")]
    images: Option<PathBuf>,
    /// Number of levels K.
    #[arg(long, default_value_t = 5)]
    levels: usize,
    /// Concepts per level M (blocks and spread cuts).
    #[arg(long, default_value_t = 1000)]
    per_level: usize,
    /// blocks (K consecutive blocks of M from the top: the paper), spread (K equal-count bands of
    /// the whole ranking, each sampled to M), equal-width (K equal similarity bands), or
    /// thresholds:T1,T2,... (decreasing similarity cut points; K = count + 1).
    #[arg(long, default_value = "blocks")]
    cuts: CutStyle,
    /// Switch off a preset filter by name (repeatable): seen, ancestors-of-seen, pool-leaves,
    /// subtree:n00007846, min-images.
    #[arg(long, value_name = "NAME")]
    no_filter: Vec<String>,
    /// Also drop descendants of seen concepts.
    #[arg(long)]
    drop_descendants: bool,
    /// Also drop the subtree of this concept (repeatable).
    #[arg(long, value_name = "CONCEPT")]
    exclude_subtree: Vec<String>,
    /// Also drop the concepts listed in FILE (repeatable).
    #[arg(long, value_name = "FILE")]
    exclude_list: Vec<PathBuf>,
    /// Minimum images per concept (needs --counts or --images); the imagenet-cog preset uses 782
    /// (732 train + 50 test) whenever counts are given.
    #[arg(long, value_name = "N")]
    min_images: Option<u64>,
    /// Accept fewer eligible concepts than K x M (K equal levels of what there is) or empty levels.
    #[arg(long)]
    allow_smaller: bool,
    /// Seed of the per-concept image shuffles.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Test images per concept.
    #[arg(long, default_value_t = 50)]
    test_images: usize,
    /// Most training images per concept.
    #[arg(long, default_value_t = 1300)]
    train_cap: usize,
    /// Output benchmark directory.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

#[derive(clap::Args)]
struct ImportArgs {
    #[command(flatten)]
    concepts: ConceptArgs,
    /// The official `cog_levels_mapping_file.pkl` (5 lists of wnids).
    #[arg(long, value_name = "FILE")]
    levels_pkl: PathBuf,
    /// The official `cog_concepts_split_file.pkl` (train/test file names per concept; 678 MB).
    #[arg(long, value_name = "FILE")]
    splits_pkl: Option<PathBuf>,
    /// The ImageNet-21K image root the split file names are relative to (recorded for extraction).
    #[arg(long, value_name = "DIR")]
    images_root: Option<PathBuf>,
    /// Output benchmark directory.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

#[derive(clap::Args)]
struct ShowArgs {
    /// A benchmark directory.
    dir: PathBuf,
    /// List this level's concepts (L1..).
    #[arg(long)]
    level: Option<String>,
    /// How many concepts to list.
    #[arg(long, default_value_t = 20)]
    limit: usize,
}

#[derive(clap::Args)]
struct CompareArgs {
    /// First benchmark directory (e.g. the imported official levels).
    a: PathBuf,
    /// Second benchmark directory.
    b: PathBuf,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct CountArgs {
    /// Image tree: one sub-directory of images per concept.
    root: PathBuf,
    /// Write the TSV here instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

pub fn run(args: CogArgs) -> anyhow::Result<()> {
    match args.command {
        CogCommand::Build(a) => build(a),
        CogCommand::Show(a) => show(a),
        CogCommand::Compare(a) => compare_dirs(a),
        CogCommand::CountImages(a) => count(a),
        CogCommand::Import(a) => import(a),
    }
    .map_err(|e| with_flag_hint(e, flag_for))
}

/// The flag of `cog build`/`cog import` that fixes a level-builder error.
fn flag_for(e: &hiercog_cog::Error) -> Option<&'static str> {
    use hiercog_cog::Error as E;
    Some(match e {
        E::UnknownConcepts { .. } => "--skip-unknown drops the unknown names",
        E::TooFewEligible { .. } => "lower --levels or --per-level, or pass --allow-smaller",
        E::EmptyLevel { .. } => "choose other --cuts thresholds, or pass --allow-smaller",
        E::CountsNeededForIc => "pass --counts FILE or --images ROOT",
        E::TooFewImages { .. } => "raise --min-images, or lower --test-images",
        E::OutputExists { .. } => "pass --force to replace it, or choose another --out",
        _ => return None,
    })
}

/// A progress bar on standard error (hidden when it is not a terminal).
fn bar(total: usize, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(total as u64);
    pb.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta})")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}

/// Counts the images of a tree with a progress bar.
fn count_with_bar(root: &Path) -> anyhow::Result<ImageCounts> {
    let pb = bar(0, "counting images");
    let counts = count_images(root, |p| {
        pb.set_length(p.total as u64);
        pb.set_position(p.done as u64);
    })?;
    pb.finish_and_clear();
    let empty: Vec<&str> = counts
        .entries()
        .iter()
        .filter(|(_, n)| *n == 0)
        .map(|(w, _)| w.as_str())
        .collect();
    if !empty.is_empty() {
        eprintln!(
            "warning: {} of {} concept folders under {} hold no image, e.g. {}",
            empty.len(),
            counts.entries().len(),
            root.display(),
            empty.iter().take(5).copied().collect::<Vec<_>>().join(", ")
        );
    }
    Ok(counts)
}

impl ConceptArgs {
    /// Taxonomy, its manifest label, seen list and pool.
    fn load(
        &self,
        images: Option<&Path>,
    ) -> anyhow::Result<(Arc<Taxonomy>, String, ConceptList, ConceptList)> {
        let tax = self.taxonomy.load()?;
        let list = |source: &ConceptSource, flag: &str| {
            source.load(images).with_context(|| match source {
                ConceptSource::ImageFolders => format!("{flag} images needs --images ROOT"),
                _ => format!("reading {flag} {source}"),
            })
        };
        let seen = list(&self.seen, "--seen")?;
        let pool = list(&self.pool, "--pool")?;
        Ok((tax, self.taxonomy.source().to_string(), seen, pool))
    }
}

/// The preset's filters with the flags applied.
fn filters(a: &BuildArgs, preset: &LevelParams, have_counts: bool) -> anyhow::Result<Vec<Filter>> {
    let mut fs = preset.filter_steps().to_vec();
    for name in &a.no_filter {
        let before = fs.len();
        fs.retain(|f| {
            f.name() != *name && !(name == "min-images" && matches!(f, Filter::MinImages { .. }))
        });
        if fs.len() == before {
            let names: Vec<String> = preset.filter_steps().iter().map(Filter::name).collect();
            bail!(
                "--no-filter {name}: no such filter in preset {} (it has {})",
                a.preset,
                names.join(", ")
            );
        }
    }
    if a.drop_descendants {
        fs.push(Filter::DescendantsOfSeen);
    }
    fs.extend(
        a.exclude_subtree
            .iter()
            .map(|r| Filter::Subtree { root: r.clone() }),
    );
    for f in &a.exclude_list {
        let list = ConceptList::from_file(f)?;
        fs.push(Filter::List {
            source: f.display().to_string(),
            names: list.names().to_vec(),
        });
    }
    if let Some(min) = a.min_images {
        if !have_counts {
            bail!("--min-images needs image counts: pass --counts FILE or --images ROOT");
        }
        fs.retain(|f| !matches!(f, Filter::MinImages { .. }));
        fs.push(Filter::MinImages { min });
    }
    Ok(fs)
}

fn build(a: BuildArgs) -> anyhow::Result<()> {
    if a.out.exists() && !a.concepts.force {
        bail!(
            "{} already exists: pass --force to replace it, or choose another --out",
            a.out.display()
        );
    }
    let (tax, tax_label, seen, pool) = a.concepts.load(a.images.as_deref())?;
    let counts = match (&a.counts, &a.images) {
        (Some(f), _) => Some(ImageCounts::from_file(f)?),
        (None, Some(root)) => Some(count_with_bar(root)?),
        (None, None) => None,
    };
    let preset = a.preset.params(a.levels, a.per_level);
    let params = preset
        .clone()
        .filters(filters(&a, &preset, counts.is_some())?)
        .ic(a.concepts.ic.clone())
        .measure(a.concepts.measure)
        .cuts(a.cuts.cuts(a.levels, a.per_level))
        .skip_unknown(a.concepts.skip_unknown)
        .allow_smaller(a.allow_smaller);
    let inputs = BuildInputs {
        taxonomy: &tax,
        taxonomy_source: tax_label,
        seen: &seen,
        pool: &pool,
        counts: counts.as_ref(),
    };
    let bench = LevelBuilder::new(params)?.build(&inputs)?;
    let splits = a
        .images
        .as_ref()
        .map(|root| {
            ImageTreeSplits::new(
                root,
                SplitParams {
                    seed: a.seed,
                    test: a.test_images,
                    train_cap: a.train_cap,
                },
            )
        })
        .transpose()?;
    write_with_bar(
        &bench,
        &a.out,
        &a.concepts,
        splits.as_ref().map(|s| s as &dyn SplitSource),
    )?;
    let m = bench.manifest();
    for f in &m.filters {
        eprintln!(
            "{:>28}: removed {:>6}, {:>6} left{}",
            f.name,
            f.removed,
            f.remaining,
            f.note.as_ref().map_or(String::new(), |n| format!(" ({n})"))
        );
    }
    for n in &m.notes {
        eprintln!("note: {n}");
    }
    let sizes: Vec<String> = m
        .levels
        .iter()
        .map(|l| format!("{} {}", l.name, l.size))
        .collect();
    println!(
        "wrote {} ({} eligible; {}); see {}",
        a.out.display(),
        m.eligible,
        sizes.join(", "),
        a.out.join("report.md").display()
    );
    Ok(())
}

/// Writes the benchmark directory with the `--force` / `--no-plots` choices, drawing a bar while
/// splits are written.
fn write_with_bar(
    bench: &hiercog_cog::Benchmark,
    out: &Path,
    concepts: &ConceptArgs,
    splits: Option<&dyn SplitSource>,
) -> anyhow::Result<()> {
    let opts = WriteOptions {
        force: concepts.force,
        no_plots: concepts.no_plots,
    };
    let pb = bar(0, "writing splits");
    if splits.is_none() {
        pb.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bench.write(out, &opts, splits, |_, done, total| {
        pb.set_length(total as u64);
        pb.set_position(done as u64);
    })?;
    pb.finish_and_clear();
    Ok(())
}

fn import(a: ImportArgs) -> anyhow::Result<()> {
    if a.out.exists() && !a.concepts.force {
        bail!(
            "{} already exists: pass --force to replace it, or choose another --out",
            a.out.display()
        );
    }
    let (tax, tax_label, seen, pool) = a.concepts.load(None)?;
    let params = LevelParams::imagenet_cog()
        .ic(a.concepts.ic.clone())
        .measure(a.concepts.measure)
        .skip_unknown(a.concepts.skip_unknown);
    let inputs = BuildInputs {
        taxonomy: &tax,
        taxonomy_source: tax_label,
        seen: &seen,
        pool: &pool,
        counts: None,
    };
    let (bench, splits) =
        import_official(&a.levels_pkl, a.splits_pkl.as_deref(), &inputs, &params)?;
    let splits: Option<OfficialSplits> = splits.map(|s| match &a.images_root {
        Some(r) => s.with_images_root(r),
        None => s,
    });
    write_with_bar(
        &bench,
        &a.out,
        &a.concepts,
        splits.as_ref().map(|s| s as &dyn SplitSource),
    )?;
    let sizes: Vec<String> = bench
        .manifest()
        .levels
        .iter()
        .map(|l| format!("{} {}", l.name, l.size))
        .collect();
    println!("wrote {} ({})", a.out.display(), sizes.join(", "));
    Ok(())
}

fn show(a: ShowArgs) -> anyhow::Result<()> {
    let b = load_benchmark(&a.dir)?;
    let m = b.manifest();
    println!(
        "{} ({} by {} {}): preset {}, measure {}, IC {}",
        a.dir.display(),
        m.kind,
        m.tool,
        m.version,
        m.params["preset"],
        m.params["measure"],
        m.params["ic"]
    );
    let mut t = Table::new(["step", "removed", "remaining", "note"]);
    for f in &m.filters {
        t.push_row([
            f.name.clone(),
            f.removed.to_string(),
            f.remaining.to_string(),
            f.note.clone().unwrap_or_default(),
        ]);
    }
    println!("\n{}", t.to_terminal());
    let mut t = Table::new(["level", "concepts", "max S", "median S", "min S"]);
    for l in &m.levels {
        let s = &l.similarity;
        t.push_row([
            l.name.clone(),
            l.size.to_string(),
            format!("{:.4}", s.max),
            format!("{:.4}", s.median),
            format!("{:.4}", s.min),
        ]);
    }
    println!("{}", t.to_terminal());
    for n in &m.notes {
        println!("note: {n}");
    }
    if let Some(level) = &a.level {
        let lv = b.level(level)?;
        let mut t = Table::new(["wnid", "lemma", "S", "nearest seen"]);
        for c in lv.concepts.iter().take(a.limit) {
            t.push_row([
                c.wnid.clone(),
                c.lemma.clone(),
                format!("{:.4}", c.similarity),
                format!("{} ({})", c.nearest_seen_lemma, c.nearest_seen),
            ]);
        }
        println!(
            "\n{} ({} of {} concepts)\n{}",
            lv.name,
            a.limit.min(lv.concepts.len()),
            lv.concepts.len(),
            t.to_terminal()
        );
    }
    Ok(())
}

fn compare_dirs(a: CompareArgs) -> anyhow::Result<()> {
    let (x, y) = (load_benchmark(&a.a)?, load_benchmark(&a.b)?);
    let c = compare(&x, &y);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&c)?);
    } else {
        println!(
            "A = {}\nB = {}\n\n{}",
            a.a.display(),
            a.b.display(),
            c.to_markdown()
        );
    }
    Ok(())
}

fn count(a: CountArgs) -> anyhow::Result<()> {
    let counts = count_with_bar(&a.root)?;
    match &a.out {
        None => print!("{}", counts.to_tsv()),
        Some(path) => {
            hiercog_io::write_atomic(path, counts.to_tsv().as_bytes())?;
            let total: u64 = counts.entries().iter().map(|(_, n)| n).sum();
            eprintln!(
                "wrote {} ({} concepts, {} images)",
                path.display(),
                counts.entries().len(),
                total
            );
        }
    }
    Ok(())
}
