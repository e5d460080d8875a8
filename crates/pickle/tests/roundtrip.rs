//! save_torch then load_torch gives back the same value, for arbitrary nested values and tensors.

use hiercog_pickle::{load_torch, save_torch, Tensor, Value};
use proptest::prelude::*;

fn tensor() -> impl Strategy<Value = Value> {
    (
        proptest::collection::vec(0usize..4, 0..3),
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(|(shape, float, seed)| {
            let n: usize = shape.iter().product();
            let vals = (0..n as u64).map(|i| (seed.wrapping_mul(i + 1) >> 40) as i64 - (1 << 23));
            Value::Tensor(if float {
                Tensor::from_f32(shape, &vals.map(|v| v as f32 / 7.0).collect::<Vec<_>>())
            } else {
                Tensor::from_i64(shape, &vals.collect::<Vec<_>>())
            })
        })
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::None),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        any::<f64>()
            .prop_filter("NaN is not equal to itself", |f| !f.is_nan())
            .prop_map(Value::Float),
        ".{0,12}".prop_map(Value::Str),
        proptest::collection::vec(any::<u8>(), 0..12).prop_map(Value::Bytes),
        tensor(),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::List),
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Tuple),
            // distinct string keys: Python (and our reader) merge equal keys
            proptest::collection::btree_map("[a-z]{1,6}", inner, 0..6).prop_map(|m| {
                Value::Dict(m.into_iter().map(|(k, v)| (Value::Str(k), v)).collect())
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn save_then_load_is_identity(v in value()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.pth");
        save_torch(&path, &v).unwrap();
        prop_assert_eq!(load_torch(&path).unwrap(), v);
    }
}
