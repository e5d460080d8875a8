//! The names the level builder's choices go by — on the command line (`--ic`, `--cuts`,
//! `--preset`, `--seen`, `--pool`) and in a run config (`levels.ic`, ...): each type parses from
//! and prints as its name ([`FromStr`], [`Display`](std::fmt::Display), serde as a string), so every
//! front end accepts the same words.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use hiercog_taxonomy::{InformationContent, Taxonomy};

use crate::builder::{Cuts, LevelParams};
use crate::error::{Error, Result};
use crate::images::concept_folders;
use crate::inputs::{imagenet21k_information_content, ConceptList};

/// Serde as the type's name: serialized with `Display`, deserialized with `FromStr`.
macro_rules! serde_as_name {
    ($($t:ty),*) => {$(
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let name = String::deserialize(d)?;
                name.parse().map_err(serde::de::Error::custom)
            }
        }
    )*};
}

serde_as_name!(IcSource, CutStyle, Preset, ConceptSource);

/// Where the information content of the IC-based measures (res, lin, jcn) comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum IcSource {
    /// `pool-subtree`: IC(c) = -log(#pool concepts in the subtree of c / #pool concepts); no
    /// comparison with the official levels backs one IC over another here.
    PoolSubtree,
    /// `image-counts`: from the image counts (each concept's images, propagated to its ancestors).
    ImageCounts,
    /// `intrinsic`: Seco et al. (2004), from hyponym counts alone; any taxonomy.
    Intrinsic,
    /// `semcor`: WordNet's SemCor sense counts, as NLTK's `ic-semcor`.
    SemCor,
    /// `imagenet21k`: IC(c) = -log(#ImageNet-21K (fall 2011) synsets under c / 21,841), the CoG
    /// choice ([`imagenet21k_information_content`]).
    Imagenet21k,
    /// `counts:FILE`: your `concept<TAB>count` lines, propagated to ancestors
    /// ([`InformationContent::from_counts_file`]).
    Counts(PathBuf),
}

impl IcSource {
    /// The names [`IcSource::from_str`] accepts.
    pub const NAMES: &'static str =
        "pool-subtree, image-counts, intrinsic, semcor, imagenet21k or counts:FILE";

    /// The IC of the sources that need neither a candidate pool nor image counts (all but
    /// `pool-subtree` and `image-counts`, which only the level builder computes).
    pub fn information_content(&self, tax: &Taxonomy) -> Result<InformationContent> {
        Ok(match self {
            IcSource::Intrinsic => InformationContent::intrinsic(tax),
            IcSource::SemCor => InformationContent::semcor(tax)?,
            IcSource::Imagenet21k => imagenet21k_information_content(tax)?,
            IcSource::Counts(path) => InformationContent::from_counts_file(tax, path)?,
            IcSource::PoolSubtree | IcSource::ImageCounts => {
                return Err(Error::InvalidParam(format!(
                    "the {self} information content depends on a candidate pool and its images: \
                     only the level builder computes it; use intrinsic, semcor, imagenet21k or \
                     counts:FILE here"
                )))
            }
        })
    }
}

impl FromStr for IcSource {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "pool-subtree" => IcSource::PoolSubtree,
            "image-counts" => IcSource::ImageCounts,
            "intrinsic" => IcSource::Intrinsic,
            "semcor" => IcSource::SemCor,
            "imagenet21k" | "in21k" => IcSource::Imagenet21k,
            _ => match s.strip_prefix("counts:") {
                Some(path) if !path.is_empty() => IcSource::Counts(PathBuf::from(path)),
                _ => return Err(unknown("IC source", s, Self::NAMES)),
            },
        })
    }
}

impl fmt::Display for IcSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IcSource::PoolSubtree => f.write_str("pool-subtree"),
            IcSource::ImageCounts => f.write_str("image-counts"),
            IcSource::Intrinsic => f.write_str("intrinsic"),
            IcSource::SemCor => f.write_str("semcor"),
            IcSource::Imagenet21k => f.write_str("imagenet21k"),
            IcSource::Counts(path) => write!(f, "counts:{}", path.display()),
        }
    }
}

