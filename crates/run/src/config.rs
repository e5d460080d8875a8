//! The run configuration: one TOML file captures everything a run does, so that a run directory can be
//! re-created, resumed, compared and planned on a cluster from it alone. Every field has a default: the
//! empty file is the built-in default run (synthetic images of real WordNet concepts, EfficientNet-Lite0).

use std::path::{Path, PathBuf};

use hiercog_cog::{ConceptSource, CutStyle, IcSource, Preset};
use hiercog_features::Preprocess;
use hiercog_probe::SolverKind;
use hiercog_reduce::Reduction;
use hiercog_taxonomy::Measure;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Everything `hiercog run` does, as written in `run.toml` (`hiercog run --print-config` prints it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// Where the run lives: images (if generated), levels, features, results store, report.
    pub run_dir: PathBuf,
    /// The hierarchy that ranks unseen concepts and defines the hierarchical metrics.
    pub taxonomy: TaxonomyConfig,
    /// Where the images come from and how each concept's are split into train and test.
    pub images: ImagesConfig,
    /// How the seen set and the levels of unseen concepts are chosen.
    pub levels: LevelsConfig,
    /// The frozen backbone that extracts the features.
    pub model: ModelConfig,
    /// The probe protocol run on every dataset.
    pub probe: ProbeConfig,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            run_dir: PathBuf::from("runs/default"),
            taxonomy: TaxonomyConfig::default(),
            images: ImagesConfig::default(),
            levels: LevelsConfig::default(),
            model: ModelConfig::default(),
            probe: ProbeConfig::default(),
        }
    }
}

/// Which concept hierarchy ranks the unseen concepts (and defines hierarchical metrics).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TaxonomyConfig {
    /// A WordNet dict directory to read instead of the embedded WordNet 3.0 snapshot.
    pub wordnet_dir: Option<PathBuf>,
    /// A user is-a file (`parent<TAB>child` lines) to use instead of WordNet.
    pub isa_file: Option<PathBuf>,
}

/// Where the images of the seen and unseen concepts come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImagesConfig {
    /// `synthetic`: hiercog renders its synthetic hierarchical image set into the run directory;
    /// `folders`: real images in ImageNet layout (`root/<wnid>/*`).
    pub source: ImageSource,
    /// Images rendered per concept (synthetic only).
    pub synthetic_per_concept: usize,
    /// Seed of the synthetic renderer.
    pub synthetic_seed: u64,
    /// Root of the unseen-concept images, `root/<wnid>/*` (ImageNet-21K layout).
    pub root: Option<PathBuf>,
    /// Root of the seen-concept images (ImageNet-1K `train/` layout, `root/<wnid>/*`); defaults to `root`.
    pub seen_root: Option<PathBuf>,
    /// Training images kept per concept at most (the rest beyond the test images is unused).
    pub train_per_concept: usize,
    /// Test images per concept.
    pub test_per_concept: usize,
    /// Seed of the per-concept train/test split.
    pub split_seed: u64,
}

/// Where a run's images come from (`images.source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImageSource {
    /// hiercog-synth renders its synthetic set into the run directory (nothing to download).
    Synthetic,
    /// Real images in ImageNet layout under `images.root` (and `images.seen_root`).
    Folders,
}

impl Default for ImagesConfig {
    fn default() -> Self {
        ImagesConfig {
            source: ImageSource::Synthetic,
            synthetic_per_concept: 40,
            synthetic_seed: 0,
            root: None,
            seen_root: None,
            train_per_concept: 24,
            test_per_concept: 16,
            split_seed: 0,
        }
    }
}

