//! [`LabelTree`]: the tree over a label set that hierarchical losses need, derived from any
//! [`Taxonomy`] (WordNet, a user is-a file) by a named rule for the DAG's extra parents.

use std::collections::HashMap;
use std::path::Path;

use hiercog_taxonomy::{distance_matrix, ConceptId, DistanceConvention, DistanceMatrix, Taxonomy};

use crate::error::{closest, Error, Result};

/// How many names an error message lists before it says "and N more".
const NAMES_IN_ERRORS: usize = 8;

/// The rule that turns a DAG into a tree: which one parent each concept keeps.
///
/// WordNet is a DAG (about 2% of noun synsets have several hypernyms); a hierarchical loss needs a
/// tree. Each concept on a label's way to the root keeps one parent, chosen per concept (so the
/// choices are consistent: the result is always a tree); ties go to the parent listed first.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum TreeFromDag {
    /// Keep the parent nearest a root (smallest minimum depth): every label's path to the root
    /// is one of its shortest hypernym paths. In WordNet this often picks a functional parent
    /// (dog and house cat under "domestic animal" rather than "canine" and "cat").
    Shortest,
    /// Keep the parent listed first: WordNet's first hypernym (instance hypernyms come after
    /// plain ones), or the parent of the first is-a line naming the child.
    First,
    /// Keep the parent farthest from a root (largest maximum depth): every label's path to the
    /// root is one of its longest hypernym paths, the rule fiveai/making-better-mistakes used for
    /// its ImageNet tree (they broke ties by hand). The default: over the 1,000 ImageNet-1K
    /// classes it reproduces 1,356 of the 1,371 edges of their tree (`first`: 1,317,
    /// `shortest`: 1,269; see the crate README).
    #[default]
    Longest,
}

impl TreeFromDag {
    const NAMES: [&'static str; 3] = ["shortest", "first", "longest"];

    /// The rule's name, as [`FromStr`](std::str::FromStr) reads it.
    pub fn name(self) -> &'static str {
        match self {
            TreeFromDag::Shortest => "shortest",
            TreeFromDag::First => "first",
            TreeFromDag::Longest => "longest",
        }
    }

    /// The parent `c` keeps under this rule; `None` for a root.
    fn parent(self, tax: &Taxonomy, c: ConceptId) -> Option<ConceptId> {
        let mut parents = tax.parents(c).iter().copied();
        // `min_by_key` returns the first of equal minima: ties go to the parent listed first.
        match self {
            TreeFromDag::First => parents.next(),
            TreeFromDag::Shortest => parents.min_by_key(|&p| tax.min_depth(p)),
            TreeFromDag::Longest => parents.min_by_key(|&p| std::cmp::Reverse(tax.max_depth(p))),
        }
    }
}

impl std::fmt::Display for TreeFromDag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for TreeFromDag {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "shortest" => Ok(TreeFromDag::Shortest),
            "first" => Ok(TreeFromDag::First),
            "longest" => Ok(TreeFromDag::Longest),
            _ => Err(Error::UnknownWord {
                what: "rule for turning a DAG into a tree",
                value: s.to_string(),
                suggestion: closest(s, &Self::NAMES).map(str::to_string),
                known: "shortest, first, longest",
            }),
        }
    }
}

/// An is-a edge of the source hierarchy that the tree left out (see [`LabelTree::dropped_edges`]).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DroppedEdge {
    /// The parent the rule did not keep.
    pub parent: String,
    /// The concept that kept another parent.
    pub child: String,
}

/// A tree whose leaves are exactly the labels of a classifier, in class order.
///
/// Built from a [`Taxonomy`] by [`LabelTree::from_taxonomy`]:
/// 1. every label must be in the taxonomy, listed once, and no label may subsume another;
/// 2. each concept on a label's way up keeps one parent ([`TreeFromDag`]); the parents it does
///    not keep are reported by [`LabelTree::dropped_edges`];
/// 3. concepts left with a single child are merged away, as in the fiveai/making-better-mistakes
///    trees (such a concept carries no information: p(child | concept) = 1), which also makes the
///    root the lowest common ancestor of all labels; [`LabelTree::collapsed_nodes`] lists them.
///
/// Nodes are numbered `0..num_nodes()`; classes `0..num_classes()` in the order of the labels
/// given. The root has depth 0, leaves height 0.
///
/// ```
/// use hiercog_losses::{LabelTree, TreeFromDag};
/// use hiercog_taxonomy::Taxonomy;
///
/// let wordnet = Taxonomy::wordnet()?;
/// // dog, house cat, tiger, sports car
/// let labels: Vec<String> = ["n02084071", "n02121808", "n02129604", "n04285008"]
///     .map(String::from).to_vec();
/// let tree = LabelTree::from_taxonomy(&wordnet, &labels, TreeFromDag::Longest)?;
/// assert_eq!(tree.num_classes(), 4);
/// // The cats meet lower than a cat and a dog.
/// let d = tree.distances(hiercog_taxonomy::DistanceConvention::LcaHeight)?;
/// assert!(d.get(1, 2) < d.get(0, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct LabelTree {
    /// The tree itself, as a taxonomy with one parent per concept (ids are node indices).
    tree: Taxonomy,
    /// Node of each class.
    classes: Vec<ConceptId>,
    root: ConceptId,
    /// Longest downward path of each node to a leaf.
    height: Vec<u32>,
    rule: TreeFromDag,
    dropped: Vec<DroppedEdge>,
    collapsed: Vec<String>,
    /// The tree as an is-a text (see [`LabelTree::isa_text`]).
    isa: String,
}

