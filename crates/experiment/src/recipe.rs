//! [`Recipe`]: what one row of the experiment trains with — a loss of `hiercog-losses`, with or
//! without t-ReX's head, or a self-supervised recipe of `hiercog-train` (MoCo-v2, MoCHi,
//! MoCHi-LCA) — written as the CLI and configs spell it (`ce`, `hxe:0.1`, `soft:10`, `trex`,
//! `trex+hxe:0.1`, `moco`, `mochi:256:512:256`, `mochi-lca`).

use std::fmt;
use std::str::FromStr;

use hiercog_losses::LossSpec;
use hiercog_train::ContrastiveRecipe;

use crate::error::{Error, Result};

/// One training recipe.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Recipe {
    /// A class loss on the seen concepts' labels.
    Supervised {
        /// The loss every classified view is trained with.
        loss: LossSpec,
        /// t-ReX (spec §7): multi-crop, the expendable projector and the cosine classifier over
        /// memory prototypes, instead of a linear classifier on one view.
        trex: bool,
    },
    /// Self-supervised (spec §6): MoCo-v2's InfoNCE between two views of an image, with MoCHi's
    /// synthetic hard negatives and, for the `-lca` recipes, the hierarchy's negatives. Labels
    /// are used only by MoCHi-LCA (and the diagnostics).
    Contrastive(ContrastiveRecipe),
}

/// Recipe names, for "did you mean" hints: the losses', t-ReX's and the self-supervised ones.
const NAMES: [&str; 10] = [
    "ce",
    "hxe",
    "hxe-paper",
    "soft",
    "soft-ce",
    "trex",
    "moco",
    "mochi",
    "moco-lca",
    "mochi-lca",
];
const TREX: &str = "trex";

impl Recipe {
    /// Plain cross-entropy: the control every other recipe is compared with.
    pub fn cross_entropy() -> Self {
        Recipe::Supervised {
            loss: LossSpec::CrossEntropy { smoothing: 0.0 },
            trex: false,
        }
    }

    /// Whether the recipe uses the label hierarchy (HXE, soft labels, MoCHi-LCA).
    pub fn uses_hierarchy(&self) -> bool {
        match self {
            Recipe::Supervised { loss, .. } => !matches!(loss, LossSpec::CrossEntropy { .. }),
            Recipe::Contrastive(c) => c.hierarchy,
        }
    }

    /// Whether the recipe is t-ReX (it needs the local views).
    pub fn is_trex(&self) -> bool {
        matches!(self, Recipe::Supervised { trex: true, .. })
    }

    /// The self-supervised recipe, if this is one.
    pub fn contrastive(&self) -> Option<&ContrastiveRecipe> {
        match self {
            Recipe::Contrastive(c) => Some(c),
            Recipe::Supervised { .. } => None,
        }
    }

    /// The recipe the hierarchy's effect is measured against: cross-entropy for a supervised
    /// recipe, the same self-supervised recipe without the hierarchy for a `-lca` one
    /// (`mochi-lca` → `mochi`: the labels and the method stay, only the hierarchy goes).
    pub fn hierarchy_control(&self) -> Recipe {
        match self {
            Recipe::Supervised { .. } => Recipe::cross_entropy(),
            Recipe::Contrastive(c) => Recipe::Contrastive(c.without_hierarchy()),
        }
    }

    /// The recipe as a file name: `:` becomes `_` (`hxe:0.1` → `hxe_0.1`).
    pub fn slug(&self) -> String {
        self.to_string().replace(':', "_")
    }
}

impl fmt::Display for Recipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Recipe::Supervised {
                trex: true,
                loss: LossSpec::CrossEntropy { smoothing: 0.0 },
            } => f.write_str(TREX),
            Recipe::Supervised { trex: true, loss } => write!(f, "{TREX}+{loss}"),
            Recipe::Supervised { trex: false, loss } => loss.fmt(f),
            Recipe::Contrastive(c) => c.fmt(f),
        }
    }
}

