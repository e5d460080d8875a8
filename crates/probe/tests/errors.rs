//! The crate's error messages: what was wrong and what to do, printed once.

use hiercog_probe::{few_shot, Error, Samples};

#[test]
fn too_few_samples_says_how_to_proceed() {
    // Class 1 has two rows; a 3-shot draw needs three.
    let x = [0.0f32, 1.0, 2.0, 3.0, 4.0];
    let labels = [0u32, 0, 0, 1, 1];
    let data = Samples::new(&x, &labels, 1, 2).unwrap();
    let err = few_shot(data, None, 3, false, 22).unwrap_err();
    assert!(
        matches!(err, Error::TooFewSamples { class: 1, .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "class 1 has only 2 training samples but 3-shot needs 3; allow fewer (`allow_fewer`) to \
         use all 2, or pick fewer shots"
    );
    assert!(std::error::Error::source(&err).is_none());
    assert_eq!(few_shot(data, None, 3, true, 22).unwrap().len(), 5);
}
