//! [`LossSpec`]: the loss recipes as values, with the text form the CLI and configs use
//! (`ce`, `ce:0.1`, `hxe:0.1`, `hxe-paper:0.1`, `soft:10`, `soft-ce:10:height`).

use std::fmt;
use std::str::FromStr;

use hiercog_taxonomy::DistanceConvention;

use crate::error::{closest, Error, Result};

/// The two forms of the hierarchical cross-entropy's edge weights (see the crate README).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HxeWeighting {
    /// The fiveai/making-better-mistakes code (`trees.py: get_exponential_weighting`): the edge
    /// above node C weighs exp(−α·depth(C)), depth counted from the root, and the weights of all
    /// nodes (the root's exp(0) = 1 included) are normalised to sum to 1. Recipe `hxe:α`.
    Reference,
    /// The paper's formula: λ(C) = exp(−α·h(C)), h(C) the height of C (leaves 0), not
    /// normalised, so α = 0 is plain cross-entropy. Recipe `hxe-paper:α`.
    Paper,
}

/// What a soft-label loss measures between the soft target y and the softmax p.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SoftLoss {
    /// KL(y ‖ p) = Σ y·(log y − log p), summed over classes and averaged over the batch: the
    /// reference's choice (`nn.KLDivLoss`, whose default reduction also divides by the number
    /// of classes). Recipe `soft:β`.
    Kl,
    /// Cross-entropy −Σ y·log p, averaged over the batch: KL plus the entropy of y, a constant
    /// per class, so the gradients are the same. Recipe `soft-ce:β`.
    CrossEntropy,
}

/// A training loss over a label hierarchy, as named by a recipe string.
///
/// | recipe | loss |
/// |---|---|
/// | `ce`, `ce:ε` | cross-entropy, with label smoothing ε ∈ [0, 1) |
/// | `hxe:α` | hierarchical cross-entropy, reference-code weights ([`HxeWeighting::Reference`]), α ≥ 0 |
/// | `hxe-paper:α` | hierarchical cross-entropy, the paper's weights ([`HxeWeighting::Paper`]), α ≥ 0 |
/// | `soft:β[:conv]` | KL divergence to soft labels of hardness β > 0 ([`SoftLoss::Kl`]) |
/// | `soft-ce:β[:conv]` | cross-entropy to the same soft labels ([`SoftLoss::CrossEntropy`]) |
///
/// `conv` is the distance convention of the soft labels: `padded` (the default, the reference's
/// distance files) or `height`.
///
/// ```
/// use hiercog_losses::{HxeWeighting, LossSpec};
///
/// let spec: LossSpec = "hxe:0.1".parse()?;
/// assert_eq!(spec, LossSpec::Hxe { alpha: 0.1, weighting: HxeWeighting::Reference });
/// assert_eq!(spec.to_string(), "hxe:0.1");
/// let typo = "hex:0.1".parse::<LossSpec>().unwrap_err().to_string();
/// assert!(typo.contains("did you mean \"hxe\"?"), "{typo}");
/// # Ok::<(), hiercog_losses::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum LossSpec {
    /// Cross-entropy with label smoothing ε (0 = none): −Σ q·log p, q = (1−ε)·onehot + ε/C.
    CrossEntropy {
        /// Label smoothing ε ∈ [0, 1).
        smoothing: f64,
    },
    /// Hierarchical cross-entropy HXE(α).
    Hxe {
        /// The decay α ≥ 0.
        alpha: f64,
        /// Which form of edge weights.
        weighting: HxeWeighting,
    },
    /// A divergence to soft labels y_A ∝ exp(−β·d(A, C)/max d) for true class C.
    SoftLabels {
        /// The hardness β > 0 (large β: close to one-hot).
        beta: f64,
        /// KL or cross-entropy.
        loss: SoftLoss,
        /// The class distance d.
        convention: DistanceConvention,
    },
}

/// Loss names, as recipes start.
const NAMES: [&str; 5] = ["ce", "hxe", "hxe-paper", "soft", "soft-ce"];
/// The recipe syntax, for error messages.
const SYNTAX: &str = "ce, ce:ε (label smoothing), hxe:α, hxe-paper:α, soft:β, soft-ce:β (soft labels; append :height for plain LCA heights)";

impl LossSpec {
    /// Checks every parameter's range: α ≥ 0, β > 0, ε ∈ [0, 1), all finite.
    pub fn validate(&self) -> Result<()> {
        match *self {
            LossSpec::CrossEntropy { smoothing } => check_smoothing(smoothing),
            LossSpec::Hxe { alpha, .. } => check_alpha(alpha),
            LossSpec::SoftLabels { beta, .. } => check_beta(beta),
        }
    }
}

/// α must be finite and ≥ 0.
pub(crate) fn check_alpha(alpha: f64) -> Result<()> {
    check(
        "HXE α",
        alpha,
        alpha >= 0.0,
        "α must be finite and >= 0 (0 weighs all edges alike; the reference tried 0.1 to 0.9)",
    )
}

/// β must be finite and > 0.
pub(crate) fn check_beta(beta: f64) -> Result<()> {
    check(
        "soft-label β",
        beta,
        beta > 0.0,
        "β must be finite and > 0 (larger is closer to one-hot; the reference tried 4 to 30)",
    )
}