/// How the seen set and the levels of unseen concepts are obtained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LevelsConfig {
    /// `build`: rank the pool with the level builder; `official`: import the official CoG pickles;
    /// `dir`: an existing hiercog benchmark directory.
    pub source: LevelSource,
    /// Seen concepts: `synthetic` (the synthetic set's default seen concepts), `imagenet1k`,
    /// `images` (the concept folders of `images.root`) or a wnid-list file.
    pub seen: ConceptSet,
    /// Candidate pool: `synthetic`, `imagenet21k`, `images` or a wnid-list file.
    pub pool: ConceptSet,
    /// Level-builder preset whose filters are used: `imagenet-cog` or `generic` (drop the seen
    /// concepts, their ancestors and the pool's non-leaves).
    pub preset: Preset,
    /// Similarity ranking the pool: lin (CoG), res, jcn, wup, path, lch.
    pub measure: Measure,
    /// Information content of lin/res/jcn: `imagenet21k` (CoG: −log of the share of ImageNet-21K
    /// synsets below a concept), `pool-subtree`, `intrinsic`, `semcor`, `image-counts` or
    /// `counts:FILE`.
    pub ic: IcSource,
    /// How the ranking is cut: `blocks` (the paper: consecutive blocks of `concepts_per_level` from
    /// the most similar), `spread` (K equal bands of the whole ranking, each sampled down to
    /// `concepts_per_level`: levels span the full similarity range when more concepts are
    /// eligible), `equal-width` or `thresholds:T1,T2,...`.
    pub cuts: CutStyle,
    /// Number of levels.
    pub levels: usize,
    /// Concepts per level.
    pub concepts_per_level: usize,
    /// The official CoG levels pickle (source = official).
    pub official_levels_pkl: Option<PathBuf>,
    /// The official CoG train/test split pickle (source = official); its paths are joined to
    /// `images.root`.
    pub official_split_pkl: Option<PathBuf>,
    /// Existing benchmark directory (source = dir).
    pub dir: Option<PathBuf>,
}

/// Where a run's levels of unseen concepts come from (`levels.source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LevelSource {
    /// Ranked and cut by `hiercog-cog`'s level builder from the pool.
    Build,
    /// Imported from the official ImageNet-CoG pickles, to compare with published numbers.
    Official,
    /// Read from an existing hiercog benchmark directory (`levels.dir`).
    Dir,
}

impl Default for LevelsConfig {
    fn default() -> Self {
        LevelsConfig {
            source: LevelSource::Build,
            seen: ConceptSet::Synthetic,
            pool: ConceptSet::Synthetic,
            preset: Preset::ImagenetCog,
            measure: Measure::Lin,
            ic: IcSource::Imagenet21k,
            cuts: CutStyle::Spread,
            levels: 5,
            concepts_per_level: 15,
            official_levels_pkl: None,
            official_split_pkl: None,
            dir: None,
        }
    }
}

/// The frozen backbone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// A registry name (`hiercog models list`) or the model directory of a backbone trained by
    /// hiercog (weights and preprocessing inside; `weights` must then be unset).
    pub name: String,
    /// Checkpoint path; none = the model's default weights (`hiercog models fetch-default`).
    pub weights: Option<PathBuf>,
    /// The part of the checkpoint that holds the backbone (e.g. `encoder_q.` of a MoCo
    /// checkpoint); none = found from the keys.
    pub weights_prefix: Option<String>,
    /// Images per forward pass during extraction (memory against throughput).
    pub batch: usize,
    /// Feature rows per shard: the granularity at which an interrupted extraction resumes.
    pub shard_rows: usize,
    /// `cpu` or `cuda` (needs a build with `--features cuda`).
    pub device: String,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            name: "efficientnet-lite0".into(),
            weights: None,
            weights_prefix: None,
            batch: 32,
            shard_rows: 1024,
            device: "cpu".into(),
        }
    }
}

/// The probe protocol run on the seen set and on every level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProbeConfig {
    /// `fast` (hiercog's solver) or `sgd` (the reference protocol).
    pub solver: SolverKind,
    /// `l2` (reference), `standardize` or `none`.
    pub preprocess: Preprocess,
    /// Few-shot sizes (images per class); the all-data run is always done.
    pub shots: Vec<usize>,
    /// One probe run per seed (it seeds the validation split, the few-shot draw, the
    /// hyper-parameter search and the final fit); the report gives mean ± std over them.
    pub seeds: Vec<u64>,
    /// Also run the k-NN probe.
    pub knn: bool,
    /// Reduce every dataset's features before probing (`tldr:128`, `pca:64`, `pca-whiten:128`;
    /// [`Reduction`]), with one reduction fitted on the seen set's train features only (no test
    /// data, no unseen concept) and saved in the run directory. It keys the probe runs but not the
    /// run directory's identity: changing it re-probes without re-extracting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reduce: Option<Reduction>,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            solver: SolverKind::Fast,
            preprocess: Preprocess::L2,
            shots: vec![1, 2, 4, 8, 16],
            seeds: vec![22, 37, 45],
            knn: true,
            reduce: None,
        }
    }
}