impl LabelTree {
    /// Builds the tree over `labels` (class `i` is `labels[i]`, a wnid or an is-a file label)
    /// from `tax`, turning its DAG into a tree by `rule`.
    ///
    /// Fails, naming the labels, when a label is not in `tax`, is listed twice, or subsumes
    /// another label; when fewer than two labels are given; or when the labels' ancestors have
    /// several roots.
    pub fn from_taxonomy(
        tax: &Taxonomy,
        labels: &[String],
        rule: TreeFromDag,
    ) -> Result<LabelTree> {
        let ids = resolve_labels(tax, labels)?;
        check_no_label_subsumes_another(tax, &ids)?;

        // Each concept on a label's way up keeps one parent; `kept[c] = None` marks a root.
        let mut kept: HashMap<ConceptId, Option<ConceptId>> = HashMap::new();
        for &label in &ids {
            let mut c = label;
            while !kept.contains_key(&c) {
                let p = rule.parent(tax, c);
                kept.insert(c, p);
                match p {
                    Some(p) => c = p,
                    None => break,
                }
            }
        }
        let mut roots: Vec<&str> = kept
            .iter()
            .filter(|(_, p)| p.is_none())
            .map(|(&c, _)| tax.name(c))
            .collect();
        if roots.len() > 1 {
            roots.sort_unstable();
            return Err(Error::SeveralRoots {
                count: roots.len(),
                roots: list_some(roots.iter()),
            });
        }
        let mut dropped: Vec<DroppedEdge> = kept
            .iter()
            .flat_map(|(&c, &p)| {
                tax.parents(c)
                    .iter()
                    .filter(move |&&q| Some(q) != p)
                    .map(move |&q| DroppedEdge {
                        parent: tax.name(q).to_string(),
                        child: tax.name(c).to_string(),
                    })
            })
            .collect();
        dropped.sort_unstable();

        // Merge away concepts with one child (labels are leaves, so they all stay).
        let mut n_children: HashMap<ConceptId, usize> = HashMap::new();
        for p in kept.values().flatten() {
            *n_children.entry(*p).or_default() += 1;
        }
        let stays = |c: ConceptId| n_children.get(&c).copied().unwrap_or(0) != 1;
        let mut collapsed: Vec<String> = kept
            .keys()
            .filter(|&&c| !stays(c))
            .map(|&c| tax.name(c).to_string())
            .collect();
        collapsed.sort_unstable();
        let mut children: HashMap<ConceptId, Vec<ConceptId>> = HashMap::new();
        let mut root = None;
        for &c in kept.keys().filter(|&&c| stays(c)) {
            let mut p = kept[&c];
            while let Some(q) = p.filter(|&q| !stays(q)) {
                p = kept[&q];
            }
            match p {
                Some(p) => children.entry(p).or_default().push(c),
                None => root = Some(c),
            }
        }
        let root = root.expect("two distinct leaves have a lowest common ancestor that stays");

        // The tree as an is-a text, root first and children by name, read back as a taxonomy so
        // that the taxonomy crate's depths and distances serve the tree too.
        for kids in children.values_mut() {
            kids.sort_unstable_by(|a, b| tax.name(*a).cmp(tax.name(*b)));
        }
        let mut isa = String::new();
        let mut stack = vec![root];
        while let Some(c) = stack.pop() {
            for &k in children.get(&c).into_iter().flatten() {
                isa.push_str(&format!("{}\t{}\n", tax.name(c), tax.name(k)));
            }
            stack.extend(children.get(&c).into_iter().flatten().rev());
        }
        let tree = Taxonomy::from_isa_str(&isa, Path::new("label tree"))?;
        let classes = labels
            .iter()
            .map(|l| tree.id(l))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let mut height = vec![0u32; tree.len()];
        for &leaf in &classes {
            let (mut c, mut h) = (leaf, 0);
            while let Some(&p) = tree.parents(c).first() {
                h += 1;
                height[p.index()] = height[p.index()].max(h);
                c = p;
            }
        }
        let root = tree.id(tax.name(root))?;
        Ok(LabelTree {
            tree,
            classes,
            root,
            height,
            rule,
            dropped,
            collapsed,
            isa,
        })
    }

    /// Number of classes (leaves).
    pub fn num_classes(&self) -> usize {
        self.classes.len()
    }

    /// Number of nodes, leaves and root included.
    pub fn num_nodes(&self) -> usize {
        self.tree.len()
    }

    /// The label of class `class`.
    pub fn label(&self, class: usize) -> &str {
        self.tree.name(self.classes[class])
    }

