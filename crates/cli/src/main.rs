//! `hiercog`: the command-line front end. It only parses flags, wires library crates together and
//! draws progress bars and tables; every number is computed in a library crate (see each
//! subcommand's module for the crate that does the work).

mod cmd;

use clap::{Parser, Subcommand};

/// Does knowing the label hierarchy make visual representations generalize to unseen concepts?
///
/// hiercog runs the ImageNet-CoG benchmark end to end: a concept hierarchy (WordNet 3.0, embedded),
/// the level builder that ranks unseen concepts by semantic distance to the seen ones, feature
/// extraction with pretrained backbones, and the linear-probe protocol.
///
/// Start with `hiercog run` (the whole pipeline on the built-in default), or explore the pieces:
/// `hiercog taxonomy show n02084071`, `hiercog cog build --preset imagenet-cog --out levels/`.
#[derive(Parser)]
#[command(name = "hiercog", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Explore the concept hierarchy: synsets, similarities, information content, LCA distances.
    Taxonomy(cmd::taxonomy::TaxonomyArgs),
    /// Build, inspect, import and compare CoG benchmark levels.
    Cog(cmd::cog::CogArgs),
    /// Train linear (and k-NN) probes on frozen features: the CoG evaluation protocol.
    Probe(cmd::probe::ProbeArgs),
    /// Extract penultimate-layer features of a pretrained backbone over an image set.
    Extract(cmd::extract::ExtractArgs),
    /// Print a backbone's top-5 ImageNet classes for images (a check of weights and preprocessing).
    Classify(cmd::extract::ClassifyArgs),
    /// List the backbones hiercog knows and install the default weights.
    Models(cmd::extract::ModelsArgs),
    /// Fit a dimensionality reduction (PCA, PCA-whitening, TLDR) on features, or apply one.
    Reduce(cmd::reduce::ReduceArgs),
    /// Retrieval evaluation of features: mAP, recall@k and hierarchical AP (H-AP).
    Retrieval(cmd::retrieval::RetrievalArgs),
    /// Self-supervised pre-training of a backbone from images: MoCo-v2, MoCHi, MoCHi-LCA.
    Pretrain(cmd::pretrain::PretrainArgs),
    /// Run the whole CoG evaluation of one backbone: levels, extraction, probes, report.
    Run(cmd::run::RunArgs),
    /// Render or compare reports of finished runs.
    Report(cmd::run::ReportArgs),
    /// Train representations with different recipes and compare their concept generalisation.
    Experiment(cmd::experiment::ExperimentArgs),
    /// Write a cluster job script (Slurm job array) that runs a configured evaluation at scale.
    Plan(cmd::run::PlanArgs),
}

fn main() {
    hiercog_nn::use_one_candle_elementwise_thread();
    // Output piped into a reader that stops early (`hiercog taxonomy show X | head -1`) ends the
    // process quietly, as for other command-line tools, instead of a panic in `println!`.
    #[cfg(unix)]
    // SAFETY: called first in `main`, before any thread exists; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Taxonomy(args) => cmd::taxonomy::run(args),
        Command::Cog(args) => cmd::cog::run(args),
        Command::Probe(args) => cmd::probe::run(args),
        Command::Extract(args) => cmd::extract::run_extract(args),
        Command::Classify(args) => cmd::extract::run_classify(args),
        Command::Models(args) => cmd::extract::run_models(args),
        Command::Reduce(args) => cmd::reduce::run(args),
        Command::Retrieval(args) => cmd::retrieval::run(args),
        Command::Pretrain(args) => cmd::pretrain::run(args),
        Command::Run(args) => cmd::run::run(args),
        Command::Report(args) => cmd::run::run_report(args),
        Command::Plan(args) => cmd::run::run_plan(args),
        Command::Experiment(args) => cmd::experiment::run(args),
    };
    if let Err(err) = result {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}
