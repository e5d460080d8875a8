//! The optimizers and the schedule against PyTorch (`fixtures/make_fixtures.py`): the same
//! gradients replayed, parameters compared after every step at 1e-6.

use candle_core::{Device, Tensor, Var};
use hiercog_train::optim::{Optimizer, OptimizerConfig, Param};
use hiercog_train::CosineSchedule;
use serde_json::Value;

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn fixture() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/optimizers.json"
    ))
    .expect("fixture missing: run `python3 crates/train/tests/fixtures/make_fixtures.py`");
    serde_json::from_str(&text).unwrap()
}

#[test]
fn schedule_matches_torch_sequential_lr() {
    let f = fixture();
    let steps = f["steps"].as_u64().unwrap() as usize;
    let s = CosineSchedule {
        base_lr: f["base_lr"].as_f64().unwrap(),
        final_lr: f["final_lr"].as_f64().unwrap(),
        warmup_steps: f["warmup"].as_u64().unwrap() as usize,
        total_steps: steps,
    };
    for case in f["cases"].as_array().unwrap() {
        for (t, want) in case["lrs"].as_array().unwrap().iter().enumerate() {
            let want = want.as_f64().unwrap();
            assert!(
                (s.lr(t) - want).abs() < 1e-9,
                "step {t}: {} vs torch {want}",
                s.lr(t)
            );
        }
    }
}

#[test]
fn sgd_and_adamw_match_torch_optim() {
    let f = fixture();
    let dev = Device::Cpu;
    let steps = f["steps"].as_u64().unwrap() as usize;
    for case in f["cases"].as_array().unwrap() {
        let kind = case["kind"].as_str().unwrap();
        let o = &case["options"];
        let config = match kind {
            "SGD" => OptimizerConfig::Sgd {
                momentum: o["momentum"].as_f64().unwrap(),
                nesterov: o["nesterov"].as_bool().unwrap(),
            },
            "AdamW" => OptimizerConfig::AdamW {
                beta1: o["betas"][0].as_f64().unwrap(),
                beta2: o["betas"][1].as_f64().unwrap(),
                eps: o["eps"].as_f64().unwrap(),
            },
            other => panic!("unknown case {other}"),
        };
        let w = Var::from_tensor(&Tensor::from_vec(floats(&case["w0"]), (3, 4), &dev).unwrap())
            .unwrap();
        let b = Var::from_tensor(&Tensor::from_vec(floats(&case["b0"]), 4, &dev).unwrap()).unwrap();
        // The fixture's groups: w decayed, b (a bias) not.
        let params = || {
            vec![
                Param {
                    name: "w".into(),
                    var: w.clone(),
                    weight_decay: case["weight_decay"].as_f64().unwrap(),
                },
                Param {
                    name: "b".into(),
                    var: b.clone(),
                    weight_decay: 0.0,
                },
            ]
        };
        let mut opt = Optimizer::new(&config, params(), 0.0);
        for t in 0..steps {
            // loss = Σ w·Gw + Σ b·Gb has exactly the fixture's gradients.
            let gw = Tensor::from_vec(floats(&case["grads_w"][t]), (3, 4), &dev).unwrap();
            let gb = Tensor::from_vec(floats(&case["grads_b"][t]), 4, &dev).unwrap();
            let loss = ((w.as_tensor() * &gw).unwrap().sum_all().unwrap()
                + (b.as_tensor() * &gb).unwrap().sum_all().unwrap())
            .unwrap();
            let lr = case["lrs"][t].as_f64().unwrap();
            opt.step(&loss.backward().unwrap(), lr).unwrap();
            // Save and restore the state halfway: the rest must not notice.
            if t == steps / 2 {
                let state = opt.state().unwrap();
                opt = Optimizer::new(&config, params(), 0.0);
                opt.load_state(&state).unwrap();
            }
            for (got, want, name) in [(&w, &case["w"][t], "w"), (&b, &case["b"][t], "b")] {
                let got = got
                    .as_tensor()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap();
                for (i, (g, e)) in got.iter().zip(floats(want)).enumerate() {
                    assert!(
                        (g - e).abs() <= 1e-6 * (1.0 + e.abs()),
                        "{kind} {o} step {t} {name}[{i}]: {g} vs torch {e}"
                    );
                }
            }
        }
    }
}
