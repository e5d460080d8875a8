//! H-AP, AP and recall@k against the H-AP authors' own code (values made by
//! `tests/fixtures/make_hap_fixtures.py` from a SupRank checkout): per query on the reference's
//! rankings, and end to end (exact search → evaluation, levels from an is-a taxonomy).

use hiercog_retrieval::{
    average_precision, hierarchical_average_precision, pop_relevances, ClassHierarchy, Evaluation,
    ExactIndex, Exclusion, Metric, Queries, Rows,
};
use hiercog_taxonomy::Taxonomy;
use serde_json::Value;

fn cases() -> Vec<Value> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/hap_cases.json"
    ))
    .unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v["cases"].as_array().unwrap().clone()
}

fn u32s(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn f32s(v: &Value) -> Vec<f32> {
    f64s(v).into_iter().map(|x| x as f32).collect()
}

/// The authors compute in float32.
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 2e-6 * b.abs().max(1.0)
}

/// The class hierarchy of a case, from its is-a edges through the taxonomy.
fn hierarchy(case: &Value) -> ClassHierarchy {
    let isa = case["isa"].as_str().unwrap();
    let tax = Taxonomy::from_isa_str(isa, std::path::Path::new("hap_cases.json")).unwrap();
    let ids: Vec<_> = case["class_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| tax.id(n.as_str().unwrap()).unwrap())
        .collect();
    ClassHierarchy::from_taxonomy(&tax, &ids).unwrap()
}

#[test]
fn levels_from_the_taxonomy_equal_the_authors_label_matrix() {
    for case in cases() {
        let h = hierarchy(&case);
        let levels = case["levels"].as_u64().unwrap() as u32;
        assert_eq!(h.levels(), levels);
        for (a, row) in case["shared"].as_array().unwrap().iter().enumerate() {
            for (b, s) in u32s(row).into_iter().enumerate() {
                assert_eq!(h.shared(a as u32, b as u32), s, "classes {a}, {b}");
            }
        }
    }
}

#[test]
fn per_query_values_equal_the_authors_code() {
    let mut checked = 0;
    for case in cases() {
        let h = hierarchy(&case);
        let levels = h.levels() as usize;
        let alpha = case["alpha"].as_f64().unwrap();
        let g = u32s(&case["gallery_labels"]);
        let q = u32s(&case["query_labels"]);
        for (i, ranking) in case["rankings"].as_array().unwrap().iter().enumerate() {
            let ranking = u32s(ranking);
            let shared: Vec<u32> = ranking
                .iter()
                .map(|&j| h.shared(q[i], g[j as usize]))
                .collect();
            let mut counts = vec![0usize; levels + 1];
            for &s in &shared {
                counts[s as usize] += 1;
            }
            let rel = pop_relevances(&counts, alpha);
            let want_rel = f64s(&case["relevances"][i]);
            for (a, b) in rel.iter().zip(&want_rel) {
                assert!(close(*a, *b), "query {i}: relevance {a} vs {b}");
            }
            let hap = hierarchical_average_precision(&shared, &rel).unwrap();
            let want = case["hap"][i].as_f64().unwrap();
            assert!(close(hap, want), "query {i}: H-AP {hap} vs {want}");
            let ap = average_precision(ranking.iter().map(|&j| g[j as usize] == q[i])).unwrap();
            let want = case["ap"][i].as_f64().unwrap();
            assert!(close(ap, want), "query {i}: AP {ap} vs {want}");
            checked += 1;
        }
    }
    assert!(checked > 90, "{checked} queries");
}

#[test]
fn end_to_end_means_equal_the_authors_code() {
    for case in cases() {
        let h = hierarchy(&case);
        let dim = case["dim"].as_u64().unwrap() as usize;
        let gx = f32s(&case["gallery_x"]);
        let qx = f32s(&case["query_x"]);
        let g = u32s(&case["gallery_labels"]);
        let q = u32s(&case["query_labels"]);
        let self_match = case["self_match"].as_bool().unwrap();
        let index = ExactIndex::new(Rows::new(&gx, dim).unwrap(), Metric::InnerProduct).unwrap();
        let eval = Evaluation {
            recall_at: vec![1, 5],
            hierarchy: Some(&h),
            relevance_exponent: case["alpha"].as_f64().unwrap(),
        };
        let queries = Queries {
            x: Rows::new(&qx, dim).unwrap(),
            labels: &q,
            exclusion: if self_match {
                Exclusion::SelfMatch
            } else {
                Exclusion::None
            },
        };
        let got = eval.run(&index, &g, queries, &|_, _| {}).unwrap();
        let mean = |v: &Value| {
            let v = f64s(v);
            v.iter().sum::<f64>() / v.len() as f64
        };
        assert!(close(got.map, mean(&case["ap"])), "mAP {}", got.map);
        assert!(
            close(got.hap.unwrap(), mean(&case["hap"])),
            "H-AP {:?}",
            got.hap
        );
        for (k, r) in got.recall_at {
            let want = mean(&case["recall_at"][k.to_string()]);
            assert!(close(r, want), "R@{k} {r} vs {want}");
        }
    }
}
