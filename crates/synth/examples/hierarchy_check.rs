//! How hard the synthetic set is for a pretrained backbone, and whether its hierarchy shows:
//! renders the seen concepts and the levels of `hiercog run`'s default construction (default seen
//! set, ImageNet-CoG filters, Lin similarity with ImageNet-21K IC, 5 spread levels), extracts
//! EfficientNet-Lite0 features in memory and probes them (hiercog's fast solver, all data).
//!
//! ```sh
//! cargo run --release -p hiercog-synth --example hierarchy_check -- \
//!     [--images 40] [--train 24] [--per-level 15] [--variation '{"instance_sigma": ...}']
//! ```
//!
//! Per dataset it prints the top-1 accuracy, the mistake severity (mean LCA height of the wrong
//! top-1 classes) and the LCA height of a uniformly random wrong class: mistakes far below that
//! baseline go to near relatives, as visual similarity follows WordNet similarity. Then the
//! coarse-transfer check: a linear probe trained on the seen images to name each concept's coarse
//! ancestor (the first on its hypernym path with intrinsic IC ≥ 0.5: dog, feline, wheeled vehicle,
//! ...) names it for images of the unseen level concepts under the same ancestors, against chance:
//! siblings share coarse factors that a model taught the hierarchy on seen concepts can carry over.
//! Needs the default weights (`scripts/fetch-default-model.sh`). Prints tables; asserts nothing.

use std::collections::BTreeMap;
use std::time::Instant;

use hiercog_cog::{BuildInputs, ConceptList, Cuts, IcSource, LevelBuilder, LevelParams};
use hiercog_nn::{device_from_name, model_spec, Backbone};
use hiercog_probe::{run_protocol, ProtocolConfig, Samples};
use hiercog_synth::{
    default_concepts, default_seen, render_png, visual_factors, SynthParams, Variation,
};
use hiercog_taxonomy::{distance_matrix, DistanceConvention, InformationContent, Taxonomy};
use rayon::prelude::*;

type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

/// Command-line options (`--name value`).
struct Options {
    images: usize,
    train: usize,
    per_level: usize,
    variation: Variation,
}

