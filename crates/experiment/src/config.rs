//! [`ExperimentConfig`]: what `hiercog experiment hierarchy` trains and how, as one TOML file
//! (every field has a default: the empty file is the default experiment).

use std::path::Path;

use hiercog_losses::TreeFromDag;
use hiercog_train::{OptimizerConfig, TrainConfig, ViewSpec};
use serde::{Deserialize, Serialize};

use crate::experiment::{Task, Unit};
use crate::recipe::Recipe;
use crate::{Error, Result};

/// How deep training goes: which part of the network is the new representation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Depth {
    /// Depth (a), the last layers: an MLP trunk (1280 → 512 for EfficientNet-Lite0) trained on
    /// features of augmented views by the frozen pretrained backbone
    /// ([`TrainConfig::frozen_features`]); its output is the representation. Cheap on a CPU.
    #[default]
    LastLayers,
    /// Depth (b) on CPUs: a whole ResNet-18 of width 16 trained from 64 px images
    /// ([`TrainConfig::small_resnet`]).
    SmallResnet,
    /// Depth (b) at ImageNet scale, on GPUs: torchvision's ResNet-50 recipe
    /// ([`TrainConfig::resnet50_gpu`], t-ReX: [`TrainConfig::trex_gpu`]).
    Resnet50,
}

impl Depth {
    const NAMES: [&'static str; 3] = ["last-layers", "small-resnet", "resnet50"];

    /// The depth's name, as [`FromStr`](std::str::FromStr) reads it.
    pub fn name(self) -> &'static str {
        match self {
            Depth::LastLayers => Self::NAMES[0],
            Depth::SmallResnet => Self::NAMES[1],
            Depth::Resnet50 => Self::NAMES[2],
        }
    }

    /// Whether the network reads images (depth b) rather than frozen features (depth a).
    pub fn takes_images(self) -> bool {
        self != Depth::LastLayers
    }
}

impl std::fmt::Display for Depth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Depth {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::NAMES
            .iter()
            .position(|n| *n == s)
            .map(|i| [Depth::LastLayers, Depth::SmallResnet, Depth::Resnet50][i])
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "unknown training depth {s:?}{}; use one of {}",
                    hiercog_losses::closest(s, &Self::NAMES)
                        .map(|n| format!(" (did you mean {n:?}?)"))
                        .unwrap_or_default(),
                    Self::NAMES.join(", ")
                ))
            })
    }
}

/// The optimizer of every training in an experiment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerChoice {
    /// AdamW (β = 0.9, 0.999, ε = 1e-8): its steps do not depend on the scale of the loss. The
    /// reference HXE (`hxe:α`) normalises its edge weights over the whole tree, which divides the
    /// loss — and SGD's steps — by a factor that grows with the tree (≈ the number of nodes at
    /// α = 0): with the presets' SGD it underfits (train top-1 ≈ 59 % for `hxe:0.1` and 43 % for
    /// `hxe:0.5` against 100 % for `ce`, measured on the default run), a difference of step size,
    /// not of the hierarchy. The reference trained with Adam. The default.
    #[default]
    Adamw,
    /// The depth's preset (SGD with momentum).
    Preset,
}

/// The augmented views stored per seen training image for depth (a): the frozen backbone runs
/// once over them (see `hiercog_train::views`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ViewsConfig {
    /// Global views (random-resized crops of scale 0.25–1 at the backbone's input size); plain
    /// recipes train on one of them per step.
    pub global: usize,
    /// Local views (scale 0.05–0.25 at 96 px), extracted only when a recipe is t-ReX; t-ReX
    /// classifies 4 of them per step.
    pub local: usize,
    /// Seed of the crops.
    pub seed: u64,
    /// MoCo-v2 views (crop scale 0.2–1, colour jitter, grayscale, blur, flip, at the backbone's
    /// input size), extracted only when a recipe is self-supervised: each step shows two
    /// distinct ones of every image as query and key.
    pub moco: usize,
}

