//! TLDR (Kalantidis et al., "TLDR: Twin Learning for Dimensionality Reduction", TMLR 2022;
//! naver/tldr): an encoder from D to d dimensions trained so that each vector and one of its k
//! nearest neighbours map to outputs whose (projected, batch-normalised) cross-correlation is
//! the identity — the Barlow Twins loss.
//!
//! [`TldrParams`] holds the reference's interface and defaults; [`TldrParams::fit`] computes the
//! k-NN graph (inner product, the query left out; exact, or HNSW for large N), then trains
//! encoder + projector with LARS (forward and backward written out on faer GEMMs, [`net`]) and keeps the encoder ([`FittedTldr`]). [`Trainer`]
//! exposes single steps (the PyTorch parity tests drive it).
//!
//! Determinism: weights are initialised, epochs shuffled and neighbours drawn from ChaCha8
//! streams of the seed (stream 0 for the weights, stream e for epoch e), so a fit is repeatable
//! and resumes at an epoch boundary exactly as if it had not stopped.

mod lars;
mod loss;
mod net;
mod spec;

use std::collections::BTreeMap;
use std::path::Path;

use hiercog_retrieval::{ExactIndex, Exclusion, HnswParams, KnnSearch, Metric, Rows};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

pub use lars::learning_rate;
use lars::Lars;
use loss::barlow_twins;
use net::{batch_normalize, Sequential, Tape};
pub use spec::{NetKind, NetSpec};

use crate::data::{check_fit_input, check_transform_input, l2_normalize_rows};
use crate::error::{Error, Result};
use crate::weights::{self, Array};

impl Serialize for NetSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for NetSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// How the k-NN graph of the training set is computed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KnnMethod {
    /// Exact search (the reference's default, FAISS flat inner product).
    Exact,
    /// HNSW graph (approximate; for large N), with its candidate list sizes.
    Hnsw {
        /// Candidate list size while building.
        ef_construction: usize,
        /// Candidate list size while searching (≥ n_neighbors + 1).
        ef_search: usize,
    },
}

/// TLDR hyper-parameters, named and defaulted as the reference's `TLDR(...)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TldrParams {
    /// Output dimension d.
    pub n_components: usize,
    /// Neighbours among which each training pair's second vector is drawn (5).
    pub n_neighbors: usize,
    /// Encoder: "linear" (default), "flinear-1-512", "mlp-1-2048", ...
    pub encoder: NetSpec,
    /// Projector: "mlp-2-2048" (default); `None` puts the loss on the encoder's outputs.
    pub projector: Option<NetSpec>,
    /// Batch size (1024); clamped to the number of rows.
    pub batch_size: usize,
    /// Training epochs (100).
    pub epochs: usize,
    /// Linear warm-up epochs (10).
    pub warmup_epochs: usize,
    /// Learning rate per 256 samples (0.2; the actual base rate is 0.2·batch/256).
    pub learning_rate: f64,
    /// Loss scale (1/32).
    pub scale_loss: f64,
    /// Weight of the off-diagonal terms of the loss (3.9e-3).
    pub lambda: f64,
    /// LARS weight decay (1e-6), not applied to biases and normalisation weights.
    pub weight_decay: f64,
    /// LARS momentum (0.9).
    pub momentum: f64,
    /// LARS trust coefficient η (0.001).
    pub eta: f64,
    /// How the k-NN graph is computed.
    pub knn: KnnMethod,
    /// Seed of the initialisation, shuffling and neighbour draws.
    pub seed: u64,
}

impl TldrParams {
    /// The reference's defaults for an output dimension.
    pub fn new(n_components: usize) -> Self {
        TldrParams {
            n_components,
            n_neighbors: 5,
            encoder: "linear".parse().expect("valid spec"),
            projector: Some("mlp-2-2048".parse().expect("valid spec")),
            batch_size: 1024,
            epochs: 100,
            warmup_epochs: 10,
            learning_rate: 0.2,
            scale_loss: 1.0 / 32.0,
            lambda: 3.9e-3,
            weight_decay: 1e-6,
            momentum: 0.9,
            eta: 0.001,
            knn: KnnMethod::Exact,
            seed: 0,
        }
    }