/// How the ranking is cut, without the level sizes: `blocks`, `spread`, `equal-width` or
/// `thresholds:T1,T2,...` ([`Cuts`] has the meaning of each).
#[derive(Clone, Debug, PartialEq)]
pub enum CutStyle {
    /// [`Cuts::Blocks`].
    Blocks,
    /// [`Cuts::Spread`].
    Spread,
    /// [`Cuts::EqualWidth`].
    EqualWidth,
    /// [`Cuts::Thresholds`], with its decreasing similarity thresholds.
    Thresholds(Vec<f64>),
}

impl CutStyle {
    /// The names [`CutStyle::from_str`] accepts.
    pub const NAMES: &'static str = "blocks, spread, equal-width or thresholds:T1,T2,...";

    /// The cuts for `levels` levels of `per_level` concepts (thresholds imply their own level
    /// count; equal-width levels have no fixed size).
    pub fn cuts(&self, levels: usize, per_level: usize) -> Cuts {
        match self {
            CutStyle::Blocks => Cuts::Blocks { levels, per_level },
            CutStyle::Spread => Cuts::Spread { levels, per_level },
            CutStyle::EqualWidth => Cuts::EqualWidth { levels },
            CutStyle::Thresholds(t) => Cuts::Thresholds(t.clone()),
        }
    }
}

impl FromStr for CutStyle {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "blocks" => CutStyle::Blocks,
            "spread" => CutStyle::Spread,
            "equal-width" => CutStyle::EqualWidth,
            _ => match s.strip_prefix("thresholds:") {
                Some(list) => CutStyle::Thresholds(
                    list.split(',')
                        .map(|x| {
                            x.trim().parse::<f64>().map_err(|_| {
                                Error::InvalidParam(format!(
                                    "cuts {s:?}: threshold {x:?} is not a number"
                                ))
                            })
                        })
                        .collect::<Result<_>>()?,
                ),
                None => return Err(unknown("cuts", s, Self::NAMES)),
            },
        })
    }
}

impl fmt::Display for CutStyle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CutStyle::Blocks => f.write_str("blocks"),
            CutStyle::Spread => f.write_str("spread"),
            CutStyle::EqualWidth => f.write_str("equal-width"),
            CutStyle::Thresholds(t) => {
                let t: Vec<String> = t.iter().map(f64::to_string).collect();
                write!(f, "thresholds:{}", t.join(","))
            }
        }
    }
}

/// A starting point for the level builder's filters and IC ([`LevelParams`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// `imagenet-cog`: [`LevelParams::imagenet_cog`].
    ImagenetCog,
    /// `generic`: [`LevelParams::generic`], for any taxonomy.
    Generic,
}

impl Preset {
    /// The names [`Preset::from_str`] accepts.
    pub const NAMES: &'static str = "imagenet-cog or generic";

    /// The preset's parameters, cut into `levels` blocks of `per_level` concepts.
    pub fn params(self, levels: usize, per_level: usize) -> LevelParams {
        match self {
            Preset::ImagenetCog => {
                LevelParams::imagenet_cog().cuts(Cuts::Blocks { levels, per_level })
            }
            Preset::Generic => LevelParams::generic(levels, per_level),
        }
    }
}

impl FromStr for Preset {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "imagenet-cog" => Ok(Preset::ImagenetCog),
            "generic" => Ok(Preset::Generic),
            _ => Err(unknown("level preset", s, Self::NAMES)),
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Preset::ImagenetCog => "imagenet-cog",
            Preset::Generic => "generic",
        })
    }
}

/// Where a concept list (seen set, candidate pool) comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum ConceptSource {
    /// `imagenet1k` (or `in1k`): the shipped ImageNet-1K classes ([`ConceptList::imagenet1k`]).
    Imagenet1k,
    /// `imagenet21k` (or `in21k`): the shipped ImageNet-21K fall 2011 synsets.
    Imagenet21k,
    /// `images`: the concept folders of an image tree ([`concept_folders`]).
    ImageFolders,
    /// Any other value: a list file ([`ConceptList::from_file`]).
    File(PathBuf),
}

