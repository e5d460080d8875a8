//! [`CogRun`]: what an experiment reads from the CoG run it builds on — the datasets, the frozen
//! backbone's features and the images of every split, the taxonomy, the probe plan, and the
//! frozen backbone's own CoG numbers. `hiercog_run::Pipeline` provides it once prepared and
//! extracted; a test can provide it from memory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hiercog_cog::{LabelledImages, Split};
use hiercog_run::report::ReportInput;
use hiercog_run::sweep::ProbePlan;
use hiercog_run::Pipeline;
use hiercog_taxonomy::Taxonomy;
use hiercog_train::{extract_views, FeatureViews, ViewOptions, ViewProgress, ViewSpec};

use crate::Result;

/// A finished CoG run of a frozen backbone (prepare and extract done), as an experiment reads it.
pub trait CogRun: Sync {
    /// The frozen backbone's own CoG runs and the datasets (seen set, then the levels, with
    /// their mean similarity to the seen set): the "pretrained" row of the experiment, and its
    /// dataset list.
    fn baseline(&self) -> Result<ReportInput>;
    /// The taxonomy of the class names.
    fn taxonomy(&self) -> Result<Arc<Taxonomy>>;
    /// The frozen backbone's features of a dataset's split (what depth (a) transforms).
    fn features(&self, dataset: &str, split: Split) -> Result<PathBuf>;
    /// The labelled images of a dataset's split (depth (b) reads them; the seen training images
    /// are what every recipe trains on).
    fn images(&self, dataset: &str, split: Split) -> Result<LabelledImages>;
    /// The frozen backbone's input side and feature width.
    fn frozen_shape(&self) -> Result<(u32, usize)>;
    /// Features by the frozen backbone of augmented views of the seen training images (depth
    /// (a)), cached in `cache`, rows in the order of `images(SEEN, Train)`.
    fn train_views(
        &self,
        spec: &ViewSpec,
        cache: &Path,
        workers: usize,
        progress: &dyn Fn(ViewProgress),
    ) -> Result<FeatureViews>;
    /// The probe runs of every representation (its seeds are replaced by the training seed).
    fn probe_plan(&self) -> Result<ProbePlan>;
}

impl CogRun for Pipeline {
    fn baseline(&self) -> Result<ReportInput> {
        Ok(self.report_input()?)
    }

    fn taxonomy(&self) -> Result<Arc<Taxonomy>> {
        Ok(Pipeline::taxonomy(self)?.clone())
    }

    fn features(&self, dataset: &str, split: Split) -> Result<PathBuf> {
        let path = self.features_path(dataset, split);
        if !path.exists() {
            return Err(crate::Error::Invalid(format!(
                "no features of {dataset}/{split} at {}: run the CoG pipeline's extract stage first",
                path.display()
            )));
        }
        Ok(path)
    }

    fn images(&self, dataset: &str, split: Split) -> Result<LabelledImages> {
        Ok(self.dataset_images(dataset, split)?)
    }

    fn frozen_shape(&self) -> Result<(u32, usize)> {
        let model = self.model(&hiercog_run::Silent)?;
        Ok((model.preprocess().crop, model.feature_dim()))
    }

    fn train_views(
        &self,
        spec: &ViewSpec,
        cache: &Path,
        workers: usize,
        progress: &dyn Fn(ViewProgress),
    ) -> Result<FeatureViews> {
        let images = self.dataset_images(hiercog_run::SEEN, Split::Train)?;
        let paths: Vec<PathBuf> = images.items.into_iter().map(|(p, _)| p).collect();
        let options = ViewOptions {
            batch_size: self.config().model.batch,
            workers,
        };
        Ok(extract_views(
            self.model(&hiercog_run::Silent)?,
            &paths,
            spec,
            cache,
            &options,
            progress,
        )?)
    }

    fn probe_plan(&self) -> Result<ProbePlan> {
        Ok(Pipeline::probe_plan(self)?)
    }
}
