//! LabelTree on a small is-a DAG where the three rules give three different trees.

use std::path::Path;

use hiercog_losses::{DroppedEdge, HxeWeighting, LabelTree, TreeFromDag};
use hiercog_taxonomy::{DistanceConvention, Taxonomy};

/// y has parents p1 (listed first, depth 3) and p2 (depth 1); z has p2 (first) and p1.
const DAG: &str = "\
top\tr
r\ta
a\ta2
a2\tp1
r\tp2
p1\ty
p2\ty
p2\tz
p1\tz
p1\tl1
p2\tl2
y\tl3
y\tl4
z\tl5
z\tl6
";

fn labels() -> Vec<String> {
    ["l1", "l2", "l3", "l4", "l5", "l6"]
        .map(String::from)
        .to_vec()
}

fn build(rule: TreeFromDag) -> LabelTree {
    let tax = Taxonomy::from_isa_str(DAG, Path::new("dag.tsv")).unwrap();
    LabelTree::from_taxonomy(&tax, &labels(), rule).unwrap()
}

fn edge(parent: &str, child: &str) -> DroppedEdge {
    DroppedEdge {
        parent: parent.into(),
        child: child.into(),
    }
}

#[test]
fn each_rule_keeps_its_parents_and_reports_the_others() {
    // First: y under p1, z under p2; the single-child chain top, a, a2 is merged away.
    let first = build(TreeFromDag::First);
    assert_eq!(
        first.isa_text(),
        "r\tp1\nr\tp2\np1\tl1\np1\ty\ny\tl3\ny\tl4\np2\tl2\np2\tz\nz\tl5\nz\tl6\n"
    );
    assert_eq!(first.dropped_edges(), [edge("p1", "z"), edge("p2", "y")]);
    assert_eq!(first.collapsed_nodes(), ["a", "a2", "top"]);

    // Shortest: both under p2 (depth 1); p1 keeps only l1 and is merged away.
    let shortest = build(TreeFromDag::Shortest);
    assert_eq!(
        shortest.isa_text(),
        "r\tl1\nr\tp2\np2\tl2\np2\ty\np2\tz\ny\tl3\ny\tl4\nz\tl5\nz\tl6\n"
    );
    assert_eq!(shortest.dropped_edges(), [edge("p1", "y"), edge("p1", "z")]);

    // Longest: both under p1 (depth 3); p2 keeps only l2.
    let longest = build(TreeFromDag::Longest);
    assert_eq!(
        longest.isa_text(),
        "r\tl2\nr\tp1\np1\tl1\np1\ty\np1\tz\ny\tl3\ny\tl4\nz\tl5\nz\tl6\n"
    );
    assert_eq!(longest.dropped_edges(), [edge("p2", "y"), edge("p2", "z")]);
    assert_eq!(longest.rule(), TreeFromDag::Longest);
}

#[test]
fn depths_heights_paths_and_distances() {
    let tree = build(TreeFromDag::Shortest);
    let node = |name: &str| {
        (0..tree.num_nodes())
            .find(|&n| tree.node_name(n) == name)
            .unwrap()
    };
    assert_eq!(tree.node_name(tree.root()), "r");
    assert_eq!(tree.parent(tree.root()), None);
    let depth: Vec<usize> = ["r", "l1", "p2", "l2", "y", "l3"]
        .iter()
        .map(|n| tree.depth(node(n)))
        .collect();
    assert_eq!(depth, [0, 1, 1, 2, 2, 3]);
    let height: Vec<usize> = ["r", "l1", "p2", "y", "l3"]
        .iter()
        .map(|n| tree.height(node(n)))
        .collect();
    assert_eq!(height, [3, 0, 2, 1, 0]);
    let path: Vec<&str> = tree
        .path_to_root(2)
        .into_iter()
        .map(|n| tree.node_name(n))
        .collect();
    assert_eq!(path, ["l3", "y", "p2", "r"]);

    // Classes l1..l6; the deepest leaf has depth 3.
    let height = tree.distances(DistanceConvention::LcaHeight).unwrap();
    let padded = tree.distances(DistanceConvention::PaddedLcaHeight).unwrap();
    assert_eq!(height.row(2), [3.0, 2.0, 0.0, 1.0, 2.0, 2.0]);
    assert_eq!(padded.row(2), [3.0, 2.0, 0.0, 1.0, 2.0, 2.0]);
    // l1 and l2 meet at the root (height 3, depth 0) in both conventions; l2 and l3 at p2.
    assert_eq!(height.get(0, 1), 3.0);
    assert_eq!(padded.get(1, 2), 2.0);
    assert_eq!(height.get(1, 2), 2.0);
}

#[test]
fn hierarchy_arrays() {
    let tree = build(TreeFromDag::Shortest);
    let (c, n) = (tree.num_classes(), tree.num_nodes());
    let m = tree.leaf_ancestor_matrix();
    assert_eq!(m.shape, [c, n]);
    for class in 0..c {
        let row = &m.data[class * n..(class + 1) * n];
        let on: Vec<usize> = (0..n).filter(|&i| row[i] == 1.0).collect();
        let mut path = tree.path_to_root(class);
        path.sort_unstable();
        assert_eq!(on, path);
    }

    // Reference weights: exp(-α·depth) over all nodes, the root's share included, sum to 1.
    let w = tree.hxe_edge_weights(0.5, HxeWeighting::Reference).unwrap();
    let total: f64 = (0..n).map(|v| (-0.5 * tree.depth(v) as f64).exp()).sum();
    assert_eq!(w.data[tree.root()], 0.0);
    let sum: f32 = w.data.iter().sum();
    assert!((f64::from(sum) - (1.0 - 1.0 / total)).abs() < 1e-6);
    // Paper weights: exp(-α·h), 1 on the leaf edges.
    let w = tree.hxe_edge_weights(0.5, HxeWeighting::Paper).unwrap();
    assert_eq!(w.data[tree.class_node(0)], 1.0);

    // Paper α = 0: the path coefficients telescope to cross-entropy, -log P(leaf) + log P(root).
    let k = tree
        .hxe_path_coefficients(0.0, HxeWeighting::Paper)
        .unwrap();
    for class in 0..c {
        for v in 0..n {
            let want = if v == tree.class_node(class) {
                -1.0
            } else if v == tree.root() {
                1.0
            } else {
                0.0
            };
            assert_eq!(k.data[class * n + v], want, "class {class}, node {v}");
        }
    }

    // Soft labels: rows are distributions peaked on the true class.
    let y = tree
        .soft_labels(10.0, DistanceConvention::LcaHeight)
        .unwrap();
    for t in 0..c {
        let row = &y.data[t * c..(t + 1) * c];
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        let best = (0..c).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
        assert_eq!(best, t);
    }
}

#[test]
fn a_label_set_from_a_wordnet_subtree() {
    // Three dogs and two cats: the tree's root is their lowest common ancestor, carnivore.
    let labels: Vec<String> = [
        "n02085620", // Chihuahua
        "n02099601", // golden retriever
        "n02110958", // pug
        "n02123045", // tabby
        "n02123597", // Siamese cat
    ]
    .map(String::from)
    .to_vec();
    let wordnet = Taxonomy::wordnet().unwrap();
    let tree = LabelTree::from_taxonomy(&wordnet, &labels, TreeFromDag::First).unwrap();
    assert_eq!(tree.node_name(tree.root()), "n02075296");
    let d = tree.distances(DistanceConvention::LcaHeight).unwrap();
    assert!(d.get(3, 4) < d.get(0, 3));
}
