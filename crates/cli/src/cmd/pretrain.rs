//! `hiercog pretrain moco`: self-supervised pre-training (MoCo-v2, MoCHi, MoCHi-LCA) from an
//! image folder, over `hiercog_train::pretrain`. The result, `OUT/model`, is a trained backbone
//! directory (weights + model card) like every trained model of hiercog.

use crate::cmd::common::{with_flag_hint, TaxonomySource};
use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use hiercog_losses::{LabelTree, TreeFromDag};
use hiercog_nn::dataset::ImageSet;
use hiercog_nn::trainable::Architecture;
use hiercog_nn::{device_from_name, Preprocess};
use hiercog_train::{
    pretrain, Augmentation, ContrastiveRecipe, Head, MochiConfig, Progress, RunOptions,
    TrainConfig, TrainSet,
};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct PretrainArgs {
    #[command(subcommand)]
    pub command: PretrainCommand,
}

#[derive(Subcommand)]
pub enum PretrainCommand {
    /// MoCo-v2 from images; MoCHi hard-negative mixing with --mochi N,s,s′; hierarchy-aware
    /// negatives (MoCHi-LCA) with --hierarchy.
    ///
    /// Examples:
    ///   hiercog pretrain moco --images train/ --epochs 30 --out runs/moco
    ///   hiercog pretrain moco --mochi 256,512,256 --images train/ --epochs 30 --out runs/mochi
    ///   hiercog pretrain moco --mochi 64,128,64 --hierarchy --images train/ --out runs/mochi-lca
    ///   hiercog pretrain moco --preset gpu --mochi 512,1024,512 --images imagenet/train \
    ///       --device cuda --out runs/mochi-in1k        # ResNet-50, K = 65,536, 200 epochs
    ///
    /// An interrupted run resumes from its last epoch with the same --out and flags. The trained
    /// trunk is written to OUT/model.
    #[command(verbatim_doc_comment)]
    Moco(MocoArgs),
}

/// Which preset the flags start from.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum Preset {
    /// ResNet-18 at width 16 from 64 px views, K = 1,024, m = 0.99, batch 64, 30 epochs (a CPU
    /// budget; see hiercog-train's README for the scale-down).
    Cpu,
    /// MoCo-v2 as published: ResNet-50, 224 px, K = 65,536, m = 0.999, batch 256, Shuffle-BN
    /// over 8 groups, lr 0.03, 200 epochs.
    Gpu,
}

#[derive(clap::Args)]
pub struct MocoArgs {
    /// Training images in class folders: DIR/<class>/<image>. Labels are not used to train;
    /// they feed the false-negative diagnostic and, with --hierarchy, the label tree (class
    /// names must then be concepts of the taxonomy, e.g. wnids).
    #[arg(long, value_name = "DIR")]
    pub images: PathBuf,
    /// Run directory: checkpoints, metrics.csv, and the trained backbone in OUT/model.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Starting point for the settings below.
    #[arg(long, value_enum, default_value = "cpu")]
    pub preset: Preset,
    /// Epochs (default: the preset's).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// MoCHi(N, s, s′): mix each query's N hardest queue negatives into s pairs and s′
    /// query mixes, e.g. 256,512,256.
    #[arg(long, value_name = "N,S,S'")]
    pub mochi: Option<MochiConfig>,
    /// First epoch (0-based) that mixes; plain MoCo before.
    #[arg(long, default_value_t = 0, requires = "mochi")]
    pub mochi_start_epoch: usize,
    /// Hierarchy-aware negatives: drop queue negatives of the query's class, and (with
    /// --mochi) draw mixing partners by LCA distance — MoCHi-LCA.
    #[arg(long)]
    pub hierarchy: bool,
    /// How a DAG (WordNet) becomes the label tree of --hierarchy.
    #[arg(long, default_value = "longest")]
    pub tree_from_dag: TreeFromDag,
    #[command(flatten)]
    pub taxonomy: TaxonomySource,
    /// Side of the training views in pixels (default: the preset's, 64 or 224).
    #[arg(long)]
    pub size: Option<u32>,
    /// ResNet width, channels of the first stage (default: the preset's, 16 or 64).
    #[arg(long)]
    pub width: Option<usize>,
    /// Batch size (default: the preset's, 64 or 256).
    #[arg(long)]
    pub batch: Option<usize>,
    /// Peak learning rate (default: the preset's, 0.06 or 0.03).
    #[arg(long)]
    pub lr: Option<f64>,
    /// K, the queue of negatives, a multiple of the batch (default: 1,024 or 65,536).
    #[arg(long)]
    pub queue: Option<usize>,
    /// m, the key encoder's momentum (default: 0.99 or 0.999).
    #[arg(long)]
    pub momentum: Option<f64>,
    /// τ, the InfoNCE temperature (default 0.2).
    #[arg(long)]
    pub tau: Option<f64>,
    /// G, BatchNorm sub-batches that emulate Shuffle-BN's devices on one (default 2 or 8;
    /// 1 turns it off).
    #[arg(long)]
    pub shuffle_groups: Option<usize>,
    /// Seed of the initial weights, the data order, the augmentation and the mixing.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// cpu, cuda or cuda:N (CUDA needs a build with `--features cuda`).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Threads decoding and augmenting images ahead of the network.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
}