/// ε must be in [0, 1).
fn check_smoothing(eps: f64) -> Result<()> {
    check(
        "label smoothing ε",
        eps,
        (0.0..1.0).contains(&eps),
        "ε must be in [0, 1) (0.1 is usual; 1 would ignore the labels)",
    )
}

fn check(name: &'static str, value: f64, ok: bool, expected: &'static str) -> Result<()> {
    if ok && value.is_finite() {
        Ok(())
    } else {
        Err(Error::OutOfRange {
            name,
            value,
            expected,
        })
    }
}

impl FromStr for LossSpec {
    type Err = Error;
    fn from_str(recipe: &str) -> Result<LossSpec> {
        let mut parts = recipe.trim().split(':');
        let name = parts.next().unwrap_or_default();
        let params: Vec<&str> = parts.collect();
        let bad = |message: String| Error::BadRecipe {
            recipe: recipe.to_string(),
            message,
        };
        let number = |what: &str, text: &str| {
            text.trim()
                .parse::<f64>()
                .map_err(|_| bad(format!("{what} {text:?} is not a number")))
        };
        let one_number = |what: &str, example: &str| match params.as_slice() {
            [x] => number(what, x),
            _ => Err(bad(format!(
                "{name} takes exactly one parameter, {what}: e.g. {example}"
            ))),
        };
        let spec = match name {
            "ce" => LossSpec::CrossEntropy {
                smoothing: match params.as_slice() {
                    [] => 0.0,
                    [x] => number("label smoothing", x)?,
                    _ => return Err(bad("ce takes at most one parameter: ce or ce:0.1".into())),
                },
            },
            "hxe" | "hxe-paper" => LossSpec::Hxe {
                alpha: one_number("α", "hxe:0.1")?,
                weighting: if name == "hxe" {
                    HxeWeighting::Reference
                } else {
                    HxeWeighting::Paper
                },
            },
            "soft" | "soft-ce" => {
                let (beta, convention) = match params.as_slice() {
                    [b] => (number("β", b)?, DistanceConvention::PaddedLcaHeight),
                    [b, c] => (
                        number("β", b)?,
                        c.parse::<DistanceConvention>()
                            .map_err(|e| bad(e.to_string()))?,
                    ),
                    _ => {
                        return Err(bad(format!(
                            "{name} takes β and optionally a distance convention: e.g. {name}:10 or {name}:10:height"
                        )))
                    }
                };
                LossSpec::SoftLabels {
                    beta,
                    loss: if name == "soft" {
                        SoftLoss::Kl
                    } else {
                        SoftLoss::CrossEntropy
                    },
                    convention,
                }
            }
            _ => {
                return Err(Error::UnknownLoss {
                    name: name.to_string(),
                    suggestion: closest(name, &NAMES).map(str::to_string),
                    known: SYNTAX,
                })
            }
        };
        spec.validate()?;
        Ok(spec)
    }
}

impl fmt::Display for LossSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            LossSpec::CrossEntropy { smoothing: 0.0 } => write!(f, "ce"),
            LossSpec::CrossEntropy { smoothing } => write!(f, "ce:{smoothing}"),
            LossSpec::Hxe { alpha, weighting } => match weighting {
                HxeWeighting::Reference => write!(f, "hxe:{alpha}"),
                HxeWeighting::Paper => write!(f, "hxe-paper:{alpha}"),
            },
            LossSpec::SoftLabels {
                beta,
                loss,
                convention,
            } => {
                let name = match loss {
                    SoftLoss::Kl => "soft",
                    SoftLoss::CrossEntropy => "soft-ce",
                };
                match convention {
                    DistanceConvention::PaddedLcaHeight => write!(f, "{name}:{beta}"),
                    DistanceConvention::LcaHeight => write!(f, "{name}:{beta}:height"),
                }
            }
        }
    }
}

impl TryFrom<String> for LossSpec {
    type Error = Error;
    fn try_from(s: String) -> Result<LossSpec> {
        s.parse()
    }
}

impl From<LossSpec> for String {
    fn from(spec: LossSpec) -> String {
        spec.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_recipe_reads_back_from_its_text() {
        for text in [
            "ce",
            "ce:0.1",
            "hxe:0",
            "hxe:0.1",
            "hxe-paper:0.6",
            "soft:10",
            "soft:4:height",
            "soft-ce:30",
            "soft-ce:5:height",
        ] {
            let spec: LossSpec = text.parse().unwrap();
            assert_eq!(spec.to_string(), text);
        }
        let spec: LossSpec = "soft:10:padded".parse().unwrap();
        assert_eq!(spec.to_string(), "soft:10");
    }

    #[test]
    fn serde_uses_the_recipe_text() {
        let spec: LossSpec = serde_json::from_str("\"hxe-paper:0.25\"").unwrap();
        assert_eq!(
            spec,
            LossSpec::Hxe {
                alpha: 0.25,
                weighting: HxeWeighting::Paper
            }
        );
        assert_eq!(serde_json::to_string(&spec).unwrap(), "\"hxe-paper:0.25\"");
        let err = serde_json::from_str::<LossSpec>("\"soft:0\"").unwrap_err();
        assert!(
            err.to_string().contains("soft-label β = 0 is out of range"),
            "{err}"
        );
    }
}