fn options() -> AnyResult<Options> {
    let mut o = Options {
        images: 40,
        train: 24,
        per_level: 15,
        variation: Variation::default(),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair
            .get(1)
            .ok_or_else(|| format!("{} needs a value", pair[0]))?;
        match pair[0].as_str() {
            "--images" => o.images = value.parse()?,
            "--train" => o.train = value.parse()?,
            "--per-level" => o.per_level = value.parse()?,
            "--variation" => o.variation = serde_json::from_str(value)?,
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    if o.train == 0 || o.train >= o.images {
        return Err("--train must be between 1 and --images - 1".into());
    }
    Ok(o)
}

/// One labelled set of classes (wnids sorted, as the run labels them).
struct Dataset {
    name: String,
    classes: Vec<String>,
}

/// The seen set and the levels of the default run's construction.
fn datasets(tax: &Taxonomy, per_level: usize) -> AnyResult<Vec<Dataset>> {
    let concepts = default_concepts();
    let mut seen = default_seen(tax, &concepts)?;
    let params = LevelParams::imagenet_cog()
        .ic(IcSource::Imagenet21k)
        .cuts(Cuts::Spread {
            levels: 5,
            per_level,
        });
    let bench = LevelBuilder::new(params)?.build(&BuildInputs {
        taxonomy: tax,
        taxonomy_source: "builtin:wordnet-3.0".into(),
        seen: &ConceptList::from_names("seen", seen.clone()),
        pool: &ConceptList::from_names("pool", concepts),
        counts: None,
    })?;
    seen.sort();
    let mut out = vec![Dataset {
        name: "seen".into(),
        classes: seen,
    }];
    for level in bench.levels() {
        let sim =
            level.concepts.iter().map(|c| c.similarity).sum::<f64>() / level.concepts.len() as f64;
        out.push(Dataset {
            name: format!("{} (Lin {sim:.2})", level.name),
            classes: level.sorted_wnids().into_iter().map(String::from).collect(),
        });
    }
    Ok(out)
}

/// L2-normalised Lite0 features of every image of every concept, in image order.
fn features(
    tax: &Taxonomy,
    wnids: &[String],
    params: &SynthParams,
) -> AnyResult<BTreeMap<String, Vec<Vec<f32>>>> {
    let spec = model_spec("efficientnet-lite0")?;
    let weights = hiercog_nn::cache::resolve_weights(spec.name, None)?;
    let model = Backbone::load(spec, &weights, None, &device_from_name("cpu")?)?;
    let pre = model.preprocess().clone();
    let factors = visual_factors(tax, wnids, params.seed)?;
    let (mut render_s, mut extract_s) = (0.0, 0.0);
    let mut out = BTreeMap::new();
    for (wnid, f) in wnids.iter().zip(&factors) {
        let t = Instant::now();
        let images: Vec<Vec<f32>> = (0..params.images_per_concept)
            .into_par_iter()
            .map(|i| {
                let png = render_png(f, wnid, i, params);
                let img = image::load_from_memory(&png).expect("own PNG decodes");
                pre.apply(&img.to_rgb8())
            })
            .collect();
        render_s += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let mut rows = Vec::with_capacity(images.len());
        for batch in images.chunks(32) {
            for mut row in model.forward_images(batch)?.features.to_vec2::<f32>()? {
                let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
                row.iter_mut().for_each(|v| *v /= norm);
                rows.push(row);
            }
        }
        extract_s += t.elapsed().as_secs_f64();
        out.insert(wnid.clone(), rows);
    }
    println!(
        "{} concepts x {} images: render + preprocess {render_s:.1} s, Lite0 features {extract_s:.1} s ({:.0} img/s)\n",
        wnids.len(),
        params.images_per_concept,
        (wnids.len() * params.images_per_concept) as f64 / extract_s
    );
    Ok(out)
}

/// Train rows (the first `train` images of each class) and test rows (the rest), labelled by `label`.
fn split(
    feats: &BTreeMap<String, Vec<Vec<f32>>>,
    classes: &[(String, u32)],
    train: usize,
) -> [(Vec<f32>, Vec<u32>); 2] {
    let mut sets: [(Vec<f32>, Vec<u32>); 2] = Default::default();
    for (wnid, label) in classes {
        for (i, row) in feats[wnid].iter().enumerate() {
            let s = &mut sets[usize::from(i >= train)];
            s.0.extend_from_slice(row);
            s.1.push(*label);
        }
    }
    sets
}

fn main() -> AnyResult<()> {
    let o = options()?;
    let tax = Taxonomy::wordnet()?;
    let sets = datasets(&tax, o.per_level)?;
    let mut used: Vec<String> = sets.iter().flat_map(|d| d.classes.clone()).collect();
    used.sort();
    used.dedup();
    let params = SynthParams {
        concepts: used.clone(),
        images_per_concept: o.images,
        variation: o.variation.clone(),
        ..SynthParams::default()
    };
    let feats = features(&tax, &used, &params)?;
    let dim = feats.values().next().map_or(0, |rows| rows[0].len());
    let cfg = ProtocolConfig::default();

    println!("| dataset | classes | top-1 % | mistake severity | random wrong class | ratio |");
    println!("|---|--:|--:|--:|--:|--:|");
    for d in &sets {
        let ids = d
            .classes
            .iter()
            .map(|w| tax.id(w))
            .collect::<Result<Vec<_>, _>>()?;
        let dist = distance_matrix(&tax, &ids, DistanceConvention::LcaHeight)?;
        let c = ids.len();
        let random_wrong = (0..c)
            .flat_map(|i| (0..c).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| dist.get(i, j))
            .sum::<f64>()
            / (c * (c - 1)) as f64;
        let labelled: Vec<(String, u32)> = d.classes.iter().cloned().zip(0..c as u32).collect();
        let [tr, te] = split(&feats, &labelled, o.train);
        let r = run_protocol(
            Samples::new(&tr.0, &tr.1, dim, c)?,
            Samples::new(&te.0, &te.1, dim, c)?,
            &cfg,
            22,
            None,
            Some(&dist),
            &|_| {},
        )?;
        let severity = r
            .test
            .hierarchical
            .and_then(|h| h.mistake_severity)
            .unwrap_or(0.0);
        println!(
            "| {} | {c} | {:.1} | {severity:.2} | {random_wrong:.2} | {:.2} |",
            d.name,
            r.test.top1,
            severity / random_wrong
        );
    }

    // Coarse transfer: seen concepts teach their coarse ancestors; unseen level concepts test them.
    let ic = InformationContent::intrinsic(&tax);
    let coarse = |wnid: &str| -> AnyResult<String> {
        let id = tax.id(wnid)?;
        let path = tax.hypernym_paths(id).swap_remove(0);
        let q = path
            .iter()
            .copied()
            .find(|&q| q == id || ic.ic(q) >= 0.5)
            .unwrap_or(id);
        Ok(tax.lemmas(q)[0].clone())
    };
    let mut groups: BTreeMap<String, u32> = BTreeMap::new();
    let mut seen_rows = Vec::new();
    for w in &sets[0].classes {
        let g = coarse(w)?;
        let n = groups.len() as u32;
        seen_rows.push((w.clone(), *groups.entry(g).or_insert(n)));
    }
    let mut unseen_rows = Vec::new();
    for w in sets[1..].iter().flat_map(|d| &d.classes) {
        if let Some(&label) = groups.get(&coarse(w)?) {
            unseen_rows.push((w.clone(), label));
        }
    }
    let [train, _] = split(&feats, &seen_rows, o.train);
    let [_, test] = split(&feats, &unseen_rows, o.train);
    let k = groups.len();
    let r = run_protocol(
        Samples::new(&train.0, &train.1, dim, k)?,
        Samples::new(&test.0, &test.1, dim, k)?,
        &cfg,
        22,
        None,
        None,
        &|_| {},
    )?;
    let mut counts = vec![0usize; k];
    test.1.iter().for_each(|&l| counts[l as usize] += 1);
    let majority = *counts.iter().max().unwrap_or(&0) as f64 / test.1.len().max(1) as f64;
    println!(
        "\ncoarse transfer: {k} coarse ancestors ({}) learnt from {} seen concepts, named for {:.1} % of \
         the test images of {} unseen level concepts under them (chance {:.1} %, majority {:.1} %)",
        groups.keys().cloned().collect::<Vec<_>>().join(", "),
        seen_rows.len(),
        r.test.top1,
        unseen_rows.len(),
        100.0 / k as f64,
        100.0 * majority
    );
    Ok(())
}
