//! `hiercog models list` and checkpoints as self-supervised repositories publish them, as the
//! user sees them.

use hiercog_pickle::{load_torch, save_torch, Tensor, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const HIERCOG: &str = env!("CARGO_BIN_EXE_hiercog");

fn hiercog(args: &[&str]) -> Output {
    Command::new(HIERCOG).args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).unwrap()
}

#[test]
fn models_list_says_that_only_lite0_comes_with_weights() {
    let cache = tempfile::tempdir().unwrap();
    let out = Command::new(HIERCOG)
        .args(["models", "list"])
        .env("HIERCOG_CACHE", cache.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let list = text(&out.stdout);
    let row = |name: &str| {
        list.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no row for {name}:\n{list}"))
            .to_string()
    };
    assert!(row("efficientnet-lite0").contains(" built in "), "{list}");
    for name in [
        "efficientnet-lite1",
        "efficientnet-lite2",
        "efficientnet-lite3",
        "efficientnet-lite4",
        "resnet50",
        "deit-tiny",
    ] {
        let r = row(name);
        assert!(r.contains(" --weights ") && !r.contains("built in"), "{r}");
    }
    assert!(
        list.contains("efficientnet-lite0's ImageNet-1K weights")
            && list.contains("not installed; run `hiercog models fetch-default`"),
        "{list}"
    );
}

/// The real Lite0 weights (scripts/fetch-default-model.sh installs them; scripts/test.sh runs
/// it first).
fn real_lite0() -> PathBuf {
    let path = hiercog_nn::cache::default_weights_path();
    assert!(
        path.is_file(),
        "{} is missing: run scripts/fetch-default-model.sh",
        path.display()
    );
    path
}

fn photo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../nn/tests/fixtures/images/chelsea.png")
}

/// `prefix + key` entries of a state dict, values scaled by `scale`.
fn under(prefix: &str, sd: &[(String, &Tensor)], scale: f32) -> Value {
    Value::Dict(
        sd.iter()
            .map(|(k, t)| {
                let t = match t.to_f32_vec() {
                    Ok(v) if scale != 1.0 => {
                        let v: Vec<f32> = v.iter().map(|x| x * scale).collect();
                        Tensor::from_f32(t.shape.clone(), &v)
                    }
                    _ => (*t).clone(),
                };
                (Value::Str(format!("{prefix}{k}")), Value::Tensor(t))
            })
            .collect(),
    )
}

/// A DINO-style checkpoint of the real Lite0: `teacher.backbone.` (the weights as they are) and
/// `student.module.backbone.` (other values) must be told apart by `--weights-prefix`, and the
/// teacher then classifies as the plain weights do.
#[test]
fn a_dino_checkpoint_needs_and_takes_weights_prefix() {
    let plain = real_lite0();
    let value = load_torch(&plain).unwrap();
    let sd = value.named_tensors();
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("dino.pth");
    let dino = Value::Dict(vec![
        (
            Value::Str("student".into()),
            under("module.backbone.", &sd, 0.5),
        ),
        (Value::Str("teacher".into()), under("backbone.", &sd, 1.0)),
        (Value::Str("epoch".into()), Value::Int(100)),
    ]);
    save_torch(&ckpt, &dino).unwrap();
    let photo = photo();
    let (ckpt, photo) = (ckpt.to_str().unwrap(), photo.to_str().unwrap());

    let out = hiercog(&["classify", "--weights", ckpt, photo]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("`student.module.backbone.`, `teacher.backbone.`")
            && err.contains("--weights-prefix P"),
        "{err}"
    );

    let out = hiercog(&[
        "classify",
        "--weights",
        ckpt,
        "--weights-prefix",
        "teacher",
        photo,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "weights: {} tensors under `teacher.backbone.` (prefix stripped); {} key(s) ignored: student.module.backbone.",
            sd.len(),
            sd.len()
        )),
        "{err}"
    );
    let expected = hiercog(&["classify", "--weights", plain.to_str().unwrap(), photo]);
    assert!(expected.status.success());
    assert_eq!(text(&out.stdout), text(&expected.stdout));
}
