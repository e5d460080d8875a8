//! Checkpoints as self-supervised repositories publish them: the tiny EfficientNet-Lite of the
//! fixtures (whose outputs match PyTorch, see parity.rs) wrapped in the layouts of MoCo, DINO,
//! SwAV, BYOL, SimCLR and timm, written with hiercog-pickle's `save_torch` (zip `.pth`). Each
//! must give the plain checkpoint's features bit for bit, with the prefix found when exactly one
//! part holds the model, and named otherwise. ResNet-50 in MoCo's layout is checked on its key
//! list with zero tensors (no file).

use candle_core::{DType, Device, Tensor};
use hiercog_nn::models::efficientnet::EfficientNetLiteConfig;
use hiercog_nn::{model_spec, Arch, Backbone, Checkpoint, Error, ModelSpec, Preprocess};
use hiercog_pickle::{load_torch, save_torch, Tensor as PTensor, Value};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn tiny_lite_spec() -> ModelSpec {
    let mut spec = model_spec("efficientnet-lite0").unwrap();
    spec.arch = Arch::EfficientNetLite(EfficientNetLiteConfig {
        width: 0.25,
        depth: 1.0,
        image_size: 64,
    });
    spec.preprocess = Preprocess::tf_lite(64, 64);
    spec
}

/// The tiny Lite's state dict, in order.
fn state_dict() -> Vec<(String, PTensor)> {
    let v = load_torch(&fixture("tiny_lite.pth")).unwrap();
    v.named_tensors()
        .into_iter()
        .map(|(k, t)| (k, t.clone()))
        .collect()
}

/// The state dict without its classifier (`_fc`), as self-supervised backbones come.
fn backbone() -> Vec<(String, PTensor)> {
    state_dict()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("_fc."))
        .collect()
}

/// Another network of the same shape (a momentum encoder, a student).
fn other(sd: &[(String, PTensor)]) -> Vec<(String, PTensor)> {
    sd.iter()
        .map(|(k, t)| match t.to_f32_vec() {
            Ok(v) => {
                let v: Vec<f32> = v.iter().map(|x| x * 0.5 + 0.01).collect();
                (k.clone(), PTensor::from_f32(t.shape.clone(), &v))
            }
            Err(_) => (k.clone(), t.clone()),
        })
        .collect()
}

fn zeros(shape: &[usize]) -> Value {
    Value::Tensor(PTensor::from_f32(
        shape.to_vec(),
        &vec![0.0; shape.iter().product()],
    ))
}

/// `prefix + key` entries of a dict.
fn under(prefix: &str, sd: &[(String, PTensor)]) -> Vec<(Value, Value)> {
    sd.iter()
        .map(|(k, t)| (Value::Str(format!("{prefix}{k}")), Value::Tensor(t.clone())))
        .collect()
}

fn entry(key: &str, v: Value) -> (Value, Value) {
    (Value::Str(key.into()), v)
}

/// An SGD optimizer's state, as training checkpoints carry it.
fn optimizer() -> Value {
    Value::Dict(vec![
        entry(
            "state",
            Value::Dict(vec![(
                Value::Int(0),
                Value::Dict(vec![entry("momentum_buffer", zeros(&[8, 3, 3, 3]))]),
            )]),
        ),
        entry(
            "param_groups",
            Value::List(vec![Value::Dict(vec![
                entry("lr", Value::Float(0.03)),
                entry("params", Value::List(vec![Value::Int(0)])),
            ])]),
        ),
    ])
}

/// Writes `v` with save_torch and loads it as the tiny Lite.
fn load(v: &Value, prefix: Option<&str>) -> hiercog_nn::Result<Backbone> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checkpoint.pth");
    save_torch(&path, v).unwrap();
    Backbone::load(tiny_lite_spec(), &path, prefix, &Device::Cpu)
}

/// Features of a fixed input.
fn features(m: &Backbone) -> Vec<f32> {
    let x = Tensor::arange(0f32, (2 * 3 * 64 * 64) as f32, &Device::Cpu)
        .unwrap()
        .reshape((2, 3, 64, 64))
        .unwrap()
        .affine(1.0 / 4096.0, -3.0)
        .unwrap()
        .sin()
        .unwrap();
    m.forward(&x)
        .unwrap()
        .features
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// The features of the plain checkpoint, which parity.rs checks against PyTorch.
fn plain_features() -> Vec<f32> {
    let m = Backbone::load(
        tiny_lite_spec(),
        &fixture("tiny_lite.pth"),
        None,
        &Device::Cpu,
    )
    .unwrap();
    assert!(m.key_report().as_is(), "{}", m.key_report());
    features(&m)
}

/// Loads `v` (with `prefix`), checks the features and the stripped prefix, returns what was
/// ignored.
fn check(v: &Value, prefix: Option<&str>, stripped: &str) -> Vec<String> {
    let m = load(v, prefix).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m.key_report().prefix, stripped);
    assert_eq!(features(&m), plain_features(), "features differ");
    m.key_report().ignored.clone()
}

