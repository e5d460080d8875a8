//! Writes the image set to disk in the ImageNet layout, atomically and idempotently.

use std::path::{Path, PathBuf};

use hiercog_taxonomy::Taxonomy;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::concepts::default_concepts;
use crate::factors::{fnv1a, resolve, visual_factors, VisualFactors};
use crate::render::{render, Variation};
use crate::{Error, Result};

/// Name of the manifest written in the output directory.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Name of the plain-text notice written in the output directory.
pub const README_FILE: &str = "README.txt";
/// Version 2: instance variation, distractors, colour jitter and resolution (`SynthParams::variation`).
const FORMAT_VERSION: u32 = 2;

/// What to generate; the whole image set is a pure function of these values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SynthParams {
    /// WordNet noun wnids; default: [`default_concepts`].
    pub concepts: Vec<String>,
    /// Images rendered per concept (the set has `concepts.len() × images_per_concept`).
    pub images_per_concept: usize,
    /// Side of the square images in pixels.
    pub size: u32,
    /// Seed of every random choice (nuisance and instance jitter); same seed, same pixels.
    pub seed: u64,
    /// Within-concept variation, clutter and degradation: the set's difficulty.
    pub variation: Variation,
}

impl Default for SynthParams {
    /// The built-in default: the shipped concepts, 40 images each, 224×224, seed 0.
    fn default() -> Self {
        SynthParams {
            concepts: default_concepts(),
            images_per_concept: 40,
            size: 224,
            seed: 0,
            variation: Variation::default(),
        }
    }
}

impl SynthParams {
    fn validate(&self) -> Result<()> {
        if self.concepts.is_empty() {
            return Err(Error::BadParam {
                name: "concepts",
                value: "[]".into(),
                hint: "list at least one wnid",
            });
        }
        if self.images_per_concept == 0 {
            return Err(Error::BadParam {
                name: "images_per_concept",
                value: "0".into(),
                hint: "generate at least one image per concept",
            });
        }
        if !(16..=4096).contains(&self.size) {
            return Err(Error::BadParam {
                name: "size",
                value: self.size.to_string(),
                hint: "use a side between 16 and 4096 pixels (224 for ImageNet backbones)",
            });
        }
        self.variation.validate()
    }
}

/// One concept of a generated set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SynthConcept {
    /// WordNet noun id, also the name of its image folder.
    pub wnid: String,
    /// First WordNet lemma, for people reading the manifest.
    pub name: String,
    /// Image paths relative to the output directory (`<wnid>/<wnid>_<i>.png`).
    pub images: Vec<String>,
    /// The inherited factors its images are instances of.
    pub factors: VisualFactors,
}

/// Description of a generated set, saved as `manifest.json` beside the images.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SynthManifest {
    /// Always true: these are not photographs. Reports must say so.
    pub synthetic: bool,
    /// Name of the program that wrote the set (`hiercog-synth`).
    pub generator: String,
    /// Layout and rendering version; a set of another version is regenerated, never mixed.
    pub format_version: u32,
    /// The parameters the set is a pure function of.
    pub params: SynthParams,
    /// Every concept with its images, in the order of `params.concepts`.
    pub concepts: Vec<SynthConcept>,
}

impl SynthManifest {
    /// Total number of images.
    pub fn n_images(&self) -> usize {
        self.concepts.iter().map(|c| c.images.len()).sum()
    }

    /// Reads `manifest.json` from a generated directory.
    pub fn load(dir: &Path) -> Result<SynthManifest> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(Error::io(&path))?;
        // The version first: an older manifest may parse, with today's defaults filling new fields.
        #[derive(Deserialize)]
        struct Version {
            format_version: u32,
        }
        if let Ok(Version { format_version }) = serde_json::from_str::<Version>(&text) {
            if format_version != FORMAT_VERSION {
                return Err(Error::OutputExists {
                    path: dir.to_path_buf(),
                    reason: format!(
                        "holds a synthetic set of format {format_version} (this generator writes format {FORMAT_VERSION})"
                    ),
                });
            }
        }
        serde_json::from_str(&text).map_err(|e| Error::OutputExists {
            path: dir.to_path_buf(),
            reason: format!("its {MANIFEST_FILE} is unreadable ({e})"),
        })
    }

    fn complete_in(&self, dir: &Path) -> bool {
        self.concepts
            .iter()
            .flat_map(|c| &c.images)
            .all(|p| dir.join(p).is_file())
    }
}

