//! Seeded row selections: the stratified train/val split and few-shot draws of the protocol.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::data::Samples;
use crate::error::{Error, Result};

/// Row indices of a train/val split.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    /// Rows kept for training.
    pub train: Vec<usize>,
    /// Rows held out for validation.
    pub val: Vec<usize>,
}

/// Holds out `int(fraction · n_c)` rows of every class `c` (the reference's rule), chosen by a
/// seeded shuffle. Like the reference, a class with fewer than `1/fraction` rows contributes no
/// validation row; an entirely empty validation set is an error.
pub fn stratified_split(data: Samples<'_>, fraction: f64, seed: u64) -> Result<Split> {
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(Error::InvalidParam {
            name: "val_fraction",
            value: fraction.to_string(),
            hint: "must be strictly between 0 and 1",
        });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut split = Split {
        train: Vec::new(),
        val: Vec::new(),
    };
    for mut rows in data.indices_by_class() {
        rows.shuffle(&mut rng);
        let n_val = (fraction * rows.len() as f64) as usize;
        split.val.extend_from_slice(&rows[..n_val]);
        split.train.extend_from_slice(&rows[n_val..]);
    }
    if split.val.is_empty() {
        return Err(Error::EmptyValidation {
            rows: data.rows(),
            fraction,
        });
    }
    split.train.sort_unstable();
    split.val.sort_unstable();
    Ok(split)
}

/// Draws `shots` rows per class among `rows` (all rows of `data` when `None`), seeded. A class with
/// fewer rows is an error unless `allow_fewer`, which then keeps all of its rows.
pub fn few_shot(
    data: Samples<'_>,
    rows: Option<&[usize]>,
    shots: usize,
    allow_fewer: bool,
    seed: u64,
) -> Result<Vec<usize>> {
    if shots == 0 {
        return Err(Error::InvalidParam {
            name: "shots",
            value: "0".into(),
            hint: "must be at least 1",
        });
    }
    let mut by_class = vec![Vec::new(); data.num_classes()];
    let labels = data.labels();
    match rows {
        Some(r) => r.iter().for_each(|&i| by_class[labels[i] as usize].push(i)),
        None => (0..data.rows()).for_each(|i| by_class[labels[i] as usize].push(i)),
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(shots * data.num_classes());
    for (class, mut idx) in by_class.into_iter().enumerate() {
        if idx.len() < shots && !allow_fewer {
            return Err(Error::TooFewSamples {
                class: class as u32,
                available: idx.len(),
                shots,
            });
        }
        idx.shuffle(&mut rng);
        idx.truncate(shots);
        out.extend(idx);
    }
    out.sort_unstable();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> (Vec<f32>, Vec<u32>) {
        let labels: Vec<u32> = (0..50)
            .map(|i| (i % 3 == 0) as u32 + (i % 7 == 0) as u32)
            .collect();
        ((0..50).map(|i| i as f32).collect(), labels)
    }

    #[test]
    fn split_takes_int_fraction_per_class_and_is_seeded() {
        let (x, y) = toy();
        let s = Samples::new(&x, &y, 1, 3).unwrap();
        let a = stratified_split(s, 0.2, 7).unwrap();
        assert_eq!(a, stratified_split(s, 0.2, 7).unwrap());
        assert_ne!(a, stratified_split(s, 0.2, 8).unwrap());
        for (c, rows) in s.indices_by_class().iter().enumerate() {
            let val = a.val.iter().filter(|&&i| y[i] as usize == c).count();
            assert_eq!(val, (0.2 * rows.len() as f64) as usize);
        }
        assert_eq!(a.train.len() + a.val.len(), 50);
    }

    #[test]
    fn few_shot_counts_and_errors() {
        let (x, y) = toy();
        let s = Samples::new(&x, &y, 1, 3).unwrap();
        let counts: Vec<usize> = s.indices_by_class().iter().map(Vec::len).collect();
        let small = *counts.iter().min().unwrap();
        let draw = few_shot(s, None, small, false, 1).unwrap();
        assert_eq!(draw.len(), 3 * small);
        assert!(matches!(
            few_shot(s, None, small + 1, false, 1),
            Err(Error::TooFewSamples { .. })
        ));
        assert!(few_shot(s, None, small + 1, true, 1).unwrap().len() > 3 * small);
    }
}
