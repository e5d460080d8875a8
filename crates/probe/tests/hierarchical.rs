//! Hierarchical metrics on a hand-checked tree, with distances from the taxonomy crate.
//!
//! ```text
//! root ─┬─ a ─┬─ x
//!       │     └─ y
//!       └─ b ──── z
//! ```
//! LCA heights among the classes {x, y, z}: d(x,y) = 1 (a), d(x,z) = d(y,z) = 2 (root).

use hiercog_probe::{average_hierarchical_distance, hierarchical_metrics, mistake_severity, TopK};
use hiercog_taxonomy::{distance_matrix, DistanceConvention, Taxonomy};

fn distances() -> hiercog_taxonomy::DistanceMatrix {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("isa.txt");
    std::fs::write(&path, "root\ta\nroot\tb\na\tx\na\ty\nb\tz\n").unwrap();
    let tax = Taxonomy::from_isa_file(&path).unwrap();
    let ids: Vec<_> = ["x", "y", "z"].iter().map(|n| tax.id(n).unwrap()).collect();
    distance_matrix(&tax, &ids, DistanceConvention::LcaHeight).unwrap()
}

#[test]
fn metrics_match_hand_computation() {
    let d = distances();
    assert_eq!(
        (d.get(0, 1), d.get(0, 2), d.get(1, 2), d.get(0, 0)),
        (1.0, 2.0, 2.0, 0.0)
    );
    // Rows: truth x predicted (y, z, x); truth z predicted (z, x, y); truth y predicted (z, y, x).
    let topk = TopK {
        indices: vec![1, 2, 0, 2, 0, 1, 2, 1, 0],
        k: 3,
    };
    let labels = [0, 2, 1];
    // Mistakes: row 0 (y vs x: 1), row 2 (z vs y: 2) → severity 1.5.
    assert_eq!(mistake_severity(&topk, &labels, &d).unwrap(), Some(1.5));
    // hdist@1 = (1 + 0 + 2) / 3; hdist@3 = mean of (1+2+0)/3, (0+2+2)/3, (2+0+1)/3.
    let h1 = average_hierarchical_distance(&topk, &labels, &d, 1).unwrap();
    let h3 = average_hierarchical_distance(&topk, &labels, &d, 3).unwrap();
    assert!((h1 - 1.0).abs() < 1e-12);
    assert!((h3 - (3.0 + 4.0 + 3.0) / 9.0).abs() < 1e-12);
    let all = hierarchical_metrics(&topk, &labels, &d).unwrap();
    assert_eq!(all.hdist_at_1, h1);
    assert_eq!(all.hdist_at_5, h3, "@5 is capped at the 3 predictions kept");
}

#[test]
fn no_mistakes_means_no_severity_and_bad_class_is_an_error() {
    let d = distances();
    let topk = TopK {
        indices: vec![0, 1],
        k: 1,
    };
    assert_eq!(mistake_severity(&topk, &[0, 1], &d).unwrap(), None);
    let bad = TopK {
        indices: vec![5],
        k: 1,
    };
    assert!(mistake_severity(&bad, &[0], &d).is_err());
}
