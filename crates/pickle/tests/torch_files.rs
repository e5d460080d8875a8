//! End to end against files written by the real `torch.save` / `pickle.dump`
//! (tests/fixtures/make_fixtures.py), with expected values from `torch.load` / `pickle.load`.

use std::path::{Path, PathBuf};

use hiercog_pickle::{
    load_pickle, load_pickle_bytes, load_torch, save_torch, DType, Error, Tensor, Value,
};
use serde_json::Value as Json;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn expected(name: &str) -> Json {
    let text = std::fs::read_to_string(fixture(&format!("{name}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn dtype_name(d: DType) -> &'static str {
    match d {
        DType::F32 => "float32",
        DType::F64 => "float64",
        DType::F16 => "float16",
        DType::BF16 => "bfloat16",
        DType::I64 => "int64",
        DType::I32 => "int32",
        DType::I16 => "int16",
        DType::I8 => "int8",
        DType::U8 => "uint8",
        DType::Bool => "bool",
    }
}

/// Compares a decoded value with the tagged JSON that make_fixtures.py wrote.
fn check(v: &Value, e: &Json, at: &str) {
    let tag = e[0].as_str().unwrap();
    let seq = |v: &[Value], e: &Json| {
        let e = e.as_array().unwrap();
        assert_eq!(v.len(), e.len(), "{at}: length");
        for (i, (x, y)) in v.iter().zip(e).enumerate() {
            check(x, y, &format!("{at}[{i}]"));
        }
    };
    match (tag, v) {
        ("none", Value::None) => {}
        ("bool", Value::Bool(b)) => assert_eq!(Some(*b), e[1].as_bool(), "{at}"),
        ("int", Value::Int(i)) => assert_eq!(Some(*i), e[1].as_i64(), "{at}"),
        ("float", Value::Float(f)) => assert_eq!(Some(*f), e[1].as_f64(), "{at}"),
        ("str", Value::Str(s)) => assert_eq!(Some(s.as_str()), e[1].as_str(), "{at}"),
        ("bytes", Value::Bytes(b)) => {
            let want: Vec<u8> = e[1]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as u8)
                .collect();
            assert_eq!(b, &want, "{at}");
        }
        ("list", Value::List(items)) | ("tuple", Value::Tuple(items)) => seq(items, &e[1]),
        ("dict", Value::Dict(items)) => {
            let e = e[1].as_array().unwrap();
            assert_eq!(items.len(), e.len(), "{at}: dict size");
            for (i, ((k, x), kv)) in items.iter().zip(e).enumerate() {
                check(k, &kv[0], &format!("{at}.key{i}"));
                check(x, &kv[1], &format!("{at}[{k:?}]"));
            }
        }
        ("tensor", Value::Tensor(t)) => {
            assert_eq!(dtype_name(t.dtype), e[1].as_str().unwrap(), "{at}: dtype");
            let shape: Vec<usize> = e[2]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as usize)
                .collect();
            assert_eq!(t.shape, shape, "{at}: shape");
            assert_eq!(
                t.data.len(),
                t.numel() * t.dtype.size(),
                "{at}: byte length"
            );
            let want = e[3].as_array().unwrap();
            match t.dtype {
                DType::F32 | DType::F16 | DType::BF16 => {
                    let got = t.to_f32_vec().unwrap();
                    let want: Vec<f32> = want.iter().map(|x| x.as_f64().unwrap() as f32).collect();
                    assert_eq!(got, want, "{at}: values");
                }
                DType::F64 => {
                    let got: Vec<f64> = t
                        .data
                        .chunks(8)
                        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
                        .collect();
                    let want: Vec<f64> = want.iter().map(|x| x.as_f64().unwrap()).collect();
                    assert_eq!(got, want, "{at}: values");
                }
                _ => {
                    let want: Vec<i64> = want.iter().map(|x| x.as_i64().unwrap()).collect();
                    assert_eq!(t.to_i64_vec().unwrap(), want, "{at}: values");
                }
            }
        }
        _ => panic!("{at}: expected {tag}, got {v:?}"),
    }
}

fn check_file(name: &str) -> Value {
    let v = load_torch(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    check(&v, &expected(name), name);
    v
}

#[test]
fn zip_and_legacy_state_dicts_match_torch() {
    let zip = check_file("sd_zip.pth");
    let legacy = check_file("sd_legacy.pth");
    assert_eq!(zip, legacy);
    let sd = zip.named_tensors();
    let names: Vec<&str> = sd.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names[..3], ["0.weight", "0.bias", "1.weight"]);
    assert_eq!(sd[0].1.shape, [4, 3, 3, 3]);
    assert!(names.contains(&"1.num_batches_tracked"));
}

#[test]
fn views_offsets_and_strides_are_applied() {
    let zip = check_file("views_zip.pth");
    let legacy = check_file("views_legacy.pth");
    assert_eq!(zip, legacy);
    // transposed view: element (i, j) of base.t() is base[j][i] = 6j + i
    let t = zip.get("transposed").unwrap().as_tensor().unwrap();
    assert_eq!(t.shape, [6, 4]);
    assert_eq!(t.to_f32_vec().unwrap()[..4], [0.0, 6.0, 12.0, 18.0]);
}

#[test]
fn all_dtypes_parameters_scalars_and_empty_tensors() {
    let zip = check_file("dtypes_zip.pth");
    let legacy = check_file("dtypes_legacy.pth");
    assert_eq!(zip, legacy);
    let scalar = zip.get("scalar").unwrap().as_tensor().unwrap();
    assert!(scalar.shape.is_empty());
    assert_eq!(scalar.numel(), 1);
}

#[test]
fn ordered_dict_nested_and_feature_files() {
    let od = check_file("ordered.pth");
    let keys: Vec<&str> = od
        .as_dict()
        .unwrap()
        .iter()
        .map(|(k, _)| k.as_str().unwrap())
        .collect();
    assert_eq!(keys, ["z", "a", "m"], "OrderedDict keeps insertion order");
    let nested = check_file("nested.pth");
    let sd = nested.named_tensors();
    let names: Vec<&str> = sd.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["state_dict.module.x", "state_dict.module.y"]);
    let xy = check_file("xy.pth");
    assert_eq!(
        xy.get("X")
            .unwrap()
            .as_tensor()
            .unwrap()
            .to_f32_vec()
            .unwrap()
            .len(),
        20
    );
    assert_eq!(
        xy.get("Y")
            .unwrap()
            .as_tensor()
            .unwrap()
            .to_i64_vec()
            .unwrap(),
        [0, 1, 2, 1, 0]
    );
    assert_eq!(xy.get("name").unwrap().as_str(), Some("toy_features"));
}

