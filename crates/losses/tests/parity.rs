//! Parity with the fiveai/making-better-mistakes formulas run in PyTorch (float64) by
//! `tests/fixtures/make_fixtures.py`, on the WordNet tree over 84 ImageNet-1K classes: the tree
//! itself, its distances, and every loss's value and gradient w.r.t. the logits, to 1e-6 (losses
//! of `f32` logits to 1e-6 relative: a loss of 5.7 is resolved to 4.8e-7 in `f32`).
//!
//! `cargo test --release -p hiercog-losses --test parity -- --nocapture` prints the largest
//! differences.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var};
use hiercog_losses::{HierarchicalLoss, LabelTree, LossSpec, TreeFromDag};
use hiercog_taxonomy::{DistanceConvention, Taxonomy};

const TOLERANCE: f64 = 1e-6;

#[derive(serde::Deserialize)]
struct Fixture {
    rule: String,
    labels: Vec<String>,
    logits: Vec<Vec<f32>>,
    targets: Vec<u32>,
    distances: HashMap<String, Vec<Vec<f64>>>,
    cases: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    recipe: String,
    loss: f64,
    grad: Vec<Vec<f64>>,
    /// `nn.KLDivLoss()` with its default reduction (soft labels, KL only).
    reference_default_reduction: Option<f64>,
    /// The soft targets of the batch's true classes (soft labels only).
    target_rows: Option<Vec<Vec<f64>>>,
}

fn fixture() -> Fixture {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/parity.json");
    let text = std::fs::read_to_string(path).expect("tests/fixtures/parity.json is committed");
    serde_json::from_str(&text).expect("parity.json is valid")
}

fn tree(f: &Fixture) -> LabelTree {
    let rule: TreeFromDag = f.rule.parse().unwrap();
    LabelTree::from_taxonomy(&Taxonomy::wordnet().unwrap(), &f.labels, rule).unwrap()
}

fn max_abs_diff(a: impl IntoIterator<Item = f64>, b: impl IntoIterator<Item = f64>) -> f64 {
    a.into_iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn the_tree_is_the_one_the_reference_script_used() {
    let f = fixture();
    let tree = tree(&f);
    let dumped = include_str!("fixtures/tree.isa");
    let edges: String = dumped
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(tree.isa_text(), edges);
    let dropped: Vec<String> = tree
        .dropped_edges()
        .iter()
        .map(|e| format!("# dropped by rule {}: {}\t{}", f.rule, e.parent, e.child))
        .collect();
    let expected: Vec<&str> = dumped.lines().filter(|l| l.starts_with('#')).collect();
    assert_eq!(dropped, expected);
    assert!(!dropped.is_empty(), "this label set exercises the DAG rule");
    assert_eq!(tree.num_classes(), f.labels.len());
    for (class, label) in f.labels.iter().enumerate() {
        assert_eq!(tree.label(class), label);
        assert_eq!(tree.height(tree.class_node(class)), 0);
    }
}

#[test]
fn distances_match_the_ones_computed_on_the_nltk_tree() {
    let f = fixture();
    let tree = tree(&f);
    for (name, convention) in [
        ("padded", DistanceConvention::PaddedLcaHeight),
        ("height", DistanceConvention::LcaHeight),
    ] {
        let d = tree.distances(convention).unwrap();
        let want = &f.distances[name];
        for (i, row) in want.iter().enumerate() {
            assert_eq!(d.row(i), row.as_slice(), "{name} distances, row {i}");
        }
    }
}

/// Runs every case with logits of `dtype` and prints the largest loss and gradient differences.
/// Loss values must match to `TOLERANCE` times `loss_scale(value)`, gradients to `TOLERANCE`.
fn run_cases(dtype: DType, loss_scale: fn(f64) -> f64) {
    let f = fixture();
    let tree = tree(&f);
    let device = Device::Cpu;
    let flat: Vec<f32> = f.logits.iter().flatten().copied().collect();
    let logits = Tensor::from_vec(flat, (f.logits.len(), f.labels.len()), &device)
        .unwrap()
        .to_dtype(dtype)
        .unwrap();
    let logits = Var::from_tensor(&logits).unwrap();
    let targets = Tensor::new(f.targets.as_slice(), &device).unwrap();
    let (mut worst_loss, mut worst_grad) = (0.0f64, 0.0f64);
    for case in &f.cases {
        let spec: LossSpec = case.recipe.parse().unwrap();
        let loss = HierarchicalLoss::new(&spec, &tree, &device).unwrap();
        let value = loss.forward(&logits, &targets).unwrap();
        let grads = value.backward().unwrap();
        let value = value
            .to_dtype(DType::F64)
            .unwrap()
            .to_scalar::<f64>()
            .unwrap();
        let grad: Vec<f64> = grads
            .get(&logits)
            .unwrap()
            .to_dtype(DType::F64)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let dl = (value - case.loss).abs();
        let dg = max_abs_diff(grad, case.grad.iter().flatten().copied());
        println!(
            "{dtype:?} {:<15} loss {:>10.6}  |Δloss| {dl:.2e}  max |Δgrad| {dg:.2e}",
            case.recipe, case.loss
        );
        assert!(
            dl <= TOLERANCE * loss_scale(case.loss),
            "{}: loss {value} vs {}",
            case.recipe,
            case.loss
        );
        assert!(dg <= TOLERANCE, "{}: gradient off by {dg}", case.recipe);
        worst_loss = worst_loss.max(dl);
        worst_grad = worst_grad.max(dg);
    }
    println!("{dtype:?}: largest |Δloss| {worst_loss:.2e}, largest |Δgrad| {worst_grad:.2e}");
}

#[test]
fn losses_and_gradients_match_the_reference_in_f64() {
    run_cases(DType::F64, |_| 1.0);
}

#[test]
fn losses_and_gradients_match_the_reference_in_f32() {
    run_cases(DType::F32, |loss| loss.abs().max(1.0));
}

#[test]
fn soft_targets_and_the_reference_reduction() {
    let f = fixture();
    let tree = tree(&f);
    let c = tree.num_classes();
    for case in f.cases.iter().filter(|c| c.target_rows.is_some()) {
        let Ok(LossSpec::SoftLabels {
            beta, convention, ..
        }) = case.recipe.parse()
        else {
            panic!("{} is a soft-label case", case.recipe)
        };
        let y = tree.soft_labels(beta, convention).unwrap();
        assert_eq!(y.shape, [c, c]);
        for (row, &t) in case.target_rows.as_ref().unwrap().iter().zip(&f.targets) {
            let ours = &y.data[t as usize * c..(t as usize + 1) * c];
            let d = max_abs_diff(ours.iter().map(|&v| f64::from(v)), row.iter().copied());
            assert!(
                d <= 1e-7,
                "{}: soft target of class {t} off by {d}",
                case.recipe
            );
        }
        // The reference trains with nn.KLDivLoss(), whose default reduction divides the batch
        // mean by the number of classes as well.
        if let Some(reference) = case.reference_default_reduction {
            assert!(
                (case.loss / c as f64 - reference).abs() <= 1e-12,
                "{}",
                case.recipe
            );
        }
    }
}
