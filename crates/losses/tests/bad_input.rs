//! Bad input gets an error that names it and says what to do (issue 18, item 7, loss side).

use std::path::Path;

use candle_core::{Device, Tensor};
use hiercog_losses::{Error, HierarchicalLoss, HxeWeighting, LabelTree, LossSpec, TreeFromDag};
use hiercog_taxonomy::{DistanceConvention, Taxonomy};

fn strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn wordnet_tree(labels: &[&str]) -> Result<LabelTree, Error> {
    LabelTree::from_taxonomy(
        &*Taxonomy::wordnet()?,
        &strings(labels),
        TreeFromDag::Shortest,
    )
}

fn message<T: std::fmt::Debug>(r: Result<T, Error>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn labels_missing_from_the_hierarchy_are_named() {
    // A truncated wnid and a made-up one, among real ones.
    let msg = message(wordnet_tree(&[
        "n02085620",
        "n0209960",
        "n02110958",
        "n99999999",
    ]));
    assert_eq!(
        msg,
        "2 label(s) not in the hierarchy: \"n0209960\", \"n99999999\"; check their spelling \
         (WordNet labels are wnids such as n02084071), or add them to the is-a file"
    );
}

#[test]
fn a_label_that_is_an_ancestor_of_another_is_named() {
    // dog (n02084071) subsumes Chihuahua (n02085620) and pug (n02110958).
    let msg = message(wordnet_tree(&[
        "n02085620",
        "n02084071",
        "n02110958",
        "n02123045",
    ]));
    assert!(
        msg.starts_with("2 label(s) are ancestors of other labels (n02084071 > n02085620, n02084071 > n02110958)"),
        "{msg}"
    );
    assert!(msg.contains("the labels must be the leaves"), "{msg}");
}

#[test]
fn a_repeated_label_and_too_few_labels() {
    let msg = message(wordnet_tree(&["n02085620", "n02110958", "n02085620"]));
    assert!(
        msg.contains("\"n02085620\" appears twice in the label list (classes 0 and 2)"),
        "{msg}"
    );
    let msg = message(wordnet_tree(&["n02085620"]));
    assert_eq!(msg, "a label hierarchy needs at least 2 labels, got 1");
}

#[test]
fn a_forest_is_not_a_tree() {
    let tax =
        Taxonomy::from_isa_str("animal\tdog\nanimal\tcat\nvehicle\tcar\n", Path::new("x")).unwrap();
    let err = LabelTree::from_taxonomy(&tax, &strings(&["dog", "cat", "car"]), TreeFromDag::First);
    let msg = message(err);
    assert!(
        msg.starts_with("the labels' hierarchy has 2 roots (animal, vehicle)"),
        "{msg}"
    );
    assert!(msg.contains("add a common parent"), "{msg}");
}

#[test]
fn alpha_beta_and_smoothing_out_of_range_are_named() {
    let cases = [
        (
            "hxe:-0.1",
            "HXE α = -0.1 is out of range: α must be finite and >= 0",
        ),
        ("hxe-paper:inf", "HXE α = inf is out of range"),
        ("hxe:NaN", "HXE α = NaN is out of range"),
        (
            "soft:0",
            "soft-label β = 0 is out of range: β must be finite and > 0",
        ),
        ("soft-ce:-3", "soft-label β = -3 is out of range"),
        (
            "ce:1",
            "label smoothing ε = 1 is out of range: ε must be in [0, 1)",
        ),
    ];
    for (recipe, want) in cases {
        let msg = message(recipe.parse::<LossSpec>());
        assert!(msg.starts_with(want), "{recipe}: {msg}");
    }
    // A spec built in code is checked too, by the loss and by the array builders.
    let tree = wordnet_tree(&["n02085620", "n02110958", "n02123045"]).unwrap();
    let spec = LossSpec::Hxe {
        alpha: -1.0,
        weighting: HxeWeighting::Reference,
    };
    let msg = message(HierarchicalLoss::new(&spec, &tree, &Device::Cpu));
    assert!(msg.starts_with("HXE α = -1 is out of range"), "{msg}");
    let msg = message(tree.soft_labels(f64::NAN, DistanceConvention::LcaHeight));
    assert!(
        msg.starts_with("soft-label β = NaN is out of range"),
        "{msg}"
    );
}

#[test]
fn a_misspelt_recipe_gets_the_closest_name() {
    for (typo, want) in [
        ("hex:0.1", "hxe"),
        ("HXE:0.1", "hxe"),
        ("sotf:10", "soft"),
        ("hxe-papr:0.1", "hxe-paper"),
        ("soft_ce:10", "soft-ce"),
        ("cd", "ce"),
    ] {
        let msg = message(typo.parse::<LossSpec>());
        assert!(
            msg.contains(&format!("(did you mean {want:?}?)")),
            "{typo}: {msg}"
        );
        assert!(msg.contains("known losses: ce, ce:ε"), "{msg}");
    }
    let msg = message("crossentropy".parse::<LossSpec>());
    assert!(!msg.contains("did you mean"), "{msg}");
    let msg = message("shortets".parse::<TreeFromDag>());
    assert_eq!(
        msg,
        "unknown rule for turning a DAG into a tree \"shortets\" (did you mean \"shortest\"?); \
         use one of shortest, first, longest"
    );
}

#[test]
fn malformed_parameters_say_the_expected_form() {
    let cases = [
        ("hxe", "hxe takes exactly one parameter, α: e.g. hxe:0.1"),
        ("hxe:0.1:0.2", "hxe takes exactly one parameter"),
        ("hxe:abc", "α \"abc\" is not a number"),
        ("soft", "soft takes β and optionally a distance convention"),
        ("soft:10:heigth", "unknown distance convention \"heigth\""),
        ("ce:0.1:2", "ce takes at most one parameter"),
    ];
    for (recipe, want) in cases {
        let msg = message(recipe.parse::<LossSpec>());
        assert!(
            msg.starts_with(&format!("loss recipe {recipe:?}: {want}")),
            "{recipe}: {msg}"
        );
    }
}

#[test]
fn logits_and_targets_of_the_wrong_shape_or_range() {
    let tree = wordnet_tree(&["n02085620", "n02110958", "n02123045"]).unwrap();
    let device = Device::Cpu;
    for recipe in ["ce", "hxe:0.1", "soft:10"] {
        let loss = HierarchicalLoss::new(&recipe.parse().unwrap(), &tree, &device).unwrap();
        let logits = Tensor::zeros((2, 4), candle_core::DType::F32, &device).unwrap();
        let targets = Tensor::new(&[0u32, 1], &device).unwrap();
        let msg = loss.forward(&logits, &targets).unwrap_err().to_string();
        assert!(
            msg.contains(&format!(
                "logits of shape [2, 4] given to a {recipe} loss over 3 classes: expected [batch, 3]"
            )),
            "{msg}"
        );
        let logits = Tensor::zeros((2, 3), candle_core::DType::F32, &device).unwrap();
        let msg = loss
            .forward(&logits, &Tensor::new(&[0u32], &device).unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("targets of shape [1] for logits of shape [2, 3]"),
            "{msg}"
        );
        let out_of_range = Tensor::new(&[0u32, 3], &device).unwrap();
        assert!(loss.forward(&logits, &out_of_range).is_err(), "{recipe}");
    }
}
