//! Borrowed and owned views of a labelled feature matrix (row-major `rows × dim` f32, labels `0..C`).
//!
//! Solvers take a [`Samples`] view, not a file type, so the same code serves feature files,
//! in-memory subsets (splits, few-shot draws) and the training loop of later milestones.

use crate::error::{Error, Result};

/// A borrowed labelled matrix: `x` is row-major `rows × dim`, `labels[i] < num_classes`.
///
/// Inside the crate it can also be a row view (a selection of another set's rows, e.g. the
/// protocol's search split), so that a split costs indices instead of a copy of the features;
/// the solvers read it in row blocks ([`Samples::block`]).
#[derive(Clone, Copy, Debug)]
pub struct Samples<'a> {
    x: &'a [f32],
    labels: &'a [u32],
    /// Selected rows of `x` (a row view), or `None` when `x` holds exactly these rows.
    index: Option<&'a [usize]>,
    dim: usize,
    num_classes: usize,
}

impl<'a> Samples<'a> {
    /// Checks shapes and label range once, so solvers can index without further checks.
    pub fn new(x: &'a [f32], labels: &'a [u32], dim: usize, num_classes: usize) -> Result<Self> {
        if dim == 0 || num_classes == 0 {
            return Err(Error::InvalidData(format!(
                "dim ({dim}) and num_classes ({num_classes}) must be positive"
            )));
        }
        if x.len() != labels.len() * dim {
            return Err(Error::InvalidData(format!(
                "{} labels need {} feature values at dim {dim}, got {}",
                labels.len(),
                labels.len() * dim,
                x.len()
            )));
        }
        if let Some((row, &l)) = labels
            .iter()
            .enumerate()
            .find(|(_, &l)| l as usize >= num_classes)
        {
            return Err(Error::InvalidData(format!(
                "row {row} has label {l} but there are only {num_classes} classes (labels must be 0..{num_classes})"
            )));
        }
        Ok(Self {
            x,
            labels,
            index: None,
            dim,
            num_classes,
        })
    }

    /// Row-major features, `rows × dim`.
    ///
    /// # Panics
    /// On a row view (only the crate makes those, and reads them with [`Samples::block`]).
    pub fn x(&self) -> &'a [f32] {
        assert!(
            self.index.is_none(),
            "a row view has no contiguous features"
        );
        self.x
    }

    /// The contiguous features, `None` for a row view.
    pub(crate) fn contiguous(&self) -> Option<&'a [f32]> {
        self.index.is_none().then_some(self.x)
    }

    /// The rows `index` of this (contiguous) set, with their `labels`, as a view without a copy.
    pub(crate) fn select(&self, index: &'a [usize], labels: &'a [u32]) -> Samples<'a> {
        assert!(self.index.is_none() && index.len() == labels.len());
        Samples {
            index: Some(index),
            labels,
            ..*self
        }
    }

    /// Row `i` (of this set or view).
    pub(crate) fn row(&self, i: usize) -> &'a [f32] {
        let r = self.index.map_or(i, |ix| ix[i]);
        &self.x[r * self.dim..(r + 1) * self.dim]
    }

    /// Rows `start..end`, row-major: borrowed when contiguous, else gathered into `buf`.
    pub(crate) fn block<'b>(&self, start: usize, end: usize, buf: &'b mut Vec<f32>) -> &'b [f32]
    where
        'a: 'b,
    {
        match self.index {
            None => &self.x[start * self.dim..end * self.dim],
            Some(ix) => {
                buf.clear();
                for &r in &ix[start..end] {
                    buf.extend_from_slice(&self.x[r * self.dim..(r + 1) * self.dim]);
                }
                buf
            }
        }
    }
    /// Integer labels, one per row.
    pub fn labels(&self) -> &'a [u32] {
        self.labels
    }
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.labels.len()
    }
    /// Feature dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }
    /// Number of classes (the classifier's output width).
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }
    /// Copies the given rows into an owned set (used for splits and few-shot draws).
    pub fn gather(&self, indices: &[usize]) -> OwnedSamples {
        let mut x = Vec::with_capacity(indices.len() * self.dim);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            x.extend_from_slice(self.row(i));
            labels.push(self.labels[i]);
        }
        OwnedSamples {
            x,
            labels,
            dim: self.dim,
            num_classes: self.num_classes,
        }
    }
    /// Row indices of each class, in row order.
    pub fn indices_by_class(&self) -> Vec<Vec<usize>> {
        let mut by = vec![Vec::new(); self.num_classes];
        for (i, &l) in self.labels.iter().enumerate() {
            by[l as usize].push(i);
        }
        by
    }
}

/// An owned labelled matrix (a subset copied out of a [`Samples`] view).
#[derive(Clone, Debug)]
pub struct OwnedSamples {
    x: Vec<f32>,
    labels: Vec<u32>,
    dim: usize,
    num_classes: usize,
}

impl OwnedSamples {
    /// Builds an owned set, with the same checks as [`Samples::new`].
    pub fn new(x: Vec<f32>, labels: Vec<u32>, dim: usize, num_classes: usize) -> Result<Self> {
        Samples::new(&x, &labels, dim, num_classes)?;
        Ok(Self {
            x,
            labels,
            dim,
            num_classes,
        })
    }
    /// The borrowed view.
    pub fn view(&self) -> Samples<'_> {
        Samples {
            x: &self.x,
            labels: &self.labels,
            index: None,
            dim: self.dim,
            num_classes: self.num_classes,
        }
    }
}
