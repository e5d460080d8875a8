//! Parity with the references (values made by `tests/fixtures/make_fixtures.py`): the TLDR
//! reference's own module, loss, LARS and schedule (PyTorch), and scikit-learn's PCA.

use std::collections::BTreeMap;

use hiercog_reduce::{learning_rate, Array, PcaParams, TldrParams, Trainer};
use hiercog_retrieval::Rows;
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn f32s(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn state(v: &Value) -> BTreeMap<String, Array> {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, t)| {
            let shape: Vec<usize> = t["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_u64().unwrap() as usize)
                .collect();
            let data = f32s(&t["data"]);
            (k.clone(), Array { shape, data })
        })
        .collect()
}

/// Largest |a − b| / (1e-3 + max |b|) over a tensor: relative to the tensor's scale.
fn rel_err(a: &Array, b: &Array) -> f32 {
    assert_eq!(a.shape, b.shape);
    let (a, b) = (&a.data, &b.data);
    let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs())) + 1e-3;
    a.iter()
        .zip(b)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

fn compare(what: &str, got: &BTreeMap<String, Array>, want: &BTreeMap<String, Array>, tol: f32) {
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{what}: names"
    );
    for (k, w) in want {
        let e = rel_err(&got[k], w);
        assert!(e < tol, "{what} {k}: relative error {e}");
    }
}

fn trainer(case: &Value) -> Trainer {
    let mut params = TldrParams::new(case["n_components"].as_u64().unwrap() as usize);
    params.encoder = case["encoder"].as_str().unwrap().parse().unwrap();
    params.projector = case["projector"].as_str().map(|p| p.parse().unwrap());
    let dim = case["input_dim"].as_u64().unwrap() as usize;
    let mut t = Trainer::new(&params, dim).unwrap();
    t.load_state(&state(&case["initial"])).unwrap();
    t
}

#[test]
fn loss_gradients_and_lars_steps_equal_the_reference() {
    let fx = fixture("tldr_steps.json");
    for case in fx["cases"].as_array().unwrap() {
        let dim = case["input_dim"].as_u64().unwrap() as usize;
        let xs: Vec<Vec<f32>> = case["x"].as_array().unwrap().iter().map(f32s).collect();
        let rows = |i: usize| Rows::new(&xs[i], dim).unwrap();
        let lr = case["lr"].as_f64().unwrap();
        let what = format!("{} / {}", case["encoder"], case["projector"]);
        // Loss and gradients of the first batch.
        let (loss, grads) = trainer(case).gradients(rows(0), rows(1));
        let step0 = &case["steps"][0];
        let want = step0["loss"].as_f64().unwrap() as f32;
        assert!(
            (loss - want).abs() <= 1e-5 * want.abs(),
            "{what}: loss {loss} vs {want}"
        );
        compare(&what, &grads, &state(&step0["grads"]), 1e-4);
        // Two LARS steps (the second uses the momentum of the first).
        let mut t = trainer(case);
        for (s, step) in case["steps"].as_array().unwrap().iter().enumerate() {
            let loss = t.step(rows(2 * s), rows(2 * s + 1), lr);
            let want = step["loss"].as_f64().unwrap() as f32;
            assert!(
                (loss - want).abs() <= 1e-5 * want.abs(),
                "{what} step {s}: loss"
            );
            compare(
                &format!("{what} after step {s}"),
                &t.state(),
                &state(&step["after"]),
                1e-5,
            );
        }
    }
}

#[test]
fn learning_rate_schedule_equals_the_reference() {
    let fx = fixture("tldr_steps.json");
    for s in fx["schedule"].as_array().unwrap() {
        let u = |k: &str| s[k].as_u64().unwrap() as usize;
        let got = learning_rate(
            u("step"),
            u("epochs"),
            u("rows"),
            u("batch"),
            s["lr"].as_f64().unwrap(),
            u("warmup"),
        );
        let want = s["value"].as_f64().unwrap();
        assert!((got - want).abs() <= 1e-12 * want.abs(), "{s}: {got}");
    }
}

#[test]
fn pca_equals_scikit_learn() {
    let fx = fixture("pca.json");
    let dim = fx["dim"].as_u64().unwrap() as usize;
    let d = fx["n_components"].as_u64().unwrap() as usize;
    let train = f32s(&fx["train"]);
    let test = f32s(&fx["test"]);
    for (key, params) in [
        ("plain", PcaParams::new(d)),
        ("whiten", PcaParams::whitened(d, 0.0)),
    ] {
        let want = &fx[key];
        let pca = params.fit(Rows::new(&train, dim).unwrap()).unwrap();
        let close = |got: &[f32], want: &[f32], tol: f32, what: &str| {
            let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            for (i, (a, b)) in got.iter().zip(want).enumerate() {
                assert!(
                    (a - b).abs() <= tol * scale,
                    "{key} {what}[{i}]: {a} vs {b}"
                );
            }
        };
        close(pca.mean(), &f32s(&want["mean"]), 1e-6, "mean");
        close(
            pca.components(),
            &f32s(&want["components"]),
            1e-5,
            "components",
        );
        let ev: Vec<f32> = pca.explained_variance().iter().map(|&v| v as f32).collect();
        close(
            &ev,
            &f32s(&want["explained_variance"]),
            1e-5,
            "explained variance",
        );
        let z = pca
            .transform(Rows::new(&test, dim).unwrap(), false)
            .unwrap();
        close(&z, &f32s(&want["transformed"]), 1e-5, "transform");
    }
}