impl Default for ViewsConfig {
    fn default() -> Self {
        ViewsConfig {
            global: 4,
            local: 4,
            seed: 0,
            moco: 4,
        }
    }
}

/// Everything an experiment does besides the CoG run it builds on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExperimentConfig {
    /// The recipes, one table row each; the first `ce` is the control the others are compared
    /// with.
    pub recipes: Vec<Recipe>,
    /// Training seeds: one representation per recipe and seed. The seed also seeds the probe runs
    /// of its representation (validation split, few-shot samples), so recipes are compared
    /// seed by seed on the same probe samples.
    pub seeds: Vec<u64>,
    /// Which part of the network is trained.
    pub depth: Depth,
    /// How the label DAG becomes the tree of the hierarchical losses.
    pub tree_from_dag: TreeFromDag,
    /// Training epochs of every run (default: the preset's).
    pub epochs: Option<usize>,
    /// The optimizer: `adamw` (default) or `preset`.
    pub optimizer: OptimizerChoice,
    /// Peak learning rate (default: 1e-3 with AdamW, the preset's with `preset`).
    pub lr: Option<f64>,
    /// Stored views (depth a).
    pub views: ViewsConfig,
    /// `cpu` or `cuda` (a build with `--features cuda`).
    pub device: String,
    /// Threads preparing batches ahead of the network.
    pub workers: usize,
}

impl Default for ExperimentConfig {
    fn default() -> Self {
        ExperimentConfig {
            recipes: ["ce", "hxe:0.1", "hxe:0.5", "soft:10", "trex"]
                .iter()
                .map(|r| r.parse().expect("built-in recipes parse"))
                .collect(),
            seeds: vec![22, 37, 45],
            depth: Depth::LastLayers,
            tree_from_dag: TreeFromDag::Longest,
            epochs: None,
            optimizer: OptimizerChoice::Adamw,
            lr: None,
            views: ViewsConfig::default(),
            device: "cpu".into(),
            workers: 2,
        }
    }
}

