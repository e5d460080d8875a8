//! [`Recipe`]: what one row of the experiment trains with — a loss of `hiercog-losses`, with or
//! without t-ReX's head — written as the CLI and configs spell it (`ce`, `hxe:0.1`, `soft:10`,
//! `trex`, `trex+hxe:0.1`).

use std::fmt;
use std::str::FromStr;

use hiercog_losses::LossSpec;

use crate::error::{Error, Result};

/// One training recipe.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Recipe {
    /// The loss every classified view is trained with.
    pub loss: LossSpec,
    /// t-ReX (spec §7): multi-crop, the expendable projector and the cosine classifier over
    /// memory prototypes, instead of a linear classifier on one view.
    pub trex: bool,
}

/// Recipe names, for "did you mean" hints: the losses' and t-ReX's.
const NAMES: [&str; 6] = ["ce", "hxe", "hxe-paper", "soft", "soft-ce", "trex"];
const TREX: &str = "trex";

impl Recipe {
    /// Plain cross-entropy: the control every other recipe is compared with.
    pub fn cross_entropy() -> Self {
        Recipe {
            loss: LossSpec::CrossEntropy { smoothing: 0.0 },
            trex: false,
        }
    }

    /// Whether the recipe uses the label hierarchy (HXE or soft labels).
    pub fn uses_hierarchy(&self) -> bool {
        !matches!(self.loss, LossSpec::CrossEntropy { .. })
    }

    /// The recipe as a file name: `:` becomes `_` (`hxe:0.1` → `hxe_0.1`).
    pub fn slug(&self) -> String {
        self.to_string().replace(':', "_")
    }
}

impl fmt::Display for Recipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.trex, self.loss) {
            (true, LossSpec::CrossEntropy { smoothing: 0.0 }) => f.write_str(TREX),
            (true, loss) => write!(f, "{TREX}+{loss}"),
            (false, loss) => loss.fmt(f),
        }
    }
}

impl FromStr for Recipe {
    type Err = Error;
    fn from_str(text: &str) -> Result<Recipe> {
        let text = text.trim();
        let (trex, loss) = match text.split_once('+') {
            Some((TREX, loss)) => (true, loss),
            Some((head, _)) => {
                return Err(Error::Recipe {
                    recipe: text.into(),
                    message: format!(
                    "only t-ReX combines with a loss (trex+LOSS, e.g. trex+hxe:0.1), not {head:?}"
                ),
                })
            }
            None if text == TREX => (true, "ce"),
            None => (false, text),
        };
        let loss = loss.parse::<LossSpec>().map_err(|e| match e {
            hiercog_losses::Error::UnknownLoss { name, .. } => Error::Recipe {
                recipe: text.into(),
                message: format!(
                    "unknown recipe {name:?}{}; recipes are {}",
                    hiercog_losses::closest(&name, &NAMES)
                        .map(|s| format!(" (did you mean {s:?}?)"))
                        .unwrap_or_default(),
                    SYNTAX
                ),
            },
            other => Error::Recipe {
                recipe: text.into(),
                message: other.to_string(),
            },
        })?;
        loss.validate().map_err(|e| Error::Recipe {
            recipe: text.into(),
            message: e.to_string(),
        })?;
        Ok(Recipe { loss, trex })
    }
}

/// The recipe syntax, for error messages.
pub const SYNTAX: &str = "ce, ce:ε (label smoothing), hxe:α, hxe-paper:α, soft:β, soft-ce:β, trex (t-ReX with cross-entropy), trex+LOSS (t-ReX with another loss)";

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
        ] {
            let r: Recipe = text.parse().unwrap();
            assert_eq!(r.to_string(), text);
        }
        assert!("trex".parse::<Recipe>().unwrap().trex);
        assert!(!"hxe:0.1".parse::<Recipe>().unwrap().trex);
        assert!("soft:10".parse::<Recipe>().unwrap().uses_hierarchy());
        assert!(!"trex".parse::<Recipe>().unwrap().uses_hierarchy());
        assert_eq!("hxe:0.1".parse::<Recipe>().unwrap().slug(), "hxe_0.1");
    }

    #[test]
    fn typos_and_ranges_are_named() {
        let err = |t: &str| t.parse::<Recipe>().unwrap_err().to_string();
        assert!(
            err("hex:0.1").contains("did you mean \"hxe\"?"),
            "{}",
            err("hex:0.1")
        );
        assert!(
            err("tre").contains("did you mean \"trex\"?"),
            "{}",
            err("tre")
        );
        assert!(
            err("hxe:-1").contains("HXE α = -1 is out of range"),
            "{}",
            err("hxe:-1")
        );
        assert!(
            err("soft:0").contains("β = 0 is out of range"),
            "{}",
            err("soft:0")
        );
        assert!(
            err("ce+hxe:0.1").contains("only t-ReX combines"),
            "{}",
            err("ce+hxe:0.1")
        );
        assert!(
            err("hxe").contains("exactly one parameter"),
            "{}",
            err("hxe")
        );
    }
}