impl MocoArgs {
    /// The training recipe: the preset with the flags applied.
    fn config(&self) -> TrainConfig {
        let mut c = match self.preset {
            Preset::Cpu => TrainConfig::moco_small_resnet(),
            Preset::Gpu => TrainConfig::moco_v2_gpu(),
        };
        let recipe = ContrastiveRecipe {
            mochi: self.mochi.clone().map(|m| {
                Some(MochiConfig {
                    start_epoch: self.mochi_start_epoch,
                    ..m
                })
            }),
            hierarchy: self.hierarchy,
        };
        c = recipe.config(&c);
        if let Head::Moco(m) = &mut c.head {
            m.queue_size = self.queue.unwrap_or(m.queue_size);
            m.momentum = self.momentum.unwrap_or(m.momentum);
            m.tau = self.tau.unwrap_or(m.tau);
            m.shuffle_groups = self.shuffle_groups.unwrap_or(m.shuffle_groups);
        }
        if let (Some(w), Architecture::ResNet(r)) = (self.width, &mut c.architecture) {
            r.width = w;
        }
        if let Some(size) = self.size {
            c.augmentation = Augmentation::moco_v2(size);
        }
        c.epochs = self.epochs.unwrap_or(c.epochs);
        c.batch_size = self.batch.unwrap_or(c.batch_size);
        c.lr = self.lr.unwrap_or(c.lr);
        c.seed = self.seed;
        c
    }
}

/// The flag that sets a library setting, for error hints.
fn flag_of(err: &hiercog_train::Error) -> Option<&'static str> {
    match err {
        hiercog_train::Error::Setting { name, .. } => match *name {
            "MoCo queue size" => Some("--queue (a multiple of --batch)"),
            "MoCo shuffle groups" => Some("--shuffle-groups (a divisor of --batch)"),
            "MoCo momentum" => Some("--momentum"),
            "MoCo temperature" => Some("--tau"),
            "MoCHi N" => Some("--mochi N,s,s′ (N ≤ --queue)"),
            "batch size" => Some("--batch"),
            "epochs" => Some("--epochs"),
            "learning rate" => Some("--lr"),
            "label tree" => {
                Some("--hierarchy with --taxonomy FILE or class folders named by wnids")
            }
            _ => None,
        },
        hiercog_train::Error::Resume { .. } => Some("another --out, or delete it to start over"),
        _ => None,
    }
}

pub fn run(args: PretrainArgs) -> anyhow::Result<()> {
    match args.command {
        PretrainCommand::Moco(a) => run_moco(a),
    }
}

fn run_moco(args: MocoArgs) -> anyhow::Result<()> {
    let images = ImageSet::from_folder(&args.images)
        .with_context(|| format!("--images {}", args.images.display()))?;
    for f in &images.ignored {
        eprintln!("note: not a JPEG/PNG, left out: {}", f.display());
    }
    let config = args.config();
    let tree = if args.hierarchy {
        let tax = args.taxonomy.load()?;
        Some(
            LabelTree::from_taxonomy(&tax, &images.classes, args.tree_from_dag).with_context(
                || {
                    format!(
                        "--hierarchy: the class folders of --images {} as concepts of the taxonomy",
                        args.images.display()
                    )
                },
            )?,
        )
    } else {
        None
    };
    let side = config.augmentation.groups[0].crop.size;
    let set = TrainSet::images(
        &images.items,
        images.classes.clone(),
        Preprocess::imagenet(side * 8 / 7, side),
    )?;
    let device = device_from_name(&args.device)?;
    let moco = match &config.head {
        Head::Moco(m) => format!(
            "K {}, m {}, τ {}, G {}",
            m.queue_size, m.momentum, m.tau, m.shuffle_groups
        ),
        _ => String::new(),
    };
    eprintln!(
        "{} images in {} classes; {} ({moco}), batch {}, lr {}, {side} px views, on {}",
        set.len(),
        set.classes.len(),
        config.describe(),
        config.batch_size,
        config.lr,
        args.device
    );
    let bar = ProgressBar::hidden();
    bar.set_style(
        ProgressStyle::with_template("epoch {prefix} {bar:30} {pos}/{len} steps  {msg}  eta {eta}")
            .expect("valid template"),
    );
    let progress = |p: &Progress| match p {
        Progress::Started {
            first_epoch,
            epochs,
            steps_per_epoch,
        } => {
            if *first_epoch > 0 {
                eprintln!("resuming after epoch {first_epoch} of {epochs}");
            }
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            bar.set_length(*steps_per_epoch as u64);
        }
        Progress::Step {
            epoch,
            step,
            loss,
            top1,
            lr,
            ..
        } => {
            bar.set_prefix(format!("{}/{}", epoch + 1, config.epochs));
            bar.set_position(*step as u64 + 1);
            bar.set_message(format!(
                "loss {loss:.3}  proxy top-1 {top1:.1}%  lr {lr:.2e}"
            ));
        }
        Progress::Epoch(m) => {
            let diag: Vec<String> = m
                .diagnostics
                .iter()
                .map(|(k, v)| format!("{k} {v:.3}"))
                .collect();
            // Printed above the bar, or plainly when stderr is no terminal (the bar is hidden).
            bar.suspend(|| {
                eprintln!(
                    "epoch {}: loss {:.4}, proxy top-1 {:.1}%, {}; {:.0} s, {:.1} images/s",
                    m.epoch,
                    m.loss,
                    m.top1,
                    diag.join(", "),
                    m.seconds,
                    m.images_per_sec
                )
            });
            bar.reset();
        }
    };
    let out = pretrain(
        &set,
        &config,
        tree.as_ref(),
        &args.out,
        &device,
        &RunOptions {
            workers: Some(args.workers),
            ..RunOptions::default()
        },
        &progress,
    )
    .map_err(|e| with_flag_hint(anyhow::Error::new(e), flag_of))
    .with_context(|| format!("pre-training into --out {}", args.out.display()))?;
    bar.finish_and_clear();
    if out.resumed_epochs >= config.epochs {
        println!("already trained: {}", out.model_dir.display());
    } else {
        println!(
            "trained backbone ({}-d features): {}",
            out.model.feature_dim(),
            out.model_dir.display()
        );
    }
    Ok(())
}