    fn check(&self, rows: usize) -> Result<()> {
        let positive = [
            ("batch_size", self.batch_size),
            ("epochs", self.epochs),
            ("n_neighbors", self.n_neighbors),
        ];
        if let Some((name, v)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(Error::param(name, v, "must be >= 1"));
        }
        if self.n_neighbors >= rows {
            return Err(Error::param(
                "n_neighbors",
                self.n_neighbors,
                format!("fewer than the {rows} training rows"),
            ));
        }
        if self.warmup_epochs > self.epochs {
            return Err(Error::param(
                "warmup_epochs",
                self.warmup_epochs,
                format!("at most the {} epochs", self.epochs),
            ));
        }
        for (name, v) in [
            ("learning_rate", self.learning_rate),
            ("scale_loss", self.scale_loss),
            ("eta", self.eta),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::param(name, v, "a positive number"));
            }
        }
        for (name, v) in [
            ("lambda", self.lambda),
            ("weight_decay", self.weight_decay),
            ("momentum", self.momentum),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::param(name, v, "a number >= 0"));
            }
        }
        Ok(())
    }

    /// Trains on the rows of `x`; `progress` hears about the k-NN graph and each epoch. With a
    /// `checkpoint` file, the state is saved there after every epoch and a fit of the same
    /// parameters on the same data resumes from it.
    pub fn fit(
        &self,
        x: Rows<'_>,
        checkpoint: Option<&Path>,
        progress: &(dyn Fn(FitProgress) + Sync),
    ) -> Result<FittedTldr> {
        check_fit_input(x, self.n_components)?;
        let n = x.len();
        self.check(n)?;
        let k = self.n_neighbors;
        let knn_progress = |done, total| progress(FitProgress::Knn { done, total });
        let graph = match &self.knn {
            KnnMethod::Exact => ExactIndex::new(x, Metric::InnerProduct)
                .and_then(|i| i.search(x, k, Exclusion::SelfMatch, &knn_progress)),
            KnnMethod::Hnsw {
                ef_construction,
                ef_search,
            } => HnswParams {
                ef_construction: *ef_construction,
                ef_search: *ef_search,
                seed: self.seed,
            }
            .build(x, Metric::InnerProduct)
            .and_then(|i| i.search(x, k, Exclusion::SelfMatch, &knn_progress)),
        }
        .map_err(Error::Knn)?;
        if let KnnMethod::Hnsw { .. } = self.knn {
            let (recall, sampled) = sampled_knn_recall(x, k, |i| graph.indices(i))?;
            progress(FitProgress::KnnRecall { recall, sampled });
        }
        let mut trainer = Trainer::new(self, x.dim())?;
        let batch = self.batch_size.min(n);
        let steps_per_epoch = n / batch;
        let fingerprint = weights::data_fingerprint(x);
        let mut first_epoch = 0;
        if let Some(path) = checkpoint.filter(|p| p.exists()) {
            first_epoch = trainer.resume(path, &fingerprint)?;
        }
        let dim = x.dim();
        let (mut y1, mut y2) = (vec![0.0f32; batch * dim], vec![0.0f32; batch * dim]);
        for epoch in first_epoch..self.epochs {
            let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
            rng.set_stream(epoch as u64 + 1);
            let mut order: Vec<usize> = (0..n).collect();
            order.shuffle(&mut rng);
            let mut loss_sum = 0.0f64;
            for (b, rows) in order.chunks_exact(batch).enumerate() {
                for (j, &i) in rows.iter().enumerate() {
                    let nb = graph.indices(i)[rng.random_range(0..k)] as usize;
                    y1[j * dim..(j + 1) * dim].copy_from_slice(x.row(i));
                    y2[j * dim..(j + 1) * dim].copy_from_slice(x.row(nb));
                }
                let step = epoch * steps_per_epoch + b + 1;
                let lr = learning_rate(
                    step,
                    self.epochs,
                    n,
                    batch,
                    self.learning_rate,
                    self.warmup_epochs,
                );
                let loss = trainer.step(
                    Rows::new(&y1, dim).expect("batch shape"),
                    Rows::new(&y2, dim).expect("batch shape"),
                    lr,
                );
                if !loss.is_finite() {
                    return Err(Error::NonFinite {
                        loss,
                        epoch: epoch + 1,
                        step,
                    });
                }
                loss_sum += loss as f64;
            }
            if let Some(path) = checkpoint {
                trainer.save_checkpoint(path, &fingerprint, epoch + 1)?;
            }
            progress(FitProgress::Epoch {
                epoch: epoch + 1,
                epochs: self.epochs,
                loss: loss_sum / steps_per_epoch as f64,
            });
        }
        Ok(FittedTldr {
            params: self.clone(),
            input_dim: dim,
            encoder: trainer.encoder,
        })
    }
}