#[test]
fn moco_query_encoder_is_found_and_its_projector_ignored() {
    // MoCo v2 with the key encoder dropped, as in the failing report of issue 20.
    let mut sd = under("module.encoder_q.", &backbone());
    sd.push(entry("module.encoder_q._fc.0.weight", zeros(&[16, 1280])));
    sd.push(entry("module.encoder_q._fc.2.weight", zeros(&[8, 16])));
    sd.push(entry("module.queue", zeros(&[8, 32])));
    let ckpt = Value::Dict(vec![
        entry("epoch", Value::Int(200)),
        entry("arch", Value::Str("efficientnet-lite0".into())),
        entry("state_dict", Value::Dict(sd)),
        entry("optimizer", optimizer()),
    ]);
    let ignored = check(&ckpt, None, "state_dict.module.encoder_q.");
    assert_eq!(
        ignored,
        [
            "optimizer.state.0.momentum_buffer",
            "state_dict.module.encoder_q._fc.0.weight",
            "state_dict.module.encoder_q._fc.2.weight",
            "state_dict.module.queue",
        ]
    );
    assert!(load(&ckpt, None)
        .unwrap()
        .forward(&Tensor::zeros((1, 3, 64, 64), DType::F32, &Device::Cpu).unwrap())
        .unwrap()
        .logits
        .is_none());
}

#[test]
fn moco_with_its_key_encoder_needs_the_prefix() {
    let mut sd = under("module.encoder_q.", &backbone());
    sd.extend(under("module.encoder_k.", &other(&backbone())));
    let ckpt = Value::Dict(vec![entry("state_dict", Value::Dict(sd))]);
    match load(&ckpt, None) {
        Err(Error::AmbiguousPrefix { prefixes, .. }) => assert_eq!(
            prefixes,
            [
                "state_dict.module.encoder_k.",
                "state_dict.module.encoder_q."
            ]
        ),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("two encoders fit"),
    }
    // The wrappers before the named part may be left out.
    for named in [
        "encoder_q",
        "module.encoder_q.",
        "state_dict.module.encoder_q.",
    ] {
        check(&ckpt, Some(named), "state_dict.module.encoder_q.");
    }
    match load(&ckpt, Some("encoder_v.")) {
        Err(e @ Error::PrefixNotFound { .. }) => {
            assert!(
                e.to_string().contains("`state_dict.module.encoder_q.`"),
                "{e}"
            )
        }
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("no such part"),
    }
}

#[test]
fn dino_teacher_is_named_among_teacher_and_student() {
    let mut teacher = under("backbone.", &backbone());
    teacher.push(entry("head.mlp.0.weight", zeros(&[16, 1280])));
    teacher.push(entry("head.last_layer.weight_g", zeros(&[8, 1])));
    let mut student = under("module.backbone.", &other(&backbone()));
    student.push(entry("module.head.mlp.0.weight", zeros(&[16, 1280])));
    let ckpt = Value::Dict(vec![
        entry("student", Value::Dict(student)),
        entry("teacher", Value::Dict(teacher)),
        entry("epoch", Value::Int(100)),
        entry(
            "dino_loss",
            Value::Dict(vec![entry("center", zeros(&[1, 8]))]),
        ),
    ]);
    assert!(matches!(
        load(&ckpt, None),
        Err(Error::AmbiguousPrefix { .. })
    ));
    let ignored = check(&ckpt, Some("teacher"), "teacher.backbone.");
    assert!(ignored.contains(&"teacher.head.mlp.0.weight".to_string()));
    assert!(ignored
        .iter()
        .any(|k| k.starts_with("student.module.backbone.")));
}