impl ExperimentConfig {
    /// Reads a TOML config; missing fields take their defaults, unknown fields are errors.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(hiercog_io::Error::read(path))?;
        toml::from_str(&text).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// The effective configuration as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("an ExperimentConfig always serializes")
    }

    /// Checks the lists: at least one recipe and seed, none twice, epochs ≥ 1.
    pub fn validate(&self) -> Result<()> {
        if self.recipes.is_empty() {
            return Err(Error::Invalid(
                "no recipe to train: give at least one, e.g. ce,hxe:0.1".into(),
            ));
        }
        if self.seeds.is_empty() {
            return Err(Error::Invalid(
                "no training seed: give at least one (3 or more to see seed noise)".into(),
            ));
        }
        for (i, r) in self.recipes.iter().enumerate() {
            if self.recipes[..i].contains(r) {
                return Err(Error::Invalid(format!("recipe {r} is listed twice")));
            }
        }
        for (i, s) in self.seeds.iter().enumerate() {
            if self.seeds[..i].contains(s) {
                return Err(Error::Invalid(format!("seed {s} is listed twice")));
            }
        }
        if let Some(lr) = self.lr.filter(|lr| !(lr.is_finite() && *lr > 0.0)) {
            return Err(Error::Invalid(format!(
                "learning rate {lr} is out of range: it must be a positive number"
            )));
        }
        if self.epochs == Some(0) {
            return Err(Error::Invalid("epochs must be at least 1".into()));
        }
        if self.depth == Depth::LastLayers && self.views.global == 0 {
            return Err(Error::Invalid(
                "views.global must be at least 1: plain recipes train on the global views".into(),
            ));
        }
        if self.depth == Depth::LastLayers && self.any_contrastive() && self.views.moco < 2 {
            return Err(Error::Invalid(format!(
                "views.moco = {} is too few: the self-supervised recipes take two distinct MoCo-v2 \
                 views of an image per step (query and key); store at least 2",
                self.views.moco
            )));
        }
        Ok(())
    }

    /// The units, recipe-major: every seed of the first recipe, then of the next.
    pub fn units(&self) -> Vec<Unit> {
        self.recipes
            .iter()
            .flat_map(|r| {
                self.seeds.iter().map(|&seed| Unit {
                    recipe: r.clone(),
                    seed,
                })
            })
            .collect()
    }

    /// Every task, in an order that respects their dependencies: the views (depth a), one per
    /// unit, the report.
    pub fn tasks(&self) -> Vec<Task> {
        let views = (!self.depth.takes_images()).then_some(Task::Views);
        views
            .into_iter()
            .chain(self.units().into_iter().map(Task::Unit))
            .chain([Task::Report])
            .collect()
    }

    /// Whether some recipe is t-ReX (so local views are needed).
    pub fn any_trex(&self) -> bool {
        self.recipes.iter().any(Recipe::is_trex)
    }

    /// Whether some recipe is self-supervised (so MoCo-v2 views are needed at depth (a)).
    pub fn any_contrastive(&self) -> bool {
        self.recipes.iter().any(|r| r.contrastive().is_some())
    }

    /// The training of `recipe` with `seed`; `input_dim` is the frozen features' width (depth a).
    /// Self-supervised recipes start from the depth's MoCo preset
    /// ([`TrainConfig::moco_frozen_features`], [`TrainConfig::moco_small_resnet`],
    /// [`TrainConfig::moco_v2_gpu`]); the epochs, optimizer and learning rate below apply to
    /// every recipe alike.
    pub fn train_config(&self, recipe: &Recipe, seed: u64, input_dim: usize) -> TrainConfig {
        let preset = match (self.depth, recipe) {
            (depth, Recipe::Contrastive(c)) => c.config(&match depth {
                Depth::LastLayers => TrainConfig::moco_frozen_features(input_dim),
                Depth::SmallResnet => TrainConfig::moco_small_resnet(),
                Depth::Resnet50 => TrainConfig::moco_v2_gpu(),
            }),
            (Depth::LastLayers, Recipe::Supervised { trex: false, .. }) => {
                TrainConfig::frozen_features(input_dim)
            }
            (Depth::LastLayers, Recipe::Supervised { trex: true, .. }) => {
                TrainConfig::trex_frozen_features(input_dim)
            }
            (Depth::SmallResnet, Recipe::Supervised { trex: false, .. }) => {
                TrainConfig::small_resnet()
            }
            (Depth::SmallResnet, Recipe::Supervised { trex: true, .. }) => {
                TrainConfig::trex_small_resnet()
            }
            (Depth::Resnet50, Recipe::Supervised { trex: false, .. }) => {
                TrainConfig::resnet50_gpu()
            }
            (Depth::Resnet50, Recipe::Supervised { trex: true, .. }) => TrainConfig::trex_gpu(),
        };
        let epochs = self.epochs.unwrap_or(preset.epochs);
        let (optimizer, lr) = match self.optimizer {
            OptimizerChoice::Adamw => (
                OptimizerConfig::AdamW {
                    beta1: 0.9,
                    beta2: 0.999,
                    eps: 1e-8,
                },
                1e-3,
            ),
            OptimizerChoice::Preset => (preset.optimizer.clone(), preset.lr),
        };
        let lr = self.lr.unwrap_or(lr);
        TrainConfig {
            seed,
            epochs,
            optimizer,
            lr,
            final_lr: preset.final_lr.min(lr),
            // Keep the warm-up shorter than training when the epochs are cut.
            warmup_epochs: preset.warmup_epochs.min(epochs.saturating_sub(1)),
            ..preset
        }
    }

    /// The views to extract for depth (a) from a frozen backbone of input side `size`: the
    /// global group, the local group (96 px) when a recipe is t-ReX, and last the MoCo-v2 group
    /// ([`ExperimentConfig::moco_group`]) when a recipe is self-supervised.
    pub fn view_spec(&self, size: u32) -> ViewSpec {
        let v = &self.views;
        let mut spec = if self.any_trex() {
            ViewSpec::multi_crop(v.global, size, v.local.max(4), 96, v.seed)
        } else {
            ViewSpec::single(v.global, size, v.seed)
        };
        if self.any_contrastive() {
            spec.groups
                .extend(ViewSpec::moco_v2(v.moco, size, v.seed).groups);
        }
        spec
    }

    /// The index of the MoCo-v2 group in [`ExperimentConfig::view_spec`]'s groups, when a recipe
    /// is self-supervised.
    pub fn moco_group(&self) -> Option<usize> {
        self.any_contrastive()
            .then(|| if self.any_trex() { 2 } else { 1 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_default_and_round_trips() {
        let cfg: ExperimentConfig = toml::from_str("").unwrap();
        assert_eq!(cfg, ExperimentConfig::default());
        let text = cfg.to_toml();
        assert!(
            text.contains("    \"hxe:0.5\",\n    \"soft:10\",\n    \"trex\",\n]"),
            "{text}"
        );
        assert!(text.contains("depth = \"last-layers\""), "{text}");
        assert_eq!(toml::from_str::<ExperimentConfig>(&text).unwrap(), cfg);
    }

    #[test]
    fn bad_values_are_named() {
        let err = toml::from_str::<ExperimentConfig>("recipes = [\"hex:0.1\"]").unwrap_err();
        assert!(err.to_string().contains("did you mean \"hxe\"?"), "{err}");
        let err = "small-resent".parse::<Depth>().unwrap_err().to_string();
        assert!(err.contains("did you mean \"small-resnet\"?"), "{err}");
        let twice = ExperimentConfig {
            seeds: vec![1, 1],
            ..ExperimentConfig::default()
        };
        assert!(twice
            .validate()
            .unwrap_err()
            .to_string()
            .contains("seed 1 is listed twice"));
    }

    #[test]
    fn presets_follow_depth_and_recipe() {
        let cfg = ExperimentConfig {
            epochs: Some(1),
            ..ExperimentConfig::default()
        };
        let ce = cfg.train_config(&"ce".parse().unwrap(), 37, 1280);
        assert_eq!((ce.seed, ce.epochs, ce.warmup_epochs), (37, 1, 0));
        assert!(!ce.architecture.takes_images());
        let trex = cfg.train_config(&"trex".parse().unwrap(), 37, 1280);
        assert!(matches!(trex.head, hiercog_train::Head::Trex(_)));
        assert_eq!(
            cfg.view_spec(224).groups.len(),
            2,
            "t-ReX needs local views"
        );
        let moco = ExperimentConfig {
            recipes: vec!["ce".parse().unwrap(), "mochi-lca".parse().unwrap()],
            ..cfg.clone()
        };
        let mochi = moco.train_config(&moco.recipes[1], 22, 1280);
        match &mochi.head {
            hiercog_train::Head::Moco(m) => assert_eq!(m.name(), "mochi(64,128,64)-lca"),
            other => panic!("{other:?}"),
        }
        assert_eq!(mochi.augmentation.views_per_image(), 2, "query and key");
        assert_eq!(
            (mochi.epochs, mochi.lr),
            (1, 1e-3),
            "the experiment's settings"
        );
        let spec = moco.view_spec(224);
        assert_eq!(moco.moco_group(), Some(1));
        assert_eq!(spec.groups[1].views, 4);
        assert!(
            spec.groups[1].crop.color.is_some(),
            "MoCo-v2's photometric ops"
        );
        assert_eq!(cfg.moco_group(), None);
        let two = ExperimentConfig {
            views: ViewsConfig {
                moco: 1,
                ..ViewsConfig::default()
            },
            ..moco
        };
        assert!(two
            .validate()
            .unwrap_err()
            .to_string()
            .contains("views.moco = 1"));
        let resnet = ExperimentConfig {
            depth: Depth::SmallResnet,
            ..ExperimentConfig::default()
        };
        assert!(resnet
            .train_config(&"hxe:0.1".parse().unwrap(), 0, 0)
            .architecture
            .takes_images());
    }
}