/// Rows whose approximate neighbours are checked against exact search.
const RECALL_SAMPLE: usize = 1000;

/// Recall@k of approximate neighbours (`approx(i)`: row i's k neighbours) against exact inner-
/// product search, on up to 1,000 evenly spaced rows; returns (recall, rows checked).
fn sampled_knn_recall<'g>(
    x: Rows<'_>,
    k: usize,
    approx: impl Fn(usize) -> &'g [u32],
) -> Result<(f64, usize)> {
    let n = x.len();
    let rows: Vec<usize> = (0..RECALL_SAMPLE.min(n))
        .map(|j| j * n / RECALL_SAMPLE.min(n))
        .collect();
    let queries: Vec<f32> = rows
        .iter()
        .flat_map(|&i| x.row(i).iter().copied())
        .collect();
    let exact = ExactIndex::new(x, Metric::InnerProduct)
        .and_then(|idx| {
            idx.search(
                Rows::new(&queries, x.dim())?,
                k + 1,
                Exclusion::None,
                &|_, _| {},
            )
        })
        .map_err(Error::Knn)?;
    let found: usize = rows
        .iter()
        .enumerate()
        .map(|(q, &i)| {
            let truth = exact
                .indices(q)
                .iter()
                .filter(|&&j| j as usize != i)
                .take(k);
            truth.filter(|j| approx(i).contains(j)).count()
        })
        .sum();
    Ok((found as f64 / (rows.len() * k) as f64, rows.len()))
}

/// What a fit is doing, for progress bars.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FitProgress {
    /// The k-NN graph: `done` of `total` rows searched.
    Knn {
        /// Rows done.
        done: usize,
        /// Rows in all.
        total: usize,
    },
    /// Recall@k of the approximate (HNSW) graph against exact search on a sample of rows.
    KnnRecall {
        /// Fraction of the exact neighbours found.
        recall: f64,
        /// Rows checked.
        sampled: usize,
    },
    /// An epoch finished with this mean training loss.
    Epoch {
        /// Epochs done (from 1).
        epoch: usize,
        /// Epochs in all.
        epochs: usize,
        /// Mean loss over the epoch's steps.
        loss: f64,
    },
}

/// Encoder + projector + LARS: single training steps on given pairs.
pub struct Trainer {
    encoder: Sequential,
    projector: Option<Sequential>,
    lars: Lars,
    params: TldrParams,
    /// Per view: the encoder's and the projector's tapes, and the batch-normalised output with
    /// its 1/√(σ² + ε) (kept between steps so that the buffers are reused).
    tapes: [(Tape, Tape, Vec<f32>, Vec<f32>); 2],
}

impl Trainer {
    /// A freshly initialised network (PyTorch's default initialisation, drawn from the seed).
    pub fn new(params: &TldrParams, input_dim: usize) -> Result<Trainer> {
        let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
        let d = params.n_components;
        let encoder = Sequential::new(
            "encoder",
            &params.encoder.encoder_sizes(input_dim, d),
            params.encoder.kind(),
            &mut rng,
        );
        let projector = match &params.projector {
            Some(spec) => Some(Sequential::new(
                "projector",
                &spec.projector_sizes(d)?,
                spec.kind(),
                &mut rng,
            )),
            None => None,
        };
        Ok(Trainer {
            encoder,
            projector,
            lars: Lars::new(params.momentum, params.eta, params.weight_decay),
            params: params.clone(),
            tapes: Default::default(),
        })
    }