#[test]
fn plain_pickles_of_every_protocol() {
    let want = expected("plain.pkl");
    for p in [0, 2, 4, 5] {
        let name = format!("plain_p{p}.pkl");
        let v = load_pickle(&fixture(&name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        check(&v, &want, &name);
        assert_eq!(v.get("shared_1"), v.get("shared_2"));
    }
    let levels = load_pickle(&fixture("levels.pkl")).unwrap();
    check(&levels, &expected("levels.pkl"), "levels.pkl");
}

#[test]
fn numpy_arrays_and_scalars_of_every_protocol() {
    let want = expected("numpy.pkl");
    for p in [2, 4, 5] {
        let name = format!("numpy_p{p}.pkl");
        let v = load_pickle(&fixture(&name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        check(&v, &want, &name);
        assert_eq!(v.get("shared_1"), v.get("shared_2"));
    }
}

#[test]
fn code_is_refused_naming_the_global() {
    for (name, global) in [
        ("evil_os_system.pkl", "posix.system"),
        ("evil_eval.pkl", "builtins.eval"),
        ("evil_eval_p0.pkl", "__builtin__.eval"),
    ] {
        let e = load_pickle(&fixture(name)).unwrap_err();
        assert!(
            matches!(&e, Error::Forbidden { global: g, .. } if g == global),
            "{name}: {e}"
        );
        let msg = e.to_string();
        assert!(
            msg.contains(name) && msg.contains("refuses to execute"),
            "{msg}"
        );
    }
    let e = load_torch(&fixture("whole_module.pth")).unwrap_err();
    assert!(
        e.to_string().contains("torch.nn.modules.linear.Linear"),
        "{e}"
    );
}

#[test]
fn a_plain_pickle_is_not_a_torch_file_and_vice_versa() {
    let e = load_torch(&fixture("plain_p2.pkl"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("use load_pickle"), "{e}");
    let e = load_pickle(&fixture("sd_zip.pth")).unwrap_err().to_string();
    assert!(e.contains("use load_torch"), "{e}");
    let bytes = std::fs::read(fixture("plain_p4.pkl")).unwrap();
    assert_eq!(
        load_pickle_bytes(&bytes).unwrap(),
        load_pickle(&fixture("plain_p4.pkl")).unwrap()
    );
}

fn rust_xy() -> Value {
    let x: Vec<f32> = (0..12).map(|i| i as f32 / 4.0 - 1.0).collect();
    Value::Dict(vec![
        (
            Value::Str("X".into()),
            Value::Tensor(Tensor::from_f32(vec![3, 4], &x)),
        ),
        (
            Value::Str("Y".into()),
            Value::Tensor(Tensor::from_i64(vec![3], &[2, 0, 1])),
        ),
        (Value::Str("name".into()), Value::Str("rust_written".into())),
    ])
}

/// save_torch is deterministic; its output must equal the committed file that make_fixtures.py
/// loaded with torch.load (weights_only, full and mmap) and recorded as matching.
#[test]
fn save_torch_writes_what_torch_load_reads() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("X_Y.pth");
    save_torch(&out, &rust_xy()).unwrap();
    assert_eq!(load_torch(&out).unwrap(), rust_xy());
    let written = std::fs::read(&out).unwrap();
    let committed = fixture("rust_saved_xy.pth");
    if std::env::var_os("HIERCOG_BLESS").is_some() {
        std::fs::write(&committed, &written).unwrap();
        eprintln!(
            "wrote {}; now run make_fixtures.py to check it with torch",
            committed.display()
        );
        return;
    }
    assert_eq!(
        written,
        std::fs::read(&committed).unwrap(),
        "save_torch output changed: re-bless and re-check"
    );
    let check: Json = serde_json::from_str(
        &std::fs::read_to_string(fixture("rust_saved_xy.pth.check.json")).unwrap(),
    )
    .unwrap();
    for mode in ["weights_only", "full", "mmap"] {
        assert_eq!(
            check[mode], "ok",
            "torch.load ({mode}) of the Rust-written file: {}",
            check[mode]
        );
    }
}

/// The real legacy EfficientNet-Lite0 checkpoint (installed into `$HIERCOG_CACHE`, default
/// `~/.cache/hiercog`, by scripts/fetch-default-model.sh): every tensor's dtype, shape, first
/// values and sums against torch.load (tests/fixtures/efficientnet_lite0.json).
#[test]
fn real_efficientnet_lite0_legacy_checkpoint() {
    let cache = std::env::var_os("HIERCOG_CACHE")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/hiercog")))
        .expect("neither HIERCOG_CACHE nor HOME is set");
    let path = cache.join("efficientnet-lite0-57934424.pth");
    assert!(
        path.is_file(),
        "{} is missing: run scripts/fetch-default-model.sh (CI's scripts/test.sh runs it first)",
        path.display()
    );
    let checkpoint = load_torch(&path).unwrap();
    let sd = checkpoint.named_tensors();
    let reference = expected("efficientnet_lite0");
    let reference = reference.as_object().unwrap();
    assert_eq!(sd.len(), reference.len(), "tensor count");
    for (name, t) in &sd {
        let r = reference
            .get(name)
            .unwrap_or_else(|| panic!("unexpected tensor {name}"));
        assert_eq!(dtype_name(t.dtype), r["dtype"].as_str().unwrap(), "{name}");
        let shape: Vec<usize> = r["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(t.shape, shape, "{name}");
        let v: Vec<f64> = match t.dtype {
            DType::F32 => t.to_f32_vec().unwrap().into_iter().map(f64::from).collect(),
            _ => t
                .to_i64_vec()
                .unwrap()
                .into_iter()
                .map(|x| x as f64)
                .collect(),
        };
        let first: Vec<f64> = r["first"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        assert_eq!(v[..first.len()], first[..], "{name}: first values");
        let abs_sum = r["abs_sum"].as_f64().unwrap();
        let tol = 1e-9 * abs_sum.max(1.0);
        assert!(
            (v.iter().sum::<f64>() - r["sum"].as_f64().unwrap()).abs() <= tol,
            "{name}: sum"
        );
        assert!(
            (v.iter().map(|x| x.abs()).sum::<f64>() - abs_sum).abs() <= tol,
            "{name}: abs sum"
        );
    }
    let stem = &sd.iter().find(|(k, _)| k == "_conv_stem.weight").unwrap().1;
    assert_eq!(stem.shape, [32, 3, 3, 3]);
    eprintln!(
        "{} tensors of {} match torch.load",
        sd.len(),
        path.display()
    );
}
