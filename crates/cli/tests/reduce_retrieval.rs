//! End-to-end tests of `hiercog reduce fit/transform` and `hiercog retrieval` on a small
//! hierarchical Gaussian mixture whose classes are WordNet concepts (so H-AP uses the embedded
//! WordNet): dogs and cats close together, vehicles apart.

use std::path::Path;
use std::process::{Command, Output};

use hiercog_features::{FeatureSet, Format};

const HIERCOG: &str = env!("CARGO_BIN_EXE_hiercog");
const DIM: usize = 16;
/// Two dog breeds, two cats, two vehicles.
const CLASSES: [&str; 6] = [
    "n02099601",
    "n02106662",
    "n02123045",
    "n02124075",
    "n02958343",
    "n03790512",
];

fn run(args: &[&str]) -> Output {
    Command::new(HIERCOG).args(args).output().unwrap()
}

fn run_ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "hiercog {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `per_class` rows per class: a group centre (animals / vehicles), a class offset, noise.
fn write_set(path: &Path, per_class: usize, seed: u64) {
    let mut s = seed;
    let mut noise = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 33) as f32 / (1u64 << 31) as f32) - 0.5
    };
    let mut x = Vec::new();
    let mut y = Vec::new();
    for c in 0..CLASSES.len() {
        for _ in 0..per_class {
            for j in 0..DIM {
                let group = if (c < 4) == (j < DIM / 2) { 3.0 } else { 0.0 };
                let class = if j % CLASSES.len() == c { 2.0 } else { 0.0 };
                x.push(group + class + noise());
            }
            y.push(c as u32);
        }
    }
    let names = CLASSES.iter().map(|s| s.to_string()).collect();
    FeatureSet::from_vec(x, DIM, y, Some(names))
        .unwrap()
        .save(path, Format::Npz)
        .unwrap();
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn fit_transform_and_evaluate() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_string_lossy().into_owned();
    write_set(Path::new(&p("train.npz")), 40, 1);
    write_set(Path::new(&p("test.npz")), 8, 2);
    let train = p("train.npz");
    let full = json(&run_ok(&[
        "retrieval",
        "--gallery",
        &train,
        "--queries",
        &p("test.npz"),
        "--json",
    ]));
    assert_eq!(full["queries"], 48);
    assert!(full["mAP"].as_f64().unwrap() > 0.5, "{full}");
    let hap = full["H-AP"].as_f64().expect("H-AP from WordNet");
    assert!(hap > 0.0 && hap <= 1.0);
    for (method, extra) in [
        ("pca", vec![]),
        ("pca-whiten", vec!["--shrinkage", "0.1"]),
        (
            "tldr",
            vec![
                "--epochs",
                "3",
                "--warmup-epochs",
                "1",
                "--batch-size",
                "64",
                "--projector",
                "mlp-1-32",
            ],
        ),
    ] {
        let model = p(method);
        let mut args = vec![
            "reduce", "fit", "--method", method, "--dim", "4", "--in", &train, "--out", &model,
        ];
        args.extend(extra);
        run_ok(&args);
        assert!(Path::new(&model).join("model.json").is_file());
        let reduced = p(&format!("{method}.safetensors"));
        run_ok(&[
            "reduce",
            "transform",
            "--model",
            &model,
            "--in",
            &p("test.npz"),
            "--out",
            &reduced,
        ]);
        let set = FeatureSet::load(Path::new(&reduced)).unwrap();
        assert_eq!((set.rows(), set.dim()), (48, 4));
        assert_eq!(set.class_names.as_deref().unwrap()[0], CLASSES[0]);
        let m = json(&run_ok(&[
            "retrieval",
            "--gallery",
            &train,
            "--queries",
            &p("test.npz"),
            "--model",
            &model,
            "--json",
        ]));
        assert!(m["mAP"].as_f64().unwrap() > 0.3, "{method}: {m}");
    }
    // Leave-one-out on the gallery alone.
    let loo = json(&run_ok(&["retrieval", "--gallery", &train, "--json"]));
    assert_eq!(loo["queries"], 240);
}

#[test]
fn bad_input_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_string_lossy().into_owned();
    write_set(Path::new(&p("train.npz")), 10, 1);
    let out = run(&[
        "reduce",
        "fit",
        "--method",
        "pca",
        "--dim",
        "16",
        "--in",
        &p("train.npz"),
        "--out",
        &p("m"),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("n_components"));
    // A 4-d model applied to 16-d features.
    run_ok(&[
        "reduce",
        "fit",
        "--method",
        "pca",
        "--dim",
        "4",
        "--in",
        &p("train.npz"),
        "--out",
        &p("m"),
    ]);
    run_ok(&[
        "reduce",
        "transform",
        "--model",
        &p("m"),
        "--in",
        &p("train.npz"),
        "--out",
        &p("z.npz"),
    ]);
    let out = run(&[
        "reduce",
        "transform",
        "--model",
        &p("m"),
        "--in",
        &p("z.npz"),
        "--out",
        &p("zz.npz"),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("16-dimensional") && err.contains("4-dimensional"),
        "{err}"
    );
}