impl FromStr for Recipe {
    type Err = Error;
    fn from_str(text: &str) -> Result<Recipe> {
        let text = text.trim();
        let invalid = |message: String| Error::Recipe {
            recipe: text.into(),
            message,
        };
        let name = |t: &str| t.split(':').next().unwrap_or_default().to_string();
        if ContrastiveRecipe::is_name(&name(text)) {
            return text
                .parse::<ContrastiveRecipe>()
                .map(Recipe::Contrastive)
                .map_err(invalid);
        }
        let (trex, loss) = match text.split_once('+') {
            Some((TREX, loss)) if ContrastiveRecipe::is_name(&name(loss)) => {
                return Err(invalid(format!(
                    "t-ReX combines with a class loss (trex+LOSS, e.g. trex+hxe:0.1), not with \
                     the self-supervised {loss:?}"
                )))
            }
            Some((TREX, loss)) => (true, loss),
            Some((head, _)) => {
                return Err(invalid(format!(
                    "only t-ReX combines with a loss (trex+LOSS, e.g. trex+hxe:0.1), not {head:?}"
                )))
            }
            None if text == TREX => (true, "ce"),
            None => (false, text),
        };
        let loss = loss.parse::<LossSpec>().map_err(|e| match e {
            hiercog_losses::Error::UnknownLoss { name, .. } => invalid(format!(
                "unknown recipe {name:?}{}; recipes are {}",
                hiercog_losses::closest(&name, &NAMES)
                    .map(|s| format!(" (did you mean {s:?}?)"))
                    .unwrap_or_default(),
                SYNTAX
            )),
            other => invalid(other.to_string()),
        })?;
        loss.validate().map_err(|e| invalid(e.to_string()))?;
        Ok(Recipe::Supervised { loss, trex })
    }
}

/// The recipe syntax, for error messages and `--help`.
pub const SYNTAX: &str = "ce, ce:ε (label smoothing), hxe:α, hxe-paper:α, soft:β, soft-ce:β, \
trex (t-ReX with cross-entropy), trex+LOSS (t-ReX with another loss), moco (MoCo-v2), \
mochi[:N:s:s′] (MoCHi; default N = K/16, s = 2N, s′ = N), moco-lca, mochi-lca[:N:s:s′] \
(MoCo/MoCHi with the hierarchy's negatives)";

impl TryFrom<String> for Recipe {
    type Error = Error;
    fn try_from(s: String) -> Result<Recipe> {
        s.parse()
    }
}

impl From<Recipe> for String {
    fn from(r: Recipe) -> String {
        r.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipes_round_trip() {
        for text in [
            "ce",
            "ce:0.1",
            "hxe:0.1",
            "hxe-paper:0.5",
            "soft:10",
            "soft-ce:4:height",
            "trex",
            "trex+hxe:0.1",
            "moco",
            "mochi",
            "mochi:256:512:256",
            "moco-lca",
            "mochi-lca",
            "mochi-lca:8:6:0",
        ] {
            let r: Recipe = text.parse().unwrap();
            assert_eq!(r.to_string(), text);
        }
        let parse = |t: &str| t.parse::<Recipe>().unwrap();
        assert!(parse("trex").is_trex());
        assert!(!parse("hxe:0.1").is_trex());
        assert!(parse("soft:10").uses_hierarchy());
        assert!(!parse("trex").uses_hierarchy());
        assert_eq!(parse("hxe:0.1").slug(), "hxe_0.1");
        // MoCHi's numbers may also be given with commas (as `--mochi` takes them).
        assert_eq!(parse("mochi:256,512,256"), parse("mochi:256:512:256"));
        assert_eq!(parse("mochi:256:512:256").slug(), "mochi_256_512_256");
        assert!(parse("mochi-lca").uses_hierarchy() && !parse("mochi").uses_hierarchy());
        assert!(parse("moco").contrastive().is_some() && parse("ce").contrastive().is_none());
        assert_eq!(
            parse("mochi-lca:8:6:0").hierarchy_control(),
            parse("mochi:8:6:0")
        );
        assert_eq!(
            parse("hxe:0.1").hierarchy_control(),
            Recipe::cross_entropy()
        );
    }

    #[test]
    fn typos_and_ranges_are_named() {
        for (text, expected) in [
            ("hex:0.1", "did you mean \"hxe\"?"),
            ("tre", "did you mean \"trex\"?"),
            ("mochii", "did you mean \"mochi\"?"),
            ("hxe:-1", "HXE α = -1 is out of range"),
            ("soft:0", "β = 0 is out of range"),
            ("ce+hxe:0.1", "only t-ReX combines"),
            ("hxe", "exactly one parameter"),
            ("moco:1:2:3", "moco takes no N"),
            ("mochi:1:2", "has 2 number(s)"),
            ("mochi-lca:1:x:2", "three whole numbers"),
            ("trex+moco", "not with the self-supervised \"moco\""),
        ] {
            let err = text.parse::<Recipe>().unwrap_err().to_string();
            assert!(err.contains(expected), "{text}: {err}");
            assert!(err.contains(text), "the recipe is named: {err}");
        }
    }
}
