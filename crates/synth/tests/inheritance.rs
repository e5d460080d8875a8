//! Factor inheritance on the shipped concepts: visual-factor distance grows with taxonomy distance.

use hiercog_synth::{default_concepts, expected_sq_distance, resolve, visual_factors, ShapeFamily};
use hiercog_taxonomy::{similarity, InformationContent, Measure, Taxonomy};

/// Spearman rank correlation (average ranks for ties).
fn spearman(x: &[f64], y: &[f64]) -> f64 {
    fn ranks(v: &[f64]) -> Vec<f64> {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
        let mut r = vec![0.0; v.len()];
        let mut i = 0;
        while i < idx.len() {
            let mut j = i;
            while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
                j += 1;
            }
            for k in i..=j {
                r[idx[k]] = (i + j) as f64 / 2.0;
            }
            i = j + 1;
        }
        r
    }
    let (rx, ry) = (ranks(x), ranks(y));
    let n = x.len() as f64;
    let (mx, my) = (rx.iter().sum::<f64>() / n, ry.iter().sum::<f64>() / n);
    let cov: f64 = rx.iter().zip(&ry).map(|(a, b)| (a - mx) * (b - my)).sum();
    let vx: f64 = rx.iter().map(|a| (a - mx).powi(2)).sum();
    let vy: f64 = ry.iter().map(|b| (b - my).powi(2)).sum();
    cov / (vx * vy).sqrt()
}

struct Pairs {
    /// Squared latent distance, the construction's expected value, 1 - Lin (intrinsic IC), same family.
    rows: Vec<(f64, f64, f64, bool)>,
}

fn pairs(seed: u64) -> Pairs {
    let tax = Taxonomy::wordnet().unwrap();
    let wnids = default_concepts();
    let ids = resolve(&tax, &wnids).unwrap();
    let f = visual_factors(&tax, &wnids, seed).unwrap();
    let ic = InformationContent::intrinsic(&tax);
    let paths: Vec<_> = ids
        .iter()
        .map(|&c| tax.hypernym_paths(c).swap_remove(0))
        .collect();
    let mut rows = Vec::new();
    for i in 0..ids.len() {
        for j in i + 1..ids.len() {
            let shared = paths[i]
                .iter()
                .zip(&paths[j])
                .take_while(|(a, b)| a == b)
                .count();
            let t_lca = ic.ic(paths[i][shared - 1]);
            let lin = similarity(&tax, Some(&ic), Measure::Lin, ids[i], ids[j]).unwrap();
            let d2 = f[i].distance(&f[j]).powi(2);
            rows.push((
                d2,
                expected_sq_distance(t_lca),
                1.0 - lin,
                f[i].family == f[j].family,
            ));
        }
    }
    Pairs { rows }
}

/// Mean of `y` per quartile of `x`.
fn quartile_means(x: &[f64], y: &[f64]) -> Vec<f64> {
    let mut xy: Vec<(f64, f64)> = x.iter().copied().zip(y.iter().copied()).collect();
    xy.sort_by(|a, b| a.0.total_cmp(&b.0));
    let q = xy.len().div_ceil(4);
    xy.chunks(q)
        .map(|c| c.iter().map(|r| r.1).sum::<f64>() / c.len() as f64)
        .collect()
}

#[test]
fn visual_distance_follows_taxonomy_distance_in_expectation() {
    // The construction promises E[d2] = model(t_lca) over seeds: average 24 seeds per pair.
    let seeds: Vec<u64> = (0..24).collect();
    let runs: Vec<Pairs> = seeds.iter().map(|&s| pairs(s)).collect();
    let n = runs[0].rows.len();
    let mean_d2: Vec<f64> = (0..n)
        .map(|i| runs.iter().map(|r| r.rows[i].0).sum::<f64>() / seeds.len() as f64)
        .collect();
    let model: Vec<f64> = runs[0].rows.iter().map(|r| r.1).collect();
    let lin_dist: Vec<f64> = runs[0].rows.iter().map(|r| r.2).collect();
    let rho_model = spearman(&mean_d2, &model);
    let rho_lin = spearman(&mean_d2, &lin_dist);
    let means = quartile_means(&lin_dist, &mean_d2);
    println!("E over seeds: spearman(d2, model) = {rho_model:.3}, spearman(d2, 1 - Lin) = {rho_lin:.3}, per 1-Lin quartile {means:.2?}");
    assert!(rho_model > 0.7 && rho_lin > 0.6, "{rho_model} {rho_lin}");
    // Closer quarters are closer; the two farthest are flat (their common ancestors sit at or near
    // the root, where pairs share almost nothing), so there only seed noise may reverse them.
    assert!(means[..3].windows(2).all(|w| w[0] < w[1]), "{means:?}");
    assert!(means[3] > 0.95 * means[2], "{means:?}");
}

#[test]
fn default_seed_separates_near_from_far() {
    let p = pairs(0);
    let d2: Vec<f64> = p.rows.iter().map(|r| r.0).collect();
    let lin_dist: Vec<f64> = p.rows.iter().map(|r| r.2).collect();
    let means = quartile_means(&lin_dist, &d2);
    println!(
        "seed 0: spearman(d2, 1 - Lin) = {:.3}, mean d2 per 1-Lin quartile {means:.2?}",
        spearman(&d2, &lin_dist)
    );
    // The closest quarter of pairs is clearly closer than every other quarter.
    assert!(means[1..].iter().all(|&m| m > 1.15 * means[0]), "{means:?}");
}

#[test]
fn close_concepts_share_shape_family_more_often() {
    let p = pairs(0);
    let rate = |keep: &dyn Fn(f64) -> bool| {
        let sel: Vec<bool> = p.rows.iter().filter(|r| keep(r.2)).map(|r| r.3).collect();
        sel.iter().filter(|&&s| s).count() as f64 / sel.len() as f64
    };
    let close = rate(&|d| d < 0.4);
    let far = rate(&|d| d > 0.8);
    println!("same shape family: close pairs {close:.2}, far pairs {far:.2}");
    assert!(close > 0.9 && far < 0.5, "close {close}, far {far}");
    let families: std::collections::HashSet<ShapeFamily> =
        visual_factors(&Taxonomy::wordnet().unwrap(), &default_concepts(), 0)
            .unwrap()
            .into_iter()
            .map(|f| f.family)
            .collect();
    assert!(families.len() >= 4, "only {families:?} used");
}
