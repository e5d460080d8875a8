//! Checks and row operations shared by the estimators.

use hiercog_retrieval::Rows;
use rayon::prelude::*;

use crate::error::{Error, Result};

/// Fails unless `x` has at least two finite rows wider than `n_components` ≥ 1.
pub(crate) fn check_fit_input(x: Rows<'_>, n_components: usize) -> Result<()> {
    let dim = x.dim();
    if n_components == 0 || n_components >= dim {
        return Err(Error::param(
            "n_components",
            n_components,
            format!(
                "between 1 and the input dimension minus one ({}): a reduction must reduce",
                dim - 1
            ),
        ));
    }
    if x.len() < 2 {
        return Err(Error::Data(format!(
            "{} training rows: fitting needs at least 2",
            x.len()
        )));
    }
    check_finite(x)
}

/// Fails unless `x` is `dim` wide and finite.
pub(crate) fn check_transform_input(x: Rows<'_>, dim: usize) -> Result<()> {
    if x.dim() != dim {
        return Err(Error::DimensionMismatch {
            model: dim,
            data: x.dim(),
        });
    }
    check_finite(x)
}

fn check_finite(x: Rows<'_>) -> Result<()> {
    match x.first_non_finite() {
        Some((row, v)) => Err(Error::Data(format!(
            "row {row} holds a non-finite value ({v}); re-extract or drop that row"
        ))),
        None => Ok(()),
    }
}

/// Divides each `dim`-wide row by its L2 norm (a zero row stays zero).
pub(crate) fn l2_normalize_rows(x: &mut [f32], dim: usize) {
    x.par_chunks_mut(dim).for_each(|r| {
        let n = r.iter().map(|v| v * v).sum::<f32>().sqrt();
        if n > 0.0 {
            r.iter_mut().for_each(|v| *v /= n);
        }
    });
}