    /// The trainable parameters of encoder and projector in PyTorch's order, with their names
    /// (the order of the LARS momentum buffers).
    fn named_parameters(&self) -> Vec<(String, &net::Param)> {
        let mut p = self.encoder.parameters();
        if let Some(proj) = &self.projector {
            p.extend(proj.parameters());
        }
        p
    }

    /// Parameters and running statistics by PyTorch name.
    pub fn state(&self) -> BTreeMap<String, Array> {
        let mut s = self.encoder.state();
        if let Some(p) = &self.projector {
            s.extend(p.state());
        }
        s
    }

    /// Sets the network from a state of the same architecture (names as [`Trainer::state`]).
    pub fn load_state(&mut self, state: &BTreeMap<String, Array>) -> Result<()> {
        self.encoder.load_state(state)?;
        if let Some(p) = &mut self.projector {
            p.load_state(state)?;
        }
        Ok(())
    }

    /// Forward pass of both views in training mode (updating running statistics), the loss, and
    /// the backward pass into every parameter's gradient.
    fn loss_and_gradients(&mut self, x1: Rows<'_>, x2: Rows<'_>) -> f32 {
        let dim = x1.dim();
        let mut width = self.params.n_components;
        for (x, (enc, proj, z, inv_std)) in [x1, x2].into_iter().zip(&mut self.tapes) {
            self.encoder.forward_train(x.data(), dim, enc);
            let out = match &mut self.projector {
                Some(p) => {
                    p.forward_train(enc.output(), self.params.n_components, proj);
                    proj.output()
                }
                None => enc.output(),
            };
            width = out.len() / x.len();
            *inv_std = batch_normalize(out, width, z).2;
        }
        let [(_, _, z1, _), (_, _, z2, _)] = &self.tapes;
        let (mut d1, mut d2) = (vec![0.0f32; z1.len()], vec![0.0f32; z2.len()]);
        let loss = barlow_twins(
            z1,
            z2,
            width,
            self.params.scale_loss,
            self.params.lambda,
            Some((&mut d1, &mut d2)),
        );
        for (view, (x, mut dz)) in [(x1, d1), (x2, d2)].into_iter().enumerate() {
            let (enc, proj, z, inv_std) = &self.tapes[view];
            net::batch_norm_backward(&mut dz, z, inv_std, None, width);
            let accumulate = view > 0;
            let dh = match &mut self.projector {
                Some(p) => p
                    .backward(
                        enc.output(),
                        self.params.n_components,
                        proj,
                        dz,
                        accumulate,
                        true,
                    )
                    .expect("input gradient asked for"),
                None => dz,
            };
            self.encoder
                .backward(x.data(), dim, enc, dh, accumulate, false);
        }
        loss as f32
    }

    /// The loss of the pairs (`x1[i]`, `x2[i]`) and the gradient of every parameter by name,
    /// without updating the parameters (running statistics are updated, as in any forward
    /// pass in training mode).
    pub fn gradients(&mut self, x1: Rows<'_>, x2: Rows<'_>) -> (f32, BTreeMap<String, Array>) {
        let loss = self.loss_and_gradients(x1, x2);
        let named = self
            .named_parameters()
            .into_iter()
            .map(|(n, p)| (n, p.to_array(true)))
            .collect();
        (loss, named)
    }

    /// One LARS step on the pairs at learning rate `lr`; returns the loss before the step.
    pub fn step(&mut self, x1: Rows<'_>, x2: Rows<'_>, lr: f64) -> f32 {
        let loss = self.loss_and_gradients(x1, x2);
        let mut params = self.encoder.parameters_mut();
        if let Some(p) = &mut self.projector {
            params.extend(p.parameters_mut());
        }
        self.lars.step(params, lr);
        loss
    }