/// A concept set of the run: the synthetic image set's, or a list of `hiercog-cog`
/// ([`ConceptSource`]). Written as its name: `synthetic`, `imagenet1k`, a path...
#[derive(Debug, Clone, PartialEq)]
pub enum ConceptSet {
    /// `synthetic`: the synthetic set's default seen concepts (as `seen`) or all its concepts (as
    /// `pool`).
    Synthetic,
    /// Any name of [`ConceptSource`].
    Listed(ConceptSource),
}

impl std::str::FromStr for ConceptSet {
    type Err = hiercog_cog::Error;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "synthetic" => Ok(ConceptSet::Synthetic),
            other => other.parse().map(ConceptSet::Listed),
        }
    }
}

impl std::fmt::Display for ConceptSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConceptSet::Synthetic => f.write_str("synthetic"),
            ConceptSet::Listed(source) => source.fmt(f),
        }
    }
}

impl Serialize for ConceptSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ConceptSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl RunConfig {
    /// The full ImageNet-CoG benchmark on real images: seen = ImageNet-1K, pool = ImageNet-21K, the
    /// `imagenet-cog` level preset (5 × 1,000), at most 1,300 train and 50 test images per concept,
    /// shots 1..128 and the reference's five seeds. `images.root` (and usually `images.seen_root`)
    /// must still be set.
    pub fn imagenet_cog() -> Self {
        RunConfig {
            run_dir: PathBuf::from("runs/imagenet-cog"),
            images: ImagesConfig {
                source: ImageSource::Folders,
                train_per_concept: 1300,
                test_per_concept: 50,
                ..ImagesConfig::default()
            },
            levels: LevelsConfig {
                seen: ConceptSet::Listed(ConceptSource::Imagenet1k),
                pool: ConceptSet::Listed(ConceptSource::Imagenet21k),
                cuts: CutStyle::Blocks,
                levels: 5,
                concepts_per_level: 1000,
                ..LevelsConfig::default()
            },
            model: ModelConfig {
                batch: 128,
                ..ModelConfig::default()
            },
            probe: ProbeConfig {
                shots: vec![1, 2, 4, 8, 16, 32, 64, 128],
                seeds: vec![22, 37, 45, 77, 93],
                ..ProbeConfig::default()
            },
            ..RunConfig::default()
        }
    }

    /// A built-in profile: `default` ([`RunConfig::default`]) or `imagenet-cog`
    /// ([`RunConfig::imagenet_cog`]).
    pub fn profile(name: &str) -> Result<Self> {
        match name {
            "default" => Ok(RunConfig::default()),
            "imagenet-cog" => Ok(RunConfig::imagenet_cog()),
            other => Err(Error::Invalid(format!(
                "unknown profile {other:?}: use default or imagenet-cog"
            ))),
        }
    }

    /// The part of the config that determines the results: execution details (device, batch size)
    /// may change between sessions of one run directory (e.g. extraction on GPUs, probes on CPUs),
    /// and so may the reduction before probing, which keys the probe runs instead.
    pub fn identity(&self) -> RunConfig {
        let mut c = self.clone();
        c.model.device = ModelConfig::default().device;
        c.model.batch = ModelConfig::default().batch;
        c.probe.reduce = None;
        c
    }

