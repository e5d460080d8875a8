//! The paired t-test against SciPy (`tests/fixtures/make_fixtures.py` wrote `ttest.json`).

use hiercog_experiment::stats::{paired_t_test, student_t_two_sided};

#[test]
fn paired_t_tests_match_scipy() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/ttest.json"
    ))
    .unwrap();
    let fixture: serde_json::Value = serde_json::from_str(&text).unwrap();
    let floats = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let cases = fixture["ttest_rel"].as_array().unwrap();
    assert_eq!(cases.len(), 27);
    for case in cases {
        let r = paired_t_test(&floats(&case["a"]), &floats(&case["b"])).unwrap();
        let (t, p) = (case["t"].as_f64().unwrap(), case["p"].as_f64().unwrap());
        assert!(
            (r.t - t).abs() <= 1e-9 * t.abs().max(1.0),
            "t {} vs {t}",
            r.t
        );
        assert!((r.p - p).abs() <= 1e-9, "p {} vs {p} (t = {t})", r.p);
    }
    for tail in fixture["tails"].as_array().unwrap() {
        let (t, dof, p) = (
            tail["t"].as_f64().unwrap(),
            tail["dof"].as_f64().unwrap(),
            tail["p"].as_f64().unwrap(),
        );
        let ours = student_t_two_sided(t, dof);
        assert!(
            (ours - p).abs() <= 1e-10 + 1e-9 * p,
            "t = {t}, dof = {dof}: {ours} vs {p}"
        );
    }
}