impl ConceptSource {
    /// The names [`ConceptSource::from_str`] accepts.
    pub const NAMES: &'static str = "imagenet1k (in1k), imagenet21k (in21k), images or a file";

    /// Reads the list; `images` is the image tree that [`ConceptSource::ImageFolders`] lists.
    pub fn load(&self, images: Option<&Path>) -> Result<ConceptList> {
        Ok(match self {
            ConceptSource::Imagenet1k => ConceptList::imagenet1k(),
            ConceptSource::Imagenet21k => ConceptList::imagenet21k(),
            ConceptSource::ImageFolders => {
                let root = images.ok_or_else(|| {
                    Error::InvalidParam(
                        "the concept list `images` lists the folders of an image tree: give one"
                            .into(),
                    )
                })?;
                ConceptList::from_names(
                    format!("images:{}", root.display()),
                    concept_folders(root)?,
                )
            }
            ConceptSource::File(path) => ConceptList::from_file(path)?,
        })
    }
}

impl FromStr for ConceptSource {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "imagenet1k" | "in1k" => ConceptSource::Imagenet1k,
            "imagenet21k" | "in21k" => ConceptSource::Imagenet21k,
            "images" => ConceptSource::ImageFolders,
            "" => return Err(unknown("concept list", s, Self::NAMES)),
            file => ConceptSource::File(PathBuf::from(file)),
        })
    }
}

impl fmt::Display for ConceptSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConceptSource::Imagenet1k => f.write_str("imagenet1k"),
            ConceptSource::Imagenet21k => f.write_str("imagenet21k"),
            ConceptSource::ImageFolders => f.write_str("images"),
            ConceptSource::File(path) => write!(f, "{}", path.display()),
        }
    }
}

fn unknown(what: &'static str, value: &str, expected: &'static str) -> Error {
    Error::UnknownName {
        what,
        value: value.to_string(),
        expected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in [
            "pool-subtree",
            "image-counts",
            "intrinsic",
            "semcor",
            "imagenet21k",
            "counts:dir/c.tsv",
        ] {
            assert_eq!(name.parse::<IcSource>().unwrap().to_string(), name);
        }
        for name in ["blocks", "spread", "equal-width", "thresholds:0.5,0.25"] {
            assert_eq!(name.parse::<CutStyle>().unwrap().to_string(), name);
        }
        for name in ["imagenet-cog", "generic"] {
            assert_eq!(name.parse::<Preset>().unwrap().to_string(), name);
        }
        for name in ["imagenet1k", "imagenet21k", "images", "lists/seen.txt"] {
            assert_eq!(name.parse::<ConceptSource>().unwrap().to_string(), name);
        }
        assert_eq!("in21k".parse::<IcSource>().unwrap(), IcSource::Imagenet21k);
        assert_eq!(
            "in1k".parse::<ConceptSource>().unwrap(),
            ConceptSource::Imagenet1k
        );
    }

    #[test]
    fn unknown_names_say_what_is_accepted() {
        assert_eq!(
            "plain".parse::<Preset>().unwrap_err().to_string(),
            "unknown level preset \"plain\": use imagenet-cog or generic"
        );
        assert_eq!(
            "counts:".parse::<IcSource>().unwrap_err().to_string(),
            format!("unknown IC source \"counts:\": use {}", IcSource::NAMES)
        );
        let err = "thresholds:0.5,high".parse::<CutStyle>().unwrap_err();
        assert!(
            err.to_string().contains("\"high\" is not a number"),
            "{err}"
        );
    }

    #[test]
    fn cut_styles_take_the_level_sizes() {
        assert_eq!(
            CutStyle::Spread.cuts(4, 12),
            Cuts::Spread {
                levels: 4,
                per_level: 12
            }
        );
        assert_eq!(
            CutStyle::Thresholds(vec![0.5]).cuts(4, 12),
            Cuts::Thresholds(vec![0.5])
        );
    }
}