/// Seed of image `i` of concept `wnid`: independent of list order and of the other concepts.
fn image_seed(seed: u64, wnid: &str, i: usize) -> u64 {
    // splitmix64 finaliser over the combined key.
    let mut z = seed ^ fnv1a(wnid).rotate_left(17) ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Renders image `i` of a concept as PNG bytes (what [`generate`] writes).
pub fn render_png(factors: &VisualFactors, wnid: &str, i: usize, params: &SynthParams) -> Vec<u8> {
    let img = render(
        factors,
        params.size,
        image_seed(params.seed, wnid, i),
        &params.variation,
    );
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .expect("PNG encoding into memory cannot fail");
    bytes
}

fn readme(params: &SynthParams, n_images: usize) -> String {
    format!(
        "SYNTHETIC IMAGE SET -- NOT PHOTOGRAPHS\n\
         =====================================\n\n\
         Generated by hiercog-synth (format {FORMAT_VERSION}): {} concepts x {} images, {}x{} px, seed {} ({n_images} images).\n\
         Each folder is a real WordNet noun synset (wnid), but its images are rendered shapes whose\n\
         visual factors (shape family, geometry, colour, pattern) are inherited down the WordNet\n\
         hypernym tree, so concepts with a deep common ancestor look alike. Each image is one\n\
         instance of its concept (its factors jittered) with pose, scale, position, background,\n\
         distractor objects, colour jitter, resolution and noise of its own. Results measured on this set say how a model\n\
         separates these synthetic concepts, not how it performs on real images of them.\n\
         See manifest.json for the parameters and each concept's visual factors.\n",
        params.concepts.len(),
        params.images_per_concept,
        params.size,
        params.size,
        params.seed,
    )
}

/// Generates the image set into `out` (`out/<wnid>/<wnid>_<i>.png`, `manifest.json`, `README.txt`).
///
/// Work happens in a sibling directory `.<name>.partial` renamed to `out` at the end, so `out` is
/// either complete or absent (one generator per output directory at a time). If `out` already holds
/// a complete set with the same params, it is returned untouched; any other existing non-empty `out`
/// is an error. `progress(done, total)` is called after each concept.
pub fn generate(
    tax: &Taxonomy,
    params: &SynthParams,
    out: &Path,
    progress: &dyn Fn(usize, usize),
) -> Result<SynthManifest> {
    params.validate()?;
    let ids = resolve(tax, &params.concepts)?;
    if out.exists() {
        if out.join(MANIFEST_FILE).is_file() {
            let existing = SynthManifest::load(out)?;
            if existing.params != *params {
                return Err(Error::OutputExists {
                    path: out.to_path_buf(),
                    reason: "holds a synthetic set generated with other parameters".into(),
                });
            }
            if !existing.complete_in(out) {
                return Err(Error::OutputExists {
                    path: out.to_path_buf(),
                    reason: "holds an incomplete synthetic set (images are missing)".into(),
                });
            }
            let total = existing.n_images();
            progress(total, total);
            return Ok(existing);
        }
        let empty = std::fs::read_dir(out)
            .map_err(Error::io(out))?
            .next()
            .is_none();
        if !empty {
            return Err(Error::OutputExists {
                path: out.to_path_buf(),
                reason: format!("is not empty and has no {MANIFEST_FILE}"),
            });
        }
        std::fs::remove_dir(out).map_err(Error::io(out))?;
    }

    let tmp = partial_dir(out)?;
    if tmp.exists() {
        // Left by an interrupted run: nothing in it is trusted.
        std::fs::remove_dir_all(&tmp).map_err(Error::io(&tmp))?;
    }
    let result = write_set(tax, params, &ids, &tmp, progress).and_then(|m| {
        std::fs::rename(&tmp, out).map_err(Error::io(out))?;
        Ok(m)
    });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

/// `<parent>/.<name>.partial`, the staging directory of `out`.
fn partial_dir(out: &Path) -> Result<PathBuf> {
    let name = out.file_name().ok_or_else(|| Error::BadParam {
        name: "out",
        value: out.display().to_string(),
        hint: "give a directory path that ends in a name",
    })?;
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(Error::io(parent))?;
    Ok(parent.join(format!(".{}.partial", name.to_string_lossy())))
}

fn write_set(
    tax: &Taxonomy,
    params: &SynthParams,
    ids: &[hiercog_taxonomy::ConceptId],
    dir: &Path,
    progress: &dyn Fn(usize, usize),
) -> Result<SynthManifest> {
    let factors = visual_factors(tax, &params.concepts, params.seed)?;
    let n = params.images_per_concept;
    let total = n * params.concepts.len();
    let mut concepts = Vec::with_capacity(params.concepts.len());
    progress(0, total);
    for (k, ((wnid, f), &id)) in params.concepts.iter().zip(factors).zip(ids).enumerate() {
        let cdir = dir.join(wnid);
        std::fs::create_dir_all(&cdir).map_err(Error::io(&cdir))?;
        let images: Vec<String> = (0..n).map(|i| format!("{wnid}/{wnid}_{i}.png")).collect();
        images.par_iter().enumerate().try_for_each(|(i, rel)| {
            let path = dir.join(rel);
            std::fs::write(&path, render_png(&f, wnid, i, params)).map_err(Error::io(&path))
        })?;
        let name = tax
            .lemmas(id)
            .first()
            .cloned()
            .unwrap_or_else(|| wnid.clone());
        concepts.push(SynthConcept {
            wnid: wnid.clone(),
            name,
            images,
            factors: f,
        });
        progress((k + 1) * n, total);
    }
    let manifest = SynthManifest {
        synthetic: true,
        generator: "hiercog-synth".into(),
        format_version: FORMAT_VERSION,
        params: params.clone(),
        concepts,
    };
    let json = serde_json::to_string_pretty(&manifest).expect("manifest serialises");
    let mpath = dir.join(MANIFEST_FILE);
    std::fs::write(&mpath, json).map_err(Error::io(&mpath))?;
    let rpath = dir.join(README_FILE);
    std::fs::write(&rpath, readme(params, total)).map_err(Error::io(&rpath))?;
    Ok(manifest)
}
