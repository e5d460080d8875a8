//! `hiercog pretrain moco` end to end on a tiny image folder: MoCHi trains, the finished run is
//! not redone, bad settings are refused naming the flag, and the trained trunk is a backbone for
//! `hiercog extract` and `hiercog run` like any other. Needs no downloaded weights.

use std::path::{Path, PathBuf};

mod support;
use support::{hiercog, run_ok};

fn stderr_of_failure(args: &[&str]) -> String {
    let out = hiercog(args).output().unwrap();
    assert!(!out.status.success(), "hiercog {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Two classes (wnids) of 8 images each: reddish and bluish 20 px squares with a seeded texture.
fn image_folder(root: &Path) -> PathBuf {
    let dir = root.join("images");
    for (c, class) in ["n01440764", "n01443537"].iter().enumerate() {
        std::fs::create_dir_all(dir.join(class)).unwrap();
        for i in 0..8u32 {
            let img = image::RgbImage::from_fn(20, 20, |x, y| {
                let t = ((x * 7 + y * 13 + i * 31) % 64) as u8;
                if c == 0 {
                    image::Rgb([180 + t, 40 + t, 30])
                } else {
                    image::Rgb([30, 60 + t, 170 + t])
                }
            });
            img.save(dir.join(class).join(format!("{i}.png"))).unwrap();
        }
    }
    dir
}

/// The smallest settings that exercise everything: ResNet-18 at width 4, 16 px views, batch 4
/// in 2 Shuffle-BN groups, a queue of 8, MoCHi(4, 2, 2), 2 epochs.
fn pretrain_args<'a>(images: &'a str, out: &'a str, mochi: &'a str) -> Vec<&'a str> {
    vec![
        "pretrain", "moco", "--images", images, "--out", out, "--mochi", mochi, "--epochs", "2",
        "--size", "16", "--width", "4", "--batch", "4", "--queue", "8", "--seed", "3",
    ]
}

#[test]
fn pretrain_then_extract_and_run_with_the_trained_backbone() {
    let tmp = tempfile::tempdir().unwrap();
    let images = image_folder(tmp.path());
    let images = images.to_str().unwrap();
    let out = tmp.path().join("mochi");
    let out_s = out.to_str().unwrap();

    let first = run_ok(&pretrain_args(images, out_s, "4,2,2"));
    let printed = String::from_utf8_lossy(&first.stdout);
    assert!(
        printed.contains("trained backbone (32-d features)"),
        "{printed}"
    );
    let metrics = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    assert_eq!(
        metrics.lines().count(),
        3,
        "a header and 2 epochs: {metrics}"
    );
    assert!(metrics.lines().next().unwrap().contains("uniformity"));

    // The finished run is loaded, not redone; other settings in the same directory are refused.
    let again = run_ok(&pretrain_args(images, out_s, "4,2,2"));
    assert!(String::from_utf8_lossy(&again.stdout).contains("already trained"));
    let err = stderr_of_failure(&pretrain_args(images, out_s, "4,2,1"));
    assert!(err.contains("another --out"), "{err}");

    // `hiercog extract` takes the model directory as --model.
    let model = out.join("model");
    let model_s = model.to_str().unwrap();
    let feats = tmp.path().join("feats");
    run_ok(&[
        "extract",
        "--model",
        model_s,
        "--images",
        images,
        "--out",
        feats.to_str().unwrap(),
        "--format",
        "npy",
    ]);
    let set = hiercog_features::FeatureSet::load(&feats.join("features")).unwrap();
    assert_eq!((set.rows(), set.dim()), (16, 32));
    assert!(set.x().iter().all(|v| v.is_finite()));
    let err = stderr_of_failure(&[
        "extract",
        "--model",
        model_s,
        "--weights",
        "x.pth",
        "--images",
        images,
        "--out",
        feats.to_str().unwrap(),
    ]);
    assert!(err.contains("carries its weights"), "{err}");

    // `hiercog run` evaluates it on a tiny synthetic CoG run: 2 levels of 4 concepts.
    let cfg = tmp.path().join("run.toml");
    std::fs::write(
        &cfg,
        format!(
            "run_dir = {:?}\n[images]\nsynthetic_per_concept = 7\ntrain_per_concept = 5\n\
             test_per_concept = 2\n[levels]\nlevels = 2\nconcepts_per_level = 4\n[model]\n\
             name = {model_s:?}\nbatch = 16\n[probe]\nshots = [1]\nseeds = [22]\nknn = false\n",
            tmp.path().join("run").to_str().unwrap()
        ),
    )
    .unwrap();
    run_ok(&["run", "--config", cfg.to_str().unwrap()]);
    let report = std::fs::read_to_string(tmp.path().join("run/report/report.md")).unwrap();
    assert!(report.contains(model_s), "{report}");
    assert!(report.lines().any(|l| l.starts_with("| L2 ")), "{report}");
}

#[test]
fn bad_mochi_values_are_refused_naming_the_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let images = image_folder(tmp.path());
    let images = images.to_str().unwrap();
    let out = tmp.path().join("o");
    let out = out.to_str().unwrap();
    for (mochi, says) in [
        ("256,512", "has 2 number(s)"),
        ("a,b,c", "--mochi"),
        ("16,2,2", "--mochi N,s,s′ (N ≤ --queue)"),
    ] {
        let err = stderr_of_failure(&pretrain_args(images, out, mochi));
        assert!(err.contains(says), "--mochi {mochi}: {err}");
    }
    let err = stderr_of_failure(&[
        "pretrain",
        "moco",
        "--images",
        images,
        "--out",
        out,
        "--hierarchy",
        "--taxonomy",
        "missing.tsv",
        "--epochs",
        "1",
    ]);
    assert!(err.contains("missing.tsv"), "{err}");
}
