//! `hiercog plan --estimate`: the cost of the full ImageNet-CoG run of one backbone, counted as the
//! run does it, and clear errors for a missing config or an unknown backbone.

use std::process::Command;

const HIERCOG: &str = env!("CARGO_BIN_EXE_hiercog");

fn hiercog(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    Command::new(HIERCOG)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// The `imagenet-cog` profile's config with another backbone, written into `dir`.
fn cog_config(dir: &std::path::Path, model: &str) {
    let out = hiercog(
        &[
            "run",
            "--profile",
            "imagenet-cog",
            "--model",
            model,
            "--print-config",
        ],
        dir,
    );
    assert!(out.status.success(), "{out:?}");
    std::fs::write(dir.join("cog.toml"), out.stdout).unwrap();
}

#[test]
fn the_full_imagenet_cog_run_is_priced_per_dataset_and_stage() {
    let dir = tempfile::tempdir().unwrap();
    cog_config(dir.path(), "resnet50");
    let out = hiercog(&["plan", "--estimate", "cog.toml", "--json"], dir.path());
    assert!(out.status.success(), "{out:?}");
    let e: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let datasets = e["datasets"].as_array().unwrap();
    // The seen set (ImageNet-1K) and 5 levels of 1,000 concepts; all data + 8 shot counts, 5 seeds.
    assert_eq!(datasets.len(), 6);
    for d in datasets {
        assert_eq!(d["classes"], 1000);
        assert_eq!(d["train_images"], 1_300_000);
        assert_eq!(d["probe_runs"], 45);
        assert!(d["probe_core_hours"].as_f64().unwrap() > 0.0);
    }
    let stages: Vec<&str> = e["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["prepare", "extract", "probe", "report"]);
    assert_eq!(e["stages"][2]["tasks"], 270);
    assert_eq!(e["feature_dim"], 2048);
    // Nothing was written: an estimate is not a plan.
    assert!(!dir.path().join("plan").exists());

    // The tables, with the GPU-hours of a given throughput.
    let out = hiercog(
        &["plan", "--estimate", "cog.toml", "--gpu-img-per-s", "2000"],
        dir.path(),
    );
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    for word in ["seen", "L5", "probe core-h", "GPU-h", "held-out"] {
        assert!(text.contains(word), "{word} not in\n{text}");
    }
}

#[test]
fn a_missing_config_or_an_unknown_backbone_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = hiercog(&["plan", "--estimate", "nothing.toml"], dir.path());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        !out.status.success() && err.contains("cannot read nothing.toml"),
        "{err}"
    );

    cog_config(dir.path(), "efficientnet-lite0");
    let text = std::fs::read_to_string(dir.path().join("cog.toml"))
        .unwrap()
        .replace("name = \"efficientnet-lite0\"", "name = \"resnet5\"");
    std::fs::write(dir.path().join("cog.toml"), text).unwrap();
    let out = hiercog(&["plan", "--estimate", "cog.toml"], dir.path());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        !out.status.success()
            && err.contains("unknown model \"resnet5\" (did you mean \"resnet50\"?)"),
        "{err}"
    );
}