    /// Reads a TOML config; missing fields take their defaults, unknown fields are errors. Relative
    /// paths in it are relative to the file's directory, wherever the run is started from (a
    /// cluster job starts elsewhere): they are returned absolute ([`RunConfig::resolve_paths`]).
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(hiercog_io::Error::read(path))?;
        let mut cfg: RunConfig = toml::from_str(&text).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let file = std::path::absolute(path).map_err(hiercog_io::Error::read(path))?;
        cfg.resolve_paths(file.parent().unwrap_or(Path::new("/")));
        Ok(cfg)
    }

    /// Makes every relative path of the config (run directory, images, levels files, weights,
    /// taxonomy files, concept lists, IC counts) absolute by joining it to `base`, so that the
    /// same run is the same config however its paths were spelled, and jobs started from another
    /// directory find every file.
    pub fn resolve_paths(&mut self, base: &Path) {
        let abs = |p: &mut PathBuf| *p = normalized(&base.join(&*p));
        let opt = |p: &mut Option<PathBuf>| {
            if let Some(p) = p {
                abs(p)
            }
        };
        abs(&mut self.run_dir);
        opt(&mut self.taxonomy.wordnet_dir);
        opt(&mut self.taxonomy.isa_file);
        opt(&mut self.images.root);
        opt(&mut self.images.seen_root);
        opt(&mut self.levels.official_levels_pkl);
        opt(&mut self.levels.official_split_pkl);
        opt(&mut self.levels.dir);
        opt(&mut self.model.weights);
        for set in [&mut self.levels.seen, &mut self.levels.pool] {
            if let ConceptSet::Listed(ConceptSource::File(p)) = set {
                abs(p);
            }
        }
        if let IcSource::Counts(p) = &mut self.levels.ic {
            abs(p);
        }
    }

    /// The effective configuration as TOML (what `--print-config` shows and what the run directory keeps).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a RunConfig always serializes")
    }
}

/// `path` without `.` and `..` components (lexically: `a/b/../c` is `a/c`).
fn normalized(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_default_and_round_trips() {
        let cfg: RunConfig = toml::from_str("").unwrap();
        assert_eq!(cfg, RunConfig::default());
        let again: RunConfig = toml::from_str(&cfg.to_toml()).unwrap();
        assert_eq!(again, cfg);
    }

    #[test]
    fn the_default_config_is_written_with_names() {
        let text = RunConfig::default().to_toml();
        for line in [
            "seen = \"synthetic\"",
            "preset = \"imagenet-cog\"",
            "measure = \"lin\"",
            "ic = \"imagenet21k\"",
            "cuts = \"spread\"",
            "solver = \"fast\"",
            "preprocess = \"l2\"",
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
        let cog: RunConfig = toml::from_str(&RunConfig::imagenet_cog().to_toml()).unwrap();
        assert_eq!(cog, RunConfig::imagenet_cog());
    }

    #[test]
    fn a_misspelt_name_is_an_error_that_lists_the_names() {
        let err = toml::from_str::<RunConfig>("[levels]\npreset = \"plain\"\n").unwrap_err();
        assert!(
            err.to_string()
                .contains("unknown level preset \"plain\": use imagenet-cog or generic"),
            "{err}"
        );
    }

    #[test]
    fn relative_paths_are_relative_to_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("configs");
        std::fs::create_dir(&sub).unwrap();
        let path = sub.join("cog.toml");
        std::fs::write(
            &path,
            "run_dir = \"../runs/r50\"\n[images]\nroot = \"/data/in21k\"\n\
             [levels]\nseen = \"seen.txt\"\npool = \"imagenet21k\"\nic = \"counts:ic.tsv\"\n\
             official_levels_pkl = \"levels.pkl\"\n[model]\nweights = \"resnet50.pth\"\n",
        )
        .unwrap();
        let cfg = RunConfig::load(&path).unwrap();
        assert_eq!(cfg.run_dir, dir.path().join("runs/r50"));
        assert_eq!(cfg.images.root.as_deref(), Some(Path::new("/data/in21k")));
        assert_eq!(cfg.model.weights, Some(sub.join("resnet50.pth")));
        assert_eq!(cfg.levels.official_levels_pkl, Some(sub.join("levels.pkl")));
        assert_eq!(cfg.levels.ic, IcSource::Counts(sub.join("ic.tsv")));
        assert_eq!(
            cfg.levels.seen,
            ConceptSet::Listed(ConceptSource::File(sub.join("seen.txt")))
        );
        assert_eq!(
            cfg.levels.pool,
            ConceptSet::Listed(ConceptSource::Imagenet21k)
        );
    }

    #[test]
    fn unknown_field_is_an_error() {
        let err = toml::from_str::<RunConfig>("[probe]\nsolvr = \"sgd\"\n").unwrap_err();
        assert!(err.to_string().contains("solvr"), "{err}");
    }
}