    /// The node of class `class`.
    pub fn class_node(&self, class: usize) -> usize {
        self.classes[class].index()
    }

    /// The name (wnid or is-a label) of node `node`.
    pub fn node_name(&self, node: usize) -> &str {
        self.tree.name(ConceptId(node as u32))
    }

    /// The root node: the lowest common ancestor of all labels.
    pub fn root(&self) -> usize {
        self.root.index()
    }

    /// The parent of `node`; `None` for the root.
    pub fn parent(&self, node: usize) -> Option<usize> {
        self.tree
            .parents(ConceptId(node as u32))
            .first()
            .map(|p| p.index())
    }

    /// Number of edges from the root down to `node` (the root has depth 0).
    pub fn depth(&self, node: usize) -> usize {
        self.tree.min_depth(ConceptId(node as u32))
    }

    /// Number of edges of the longest path from `node` down to a leaf (leaves have height 0).
    pub fn height(&self, node: usize) -> usize {
        self.height[node] as usize
    }

    /// Nodes from class `class`'s leaf up to the root, both included.
    pub fn path_to_root(&self, class: usize) -> Vec<usize> {
        let mut path = vec![self.class_node(class)];
        while let Some(p) = self.parent(*path.last().expect("the path starts with the leaf")) {
            path.push(p);
        }
        path
    }

    /// The rule the tree was built with.
    pub fn rule(&self) -> TreeFromDag {
        self.rule
    }

    /// The source hierarchy's is-a edges that the rule left out: every parent not kept by a
    /// concept on a label's way to the root, sorted. Ancestors reachable only through these
    /// edges are not in the tree.
    pub fn dropped_edges(&self) -> &[DroppedEdge] {
        &self.dropped
    }

    /// Concepts on the labels' paths that had a single child in the tree and were merged away
    /// (their child hangs from their parent), sorted.
    pub fn collapsed_nodes(&self) -> &[String] {
        &self.collapsed
    }

    /// LCA-height distances between all classes (in class order) on this tree, in either
    /// convention of [`DistanceConvention`]: the plain height of the lowest common ancestor, or
    /// the deepest leaf's depth minus the LCA's depth ("padded", the convention of the
    /// fiveai/making-better-mistakes distance files).
    pub fn distances(&self, convention: DistanceConvention) -> Result<DistanceMatrix> {
        Ok(distance_matrix(&self.tree, &self.classes, convention)?)
    }

    /// The tree as an is-a edge list (`parent<TAB>child` lines, root first, children by name),
    /// readable by `Taxonomy::from_isa_file`: how the tree is saved next to a training run or
    /// handed to another tool.
    pub fn isa_text(&self) -> &str {
        &self.isa
    }
}

/// The labels' concepts, or an error naming every missing or repeated label.
fn resolve_labels(tax: &Taxonomy, labels: &[String]) -> Result<Vec<ConceptId>> {
    let mut ids = Vec::with_capacity(labels.len());
    let mut missing = Vec::new();
    let mut first_class: HashMap<ConceptId, usize> = HashMap::new();
    for (class, label) in labels.iter().enumerate() {
        match tax.get(label) {
            Some(c) => {
                if let Some(&first) = first_class.get(&c) {
                    return Err(Error::DuplicateLabel {
                        label: label.clone(),
                        first,
                        second: class,
                    });
                }
                first_class.insert(c, class);
                ids.push(c);
            }
            None => missing.push(format!("{label:?}")),
        }
    }
    if !missing.is_empty() {
        return Err(Error::MissingLabels {
            count: missing.len(),
            names: list_some(missing.iter()),
        });
    }
    if ids.len() < 2 {
        return Err(Error::TooFewLabels(ids.len()));
    }
    Ok(ids)
}

/// Fails, naming the pairs, when a label subsumes another label.
fn check_no_label_subsumes_another(tax: &Taxonomy, ids: &[ConceptId]) -> Result<()> {
    let is_label: std::collections::HashSet<ConceptId> = ids.iter().copied().collect();
    let is_label = &is_label;
    let pairs: Vec<String> = ids
        .iter()
        .flat_map(|&c| {
            tax.ancestors(c)
                .into_iter()
                .filter(move |&a| a != c && is_label.contains(&a))
                .map(move |a| format!("{} > {}", tax.name(a), tax.name(c)))
        })
        .collect();
    if pairs.is_empty() {
        return Ok(());
    }
    Err(Error::LabelIsAncestor {
        count: pairs.len(),
        pairs: list_some(pairs.iter()),
    })
}

/// The first [`NAMES_IN_ERRORS`] items, comma-separated, then "and N more".
fn list_some<T: std::fmt::Display>(items: impl ExactSizeIterator<Item = T>) -> String {
    let n = items.len();
    let mut out: Vec<String> = items.take(NAMES_IN_ERRORS).map(|x| x.to_string()).collect();
    if n > NAMES_IN_ERRORS {
        out.push(format!("and {} more", n - NAMES_IN_ERRORS));
    }
    out.join(", ")
}