    /// Saves network, momentum buffers and the epochs done.
    fn save_checkpoint(&self, path: &Path, fingerprint: &str, epochs_done: usize) -> Result<()> {
        let mut arrays = self.state();
        let trained = self.named_parameters();
        for (i, (b, (_, p))) in self.lars.buffers().iter().zip(trained).enumerate() {
            if let Some(b) = b {
                let shape = p.shape.clone();
                arrays.insert(
                    format!("lars.momentum.{i}"),
                    Array {
                        shape,
                        data: b.clone(),
                    },
                );
            }
        }
        let meta = serde_json::json!({
            "params": self.params,
            "data": fingerprint,
            "epochs_done": epochs_done,
        });
        weights::save(path, &arrays, &meta)
    }

    /// Loads a checkpoint written by the same fit; returns the epochs already done.
    fn resume(&mut self, path: &Path, fingerprint: &str) -> Result<usize> {
        let (arrays, meta) = weights::load(path)?;
        let params = serde_json::to_value(&self.params).expect("serialisable");
        let same = meta.get("params") == Some(&params)
            && meta.get("data").and_then(|v| v.as_str()) == Some(fingerprint);
        if !same {
            return Err(Error::Format {
                path: path.to_path_buf(),
                message: "this checkpoint belongs to another fit (other parameters or data); delete it to start over".into(),
            });
        }
        self.load_state(&arrays)?;
        let count = self.named_parameters().len();
        self.lars.set_buffers(
            (0..count)
                .map(|i| {
                    arrays
                        .get(&format!("lars.momentum.{i}"))
                        .map(|a| a.data.clone())
                })
                .collect(),
        );
        meta.get("epochs_done")
            .and_then(|v| v.as_u64())
            .map(|e| e as usize)
            .ok_or_else(|| Error::Format {
                path: path.to_path_buf(),
                message: "the checkpoint lacks `epochs_done`; delete it to start over".into(),
            })
    }
}

/// A trained TLDR encoder (the projector is dropped after training, as the reference does).
pub struct FittedTldr {
    params: TldrParams,
    input_dim: usize,
    encoder: Sequential,
}

/// Rows per encoder pass in `transform`.
const TRANSFORM_CHUNK: usize = 4096;

impl FittedTldr {
    /// The hyper-parameters it was trained with.
    pub fn params(&self) -> &TldrParams {
        &self.params
    }
    /// Input dimension D.
    pub fn input_dim(&self) -> usize {
        self.input_dim
    }

    /// Encodes the rows of `x` (`n × n_components`), L2-normalising each output row when
    /// `l2_norm` (the reference's `transform(X, l2_norm=True)`).
    pub fn transform(&self, x: Rows<'_>, l2_norm: bool) -> Result<Vec<f32>> {
        check_transform_input(x, self.input_dim)?;
        let d = self.params.n_components;
        let mut out = Vec::with_capacity(x.len() * d);
        for chunk in x.data().chunks(TRANSFORM_CHUNK * x.dim()) {
            out.extend(self.encoder.forward_eval(chunk, x.dim()));
        }
        if l2_norm {
            l2_normalize_rows(&mut out, d);
        }
        Ok(out)
    }

    /// The encoder's parameters and running statistics by PyTorch name.
    pub(crate) fn state(&self) -> BTreeMap<String, Array> {
        self.encoder.state()
    }

    /// An encoder of `params`' architecture for `input_dim` set from `state`.
    pub(crate) fn from_state(
        params: TldrParams,
        input_dim: usize,
        state: &BTreeMap<String, Array>,
    ) -> Result<FittedTldr> {
        let mut trainer = Trainer::new(
            &TldrParams {
                projector: None,
                ..params.clone()
            },
            input_dim,
        )?;
        trainer.encoder.load_state(state)?;
        Ok(FittedTldr {
            params,
            input_dim,
            encoder: trainer.encoder,
        })
    }
}
