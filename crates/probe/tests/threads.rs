//! Same seed, same numbers, whatever the thread count: every solver and the whole protocol run in
//! rayon pools of 1, 2 and 3 threads must agree bit for bit. The data is shaped so that every
//! parallel piece is cut more than once (several row blocks, dimension tiles and `Xᵀ·P` slabs)
//! and the preconditioned path is taken.

use hiercog_probe::{
    run_protocol, KnnParams, LbfgsParams, LogisticRegressionParams, OwnedSamples, ProtocolConfig,
    SgdParams, Solver, SolverKind,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const DIM: usize = 150;
const CLASSES: usize = 16;

/// Overlapping classes: means of norm ≈ 1 and noise of the same size.
fn mixture(rows: usize, seed: u64) -> OwnedSamples {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let means: Vec<f32> = (0..CLASSES * DIM)
        .map(|_| rng.random_range(-1.0f32..1.0) * (3.0 / DIM as f32).sqrt())
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = Vec::with_capacity(rows * DIM);
    let mut y = Vec::with_capacity(rows);
    for i in 0..rows {
        let k = i % CLASSES;
        x.extend((0..DIM).map(|j| means[k * DIM + j] + 0.12 * rng.random_range(-1.0f32..1.0)));
        y.push(k as u32);
    }
    OwnedSamples::new(x, y, DIM, CLASSES).unwrap()
}

fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

/// Weights, bias and objective of a fit, as bits.
fn fingerprint(m: &hiercog_probe::FittedLogReg) -> (Vec<u32>, Vec<u32>, u64, usize) {
    (
        m.weights().iter().map(|v| v.to_bits()).collect(),
        m.bias().iter().map(|v| v.to_bits()).collect(),
        m.info.objective.to_bits(),
        m.info.iterations,
    )
}

fn same_for_every_thread_count<T: PartialEq + std::fmt::Debug + Send>(run: impl Fn() -> T + Sync) {
    let one = in_pool(1, &run);
    for threads in [2, 3] {
        assert!(
            in_pool(threads, &run) == one,
            "{threads} threads differ from 1"
        );
    }
}

/// Both L-BFGS paths: cached logits, and loss and gradient streamed in row blocks.
#[test]
fn lbfgs_fit_is_bitwise_identical_across_thread_counts() {
    let data = mixture(5200, 1);
    for logit_cache_bytes in [usize::MAX, 0] {
        let params = LogisticRegressionParams::new(Solver::Lbfgs(LbfgsParams {
            l2: 1e-5,
            max_iter: 40,
            tol: 0.0,
            logit_cache_bytes,
            ..LbfgsParams::default()
        }))
        .unwrap();
        same_for_every_thread_count(|| {
            fingerprint(&params.fit(data.view(), None, &mut |_, _| {}).unwrap())
        });
    }
}

#[test]
fn sgd_fit_is_bitwise_identical_across_thread_counts() {
    let data = mixture(5200, 2);
    let params = LogisticRegressionParams::new(Solver::Sgd(SgdParams {
        lr: 2.0,
        epochs: 3,
        seed: 5,
        ..SgdParams::default()
    }))
    .unwrap();
    same_for_every_thread_count(|| {
        fingerprint(&params.fit(data.view(), None, &mut |_, _| {}).unwrap())
    });
}

#[test]
fn protocol_and_knn_are_bitwise_identical_across_thread_counts() {
    let (train, test) = (mixture(5200, 3), mixture(1000, 4));
    let fast = ProtocolConfig {
        knn: Some(KnnParams::default()),
        ..ProtocolConfig::default()
    };
    assert_eq!(fast.solver, SolverKind::Fast);
    // The SGD search runs its trials in parallel: their order and numbers must not move either.
    let mut sgd = ProtocolConfig {
        solver: SolverKind::Sgd,
        ..ProtocolConfig::default()
    };
    (sgd.sgd.trials, sgd.sgd.sgd.epochs) = (4, 2);
    for cfg in [fast, sgd] {
        same_for_every_thread_count(|| {
            let r = run_protocol(train.view(), test.view(), &cfg, 22, None, None, &|_| {}).unwrap();
            (
                r.trials,
                r.chosen,
                r.loss.to_bits(),
                r.test,
                r.knn,
                r.final_fit.objective.to_bits(),
            )
        });
    }
}
