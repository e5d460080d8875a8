//! `hiercog reduce`: fit a dimensionality reduction on a feature set (PCA, PCA-whitening, TLDR;
//! crate `hiercog-reduce`) and apply a fitted one to other feature sets.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use hiercog_features::{FeatureSet, Format};
use hiercog_reduce::{FitProgress, KnnMethod, PcaParams, Reducer, TldrParams};
use hiercog_retrieval::Rows;
use indicatif::{ProgressBar, ProgressStyle};

/// Fit or apply a dimensionality reduction.
#[derive(clap::Args)]
pub struct ReduceArgs {
    #[command(subcommand)]
    command: ReduceCommand,
}

#[derive(clap::Subcommand)]
enum ReduceCommand {
    /// Fit a reduction on a feature set and save it as a model directory.
    ///
    /// Example: hiercog reduce fit --method tldr --dim 128 --in train/ --out tldr128/
    Fit(FitArgs),
    /// Apply a fitted reduction to a feature set (labels and class names are kept).
    ///
    /// Example: hiercog reduce transform --model tldr128/ --in test/ --out test-128.npz
    Transform(TransformArgs),
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum MethodArg {
    /// TLDR: an encoder trained on nearest-neighbour pairs (Barlow Twins loss).
    Tldr,
    /// PCA (scikit-learn's).
    Pca,
    /// PCA-whitening, variances shrunk towards their mean by --shrinkage.
    PcaWhiten,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum KnnArg {
    /// Exact inner-product search (the reference's).
    Exact,
    /// HNSW graph: approximate, for large sets; its recall on 1,000 rows is printed.
    Hnsw,
}

#[derive(clap::Args)]
struct FitArgs {
    /// Method.
    #[arg(long, value_enum, default_value = "tldr")]
    method: MethodArg,
    /// Output dimension.
    #[arg(long, value_name = "D")]
    dim: usize,
    /// Training features (npy directory, .npz, .safetensors or the reference's .pth).
    #[arg(long = "in", value_name = "FEATS")]
    input: PathBuf,
    /// Model directory to write (model.json + weights.safetensors).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// pca-whiten: shrink the variances towards their mean by this fraction (0 = plain whitening).
    #[arg(long, default_value_t = 0.0)]
    shrinkage: f64,
    /// TLDR: neighbours among which pairs are drawn.
    #[arg(long, default_value_t = 5)]
    n_neighbors: usize,
    /// TLDR: encoder (linear, flinear-1-512, mlp-1-2048, ...).
    #[arg(long, default_value = "linear")]
    encoder: String,
    /// TLDR: projector (mlp-2-2048, ...), or `none`.
    #[arg(long, default_value = "mlp-2-2048")]
    projector: String,
    /// TLDR: training epochs.
    #[arg(long, default_value_t = 100)]
    epochs: usize,
    /// TLDR: linear warm-up epochs.
    #[arg(long, default_value_t = 10)]
    warmup_epochs: usize,
    /// TLDR: batch size.
    #[arg(long, default_value_t = 1024)]
    batch_size: usize,
    /// TLDR: learning rate per 256 samples.
    #[arg(long, default_value_t = 0.2)]
    lr: f64,
    /// TLDR: how the k-NN graph is computed.
    #[arg(long, value_enum, default_value = "exact")]
    knn: KnnArg,
    /// TLDR with --knn hnsw: candidate list size (construction and search).
    #[arg(long, default_value_t = 100)]
    ef: usize,
    /// TLDR: seed of the initialisation and sampling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(clap::Args)]
struct TransformArgs {
    /// Model directory written by `hiercog reduce fit`.
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// Features to reduce.
    #[arg(long = "in", value_name = "FEATS")]
    input: PathBuf,
    /// Output: a .npz, .safetensors or .pth file, or else an npy directory.
    #[arg(long, value_name = "PATH")]
    out: PathBuf,
    /// Keep the reduced vectors as they are instead of L2-normalising them.
    #[arg(long)]
    no_l2: bool,
}

/// Runs `hiercog reduce`.
pub fn run(args: ReduceArgs) -> anyhow::Result<()> {
    match args.command {
        ReduceCommand::Fit(a) => fit(a),
        ReduceCommand::Transform(a) => transform(a),
    }
}

/// Loads and validates a feature set.
fn load(path: &Path) -> anyhow::Result<FeatureSet> {
    let set = FeatureSet::load(path).with_context(|| format!("loading {}", path.display()))?;
    set.validate()?;
    Ok(set)
}

fn tldr_params(a: &FitArgs) -> anyhow::Result<TldrParams> {
    let mut p = TldrParams::new(a.dim);
    p.n_neighbors = a.n_neighbors;
    p.encoder = a.encoder.parse().context("--encoder")?;
    p.projector = match a.projector.as_str() {
        "none" => None,
        s => Some(s.parse().context("--projector")?),
    };
    p.epochs = a.epochs;
    p.warmup_epochs = a.warmup_epochs;
    p.batch_size = a.batch_size;
    p.learning_rate = a.lr;
    p.knn = match a.knn {
        KnnArg::Exact => KnnMethod::Exact,
        KnnArg::Hnsw => KnnMethod::Hnsw {
            ef_construction: a.ef,
            ef_search: a.ef.max(a.n_neighbors + 1),
        },
    };
    p.seed = a.seed;
    Ok(p)
}

fn fit(a: FitArgs) -> anyhow::Result<()> {
    let set = load(&a.input)?;
    let x = Rows::new(set.x(), set.dim())?;
    let started = Instant::now();
    let reducer: Reducer = match a.method {
        MethodArg::Pca => PcaParams::new(a.dim).fit(x)?.into(),
        MethodArg::PcaWhiten => PcaParams::whitened(a.dim, a.shrinkage).fit(x)?.into(),
        MethodArg::Tldr => {
            let params = tldr_params(&a)?;
            let checkpoint = a.out.join("fit.checkpoint.safetensors");
            let pb = ProgressBar::new(1);
            pb.set_style(
                ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos}/{len} {msg} ETA {eta}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            let model = params
                .fit(x, Some(&checkpoint), &|p| match p {
                    FitProgress::Knn { done, total } => {
                        pb.set_prefix("k-NN graph");
                        pb.set_length(total as u64);
                        pb.set_position(done as u64);
                    }
                    FitProgress::KnnRecall { recall, sampled } => pb.println(format!(
                        "HNSW graph: recall@{} {:.3} against exact search on {sampled} rows",
                        params.n_neighbors, recall
                    )),
                    FitProgress::Epoch {
                        epoch,
                        epochs,
                        loss,
                    } => {
                        pb.set_prefix("epochs");
                        pb.set_length(epochs as u64);
                        pb.set_position(epoch as u64);
                        pb.set_message(format!("loss {loss:.4}"));
                    }
                })
                .with_context(|| format!("fitting TLDR (resumable: {})", checkpoint.display()))?;
            pb.finish_and_clear();
            let reducer = Reducer::from(model);
            reducer.save(&a.out)?;
            std::fs::remove_file(&checkpoint)
                .with_context(|| format!("removing {}", checkpoint.display()))?;
            reducer
        }
    };
    if !matches!(a.method, MethodArg::Tldr) {
        reducer.save(&a.out)?;
    }
    eprintln!(
        "{} {} → {} fitted on {} rows in {:.1} s; model in {}",
        reducer.method(),
        reducer.input_dim(),
        reducer.output_dim(),
        set.rows(),
        started.elapsed().as_secs_f64(),
        a.out.display()
    );
    Ok(())
}

/// The feature format of an output path: by extension, else an npy directory.
pub fn output_format(path: &Path) -> Format {
    match path.extension().and_then(|e| e.to_str()) {
        Some("npz") => Format::Npz,
        Some("safetensors") => Format::Safetensors,
        Some("pth") | Some("pt") => Format::Pth,
        _ => Format::Npy,
    }
}

/// Loads a model directory, naming it in errors.
pub fn load_model(dir: &Path) -> anyhow::Result<Reducer> {
    Reducer::load(dir).with_context(|| {
        format!(
            "loading the reduction model {} (written by `hiercog reduce fit`)",
            dir.display()
        )
    })
}

/// Applies `model` to a feature set, keeping its labels and class names.
pub fn reduce_set(model: &Reducer, set: &FeatureSet, l2_norm: bool) -> anyhow::Result<FeatureSet> {
    let z = model
        .transform(Rows::new(set.x(), set.dim())?, l2_norm)
        .with_context(|| {
            format!(
                "reducing {}",
                set.source
                    .as_deref()
                    .unwrap_or(Path::new("features"))
                    .display()
            )
        })?;
    Ok(FeatureSet::from_vec(
        z,
        model.output_dim(),
        set.labels.clone(),
        set.class_names.clone(),
    )?)
}

fn transform(a: TransformArgs) -> anyhow::Result<()> {
    let model = load_model(&a.model)?;
    let set = load(&a.input)?;
    let out = reduce_set(&model, &set, !a.no_l2)?;
    out.save(&a.out, output_format(&a.out))
        .with_context(|| format!("writing {}", a.out.display()))?;
    eprintln!(
        "{} rows reduced {} → {} ({}) into {}",
        out.rows(),
        model.input_dim(),
        model.output_dim(),
        model.method(),
        a.out.display()
    );
    Ok(())
}