#[test]
fn swav_projection_head_and_prototypes_are_ignored() {
    let mut sd = under("module.", &backbone());
    sd.push(entry("module.projection_head.0.weight", zeros(&[16, 1280])));
    sd.push(entry("module.prototypes.weight", zeros(&[30, 16])));
    let ckpt = Value::Dict(vec![
        entry("epoch", Value::Int(800)),
        entry("state_dict", Value::Dict(sd)),
    ]);
    let ignored = check(&ckpt, None, "state_dict.module.");
    assert_eq!(
        ignored,
        [
            "state_dict.module.projection_head.0.weight",
            "state_dict.module.prototypes.weight"
        ]
    );
}

#[test]
fn byol_copies_of_one_network_count_once() {
    // lucidrains/byol-pytorch: `net` and the online encoder's `net` are the same module.
    let mut sd = under("net.", &backbone());
    sd.extend(under("online_encoder.net.", &backbone()));
    sd.push(entry(
        "online_encoder.projector.net.0.weight",
        zeros(&[16, 1280]),
    ));
    let ignored = check(&Value::Dict(sd), None, "net.");
    assert!(ignored.iter().all(|k| k.starts_with("online_encoder.")));
}

#[test]
fn simclr_encoder_is_found() {
    let mut sd = under("encoder.", &backbone());
    sd.push(entry("projector.0.weight", zeros(&[16, 1280])));
    sd.push(entry("projector.2.weight", zeros(&[8, 16])));
    check(&Value::Dict(sd), None, "encoder.");
}

#[test]
fn timm_training_checkpoint_with_ema_weights_needs_the_prefix() {
    let ckpt = Value::Dict(vec![
        entry("epoch", Value::Int(300)),
        entry("state_dict", Value::Dict(under("", &state_dict()))),
        entry(
            "state_dict_ema",
            Value::Dict(under("", &other(&state_dict()))),
        ),
    ]);
    assert!(matches!(
        load(&ckpt, None),
        Err(Error::AmbiguousPrefix { .. })
    ));
    let m = load(&ckpt, Some("state_dict")).unwrap();
    assert!(m
        .key_report()
        .ignored
        .iter()
        .all(|k| k.starts_with("state_dict_ema.")));
    assert_eq!(features(&m), plain_features());
}

#[test]
fn a_deeper_network_is_not_loaded_as_a_shallower_one() {
    let mut sd = under("", &state_dict());
    sd.push(entry(
        "_blocks.16._project_conv.weight",
        zeros(&[80, 480, 1, 1]),
    ));
    match load(&Value::Dict(sd), None) {
        Err(Error::KeyMismatch { unexpected, .. }) => {
            assert_eq!(unexpected, ["_blocks.16._project_conv.weight"])
        }
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("a block too many was ignored"),
    }
}

/// Issue 20's report: a MoCo ResNet-50 (`state_dict` + `module.encoder_q.`, MLP head, no
/// `fc`) failed with "265 missing key(s), 318 unexpected key(s)".
#[test]
fn moco_resnet50_key_list_fits_under_its_prefix() {
    let keys: Vec<(String, Vec<usize>)> =
        serde_json::from_str(&std::fs::read_to_string(fixture("resnet50_keys.json")).unwrap())
            .unwrap();
    let p = "state_dict.module.encoder_q.";
    let mut tensors: Vec<(String, Tensor)> = keys
        .iter()
        .filter(|(k, _)| !k.starts_with("fc."))
        .map(|(k, s)| {
            let t = Tensor::zeros(s.as_slice(), DType::F32, &Device::Cpu).unwrap();
            (format!("{p}{k}"), t)
        })
        .collect();
    for (k, s) in [("fc.0.weight", [2048, 2048]), ("fc.2.weight", [128, 2048])] {
        let t = Tensor::zeros(&s, DType::F32, &Device::Cpu).unwrap();
        tensors.push((format!("{p}{k}"), t));
    }
    let checkpoint = Checkpoint::from_tensors("moco_v2.pth.tar", tensors);
    let m = Backbone::from_checkpoint(
        model_spec("resnet50").unwrap(),
        &checkpoint,
        None,
        &Device::Cpu,
    )
    .unwrap();
    let r = m.key_report();
    assert_eq!(r.prefix, p);
    assert_eq!(r.used, 265);
    assert_eq!(
        r.ignored,
        [format!("{p}fc.0.weight"), format!("{p}fc.2.weight")]
    );
    assert_eq!(
        r.to_string(),
        format!("265 tensors under `{p}` (prefix stripped); 2 key(s) ignored: {p}fc.0.weight, {p}fc.2.weight")
    );
}
