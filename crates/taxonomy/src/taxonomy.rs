//! The [`Taxonomy`] graph: concepts, is-a edges in both directions, depths and subsumption queries.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::error::{Error, Result};

/// Dense index of a concept in its [`Taxonomy`] (`0..tax.len()`); WordNet concepts are numbered in
/// `data.noun` order (increasing offset), user concepts in order of first appearance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConceptId(pub u32);

impl ConceptId {
    /// The index as `usize`, for slicing per-concept tables.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// One concept as read from a source, before the graph is assembled.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct RawConcept {
    /// wnid (`n02084071`) or user label.
    pub name: String,
    pub lemmas: Vec<String>,
    pub gloss: Option<String>,
    /// Hypernyms first, then instance hypernyms (NLTK's `hypernyms() + instance_hypernyms()`).
    pub parents: Vec<u32>,
    /// How many of `parents` are plain hypernyms (`@`); the rest are instance hypernyms (`@i`).
    pub n_hypernyms: usize,
    /// SemCor tag count summed over the synset's senses (WordNet only).
    pub sense_count: u32,
    /// 1-based NLTK sense number of the first lemma (`dog.n.01` -> 1); 0 for user concepts.
    pub sense_number: u16,
}

/// A DAG of concepts linked by is-a edges: WordNet 3.0 nouns (hypernyms and instance hypernyms,
/// as NLTK follows both) or a user is-a file. Immutable once built; share it through `Arc`.
#[derive(Debug)]
pub struct Taxonomy {
    concepts: Vec<RawConcept>,
    parents: Vec<Vec<ConceptId>>,
    children: Vec<Vec<ConceptId>>,
    index: HashMap<String, ConceptId>,
    min_depth: Vec<u32>,
    max_depth: Vec<u32>,
    /// Concepts ordered so that every parent comes before its children.
    topo: Vec<ConceptId>,
    wordnet: bool,
}

static EMBEDDED: OnceLock<std::result::Result<Arc<Taxonomy>, String>> = OnceLock::new();

/// The embedded WordNet 3.0 noun snapshot (see `data/README.md`).
static SNAPSHOT_BYTES: &[u8] = include_bytes!("../data/wordnet30-nouns.hcwn");

impl Taxonomy {
    /// Assembles the graph; `path` names the source in a cycle error.
    pub(crate) fn build(concepts: Vec<RawConcept>, wordnet: bool, path: &Path) -> Result<Taxonomy> {
        let n = concepts.len();
        let mut index = HashMap::with_capacity(n);
        for (i, c) in concepts.iter().enumerate() {
            index.insert(c.name.clone(), ConceptId(i as u32));
        }
        let mut parents = vec![Vec::new(); n];
        let mut children = vec![Vec::new(); n];
        for (i, c) in concepts.iter().enumerate() {
            for &p in &c.parents {
                if p as usize >= n {
                    return Err(Error::BadConceptId(p));
                }
                parents[i].push(ConceptId(p));
                children[p as usize].push(ConceptId(i as u32));
            }
        }
        // Kahn's algorithm: a topological order, or a cycle.
        let mut indeg: Vec<usize> = parents.iter().map(|p| p.len()).collect();
        let mut topo: Vec<ConceptId> = (0..n)
            .filter(|&i| indeg[i] == 0)
            .map(|i| ConceptId(i as u32))
            .collect();
        let mut head = 0;
        while head < topo.len() {
            let c = topo[head];
            head += 1;
            for &k in &children[c.index()] {
                indeg[k.index()] -= 1;
                if indeg[k.index()] == 0 {
                    topo.push(k);
                }
            }
        }
        if topo.len() != n {
            return Err(Error::Cycle {
                path: path.to_path_buf(),
                cycle: describe_cycle(&concepts, &parents, &indeg),
            });
        }
        let mut min_depth = vec![0u32; n];
        let mut max_depth = vec![0u32; n];
        for &c in &topo {
            let ps = &parents[c.index()];
            if !ps.is_empty() {
                min_depth[c.index()] =
                    1 + ps.iter().map(|p| min_depth[p.index()]).min().unwrap_or(0);
                max_depth[c.index()] =
                    1 + ps.iter().map(|p| max_depth[p.index()]).max().unwrap_or(0);
            }
        }
        Ok(Taxonomy {
            concepts,
            parents,
            children,
            index,
            min_depth,
            max_depth,
            topo,
            wordnet,
        })
    }

    /// The embedded WordNet 3.0 noun hierarchy (82,115 synsets with lemmas, glosses and SemCor
    /// counts), decoded once per process (about 0.1 s).
    pub fn wordnet() -> Result<Arc<Taxonomy>> {
        EMBEDDED
            .get_or_init(|| {
                crate::snapshot::read_snapshot(SNAPSHOT_BYTES)
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .clone()
            .map_err(Error::Snapshot)
    }

    /// Reads a WordNet dict directory: `data.noun`, `index.noun` (NLTK sense numbers) and, when
    /// present, `cntlist.rev` or `cntlist` (SemCor sense counts).
    pub fn from_wordnet_dir(dir: &Path) -> Result<Taxonomy> {
        crate::wordnet::read_dir(dir)
    }

    /// Reads a user is-a edge list (`parent<TAB>child` per line, or two whitespace-separated
    /// fields; `#` comments). Several parents per child are allowed; cycles are rejected.
    pub fn from_isa_file(path: &Path) -> Result<Taxonomy> {
        crate::isa::read_isa_file(path)
    }

    /// Parses an is-a edge list held in memory, in the format of [`Taxonomy::from_isa_file`]
    /// (e.g. a tree derived from another taxonomy); `source` names it in error messages.
    pub fn from_isa_str(text: &str, source: &Path) -> Result<Taxonomy> {
        crate::isa::parse_isa(text, source)
    }

    /// Reads a file of concepts, one per line: the first TAB-separated field counts (so
    /// `wnid<TAB>anything` files work), `#` starts a comment, blank lines are skipped. An unknown
    /// name is an error naming the file and line.
    pub fn read_concept_file(&self, path: &Path) -> Result<Vec<ConceptId>> {
        let file = hiercog_io::LineFile::read(path)?;
        let ids = file
            .lines()
            .map(|(number, line)| {
                let name = line.split('\t').next().unwrap_or("").trim();
                self.id(name)
                    .map_err(|e| file.error(number, e.to_string()).into())
            })
            .collect::<Result<_>>()?;
        Ok(ids)
    }

    /// Picks the source ([`TaxonomySource::choose`]) and loads it.
    pub fn from_env_or_embedded(
        wordnet_dir: Option<&Path>,
        isa_file: Option<&Path>,
    ) -> Result<Arc<Taxonomy>> {
        TaxonomySource::choose(wordnet_dir, isa_file).load()
    }

    /// Number of concepts.
    pub fn len(&self) -> usize {
        self.concepts.len()
    }

    /// True when the taxonomy has no concept.
    pub fn is_empty(&self) -> bool {
        self.concepts.is_empty()
    }

    /// True for WordNet (which has sense counts and NLTK names).
    pub fn is_wordnet(&self) -> bool {
        self.wordnet
    }

    /// Looks a concept up by wnid or user label, with an error that says what is wrong.
    pub fn id(&self, name: &str) -> Result<ConceptId> {
        if let Some(c) = self.get(name) {
            return Ok(c);
        }
        if self.wordnet && !is_wnid(name) {
            return Err(Error::MalformedWnid {
                value: name.to_string(),
            });
        }
        Err(Error::UnknownConcept {
            value: name.to_string(),
        })
    }

    /// Looks a concept up by wnid or user label.
    pub fn get(&self, name: &str) -> Option<ConceptId> {
        self.index.get(name).copied()
    }

    /// Concepts having `lemma` among their lemmas (case-insensitive; spaces match `_`), in id
    /// order: how to find the wnid of "dog".
    pub fn find_by_lemma(&self, lemma: &str) -> Vec<ConceptId> {
        let want = lemma.trim().replace(' ', "_").to_lowercase();
        self.all()
            .filter(|&c| self.lemmas(c).iter().any(|l| l.to_lowercase() == want))
            .collect()
    }

    /// wnid (`n02084071`) or user label.
    pub fn name(&self, c: ConceptId) -> &str {
        &self.concepts[c.index()].name
    }

    /// Lemmas in WordNet order; `lemmas(c)[0]` is the display name (`dog`). A user concept has its label.
    pub fn lemmas(&self, c: ConceptId) -> &[String] {
        &self.concepts[c.index()].lemmas
    }

    /// The WordNet gloss; `None` for user concepts.
    pub fn gloss(&self, c: ConceptId) -> Option<&str> {
        self.concepts[c.index()].gloss.as_deref()
    }

    /// NLTK's synset name (`dog.n.01`) for WordNet, the label otherwise. NLTK sorts tied
    /// lowest common hypernyms by this name, so Wu-Palmer ties depend on it.
    pub fn nltk_name(&self, c: ConceptId) -> String {
        let rc = &self.concepts[c.index()];
        if self.wordnet {
            format!("{}.n.{:02}", rc.lemmas[0].to_lowercase(), rc.sense_number)
        } else {
            rc.name.clone()
        }
    }

    /// Direct parents: hypernyms then instance hypernyms.
    pub fn parents(&self, c: ConceptId) -> &[ConceptId] {
        &self.parents[c.index()]
    }

    /// How many of [`Taxonomy::parents`] are plain hypernyms; the rest are instance hypernyms.
    pub fn n_hypernyms(&self, c: ConceptId) -> usize {
        self.concepts[c.index()].n_hypernyms
    }

    /// Direct children (hyponyms and instances).
    pub fn children(&self, c: ConceptId) -> &[ConceptId] {
        &self.children[c.index()]
    }

    /// Concepts without parents (`entity` alone for WordNet nouns).
    pub fn roots(&self) -> Vec<ConceptId> {
        self.all().filter(|c| self.parents(*c).is_empty()).collect()
    }

    /// All concept ids, in index order.
    pub fn all(&self) -> impl Iterator<Item = ConceptId> + '_ {
        (0..self.len() as u32).map(ConceptId)
    }

    /// Concepts in an order where every parent precedes its children.
    pub fn topological_order(&self) -> &[ConceptId] {
        &self.topo
    }

    /// NLTK sense number of the first lemma (the `01` of `dog.n.01`); 0 for user concepts.
    pub fn sense_number(&self, c: ConceptId) -> u16 {
        self.concepts[c.index()].sense_number
    }

    /// SemCor tag count of a WordNet synset (summed over its senses); 0 for user concepts.
    pub fn sense_count(&self, c: ConceptId) -> u32 {
        self.concepts[c.index()].sense_count
    }

    /// `c` and every concept below it, deduplicated, sorted by id.
    pub fn descendants(&self, c: ConceptId) -> Vec<ConceptId> {
        self.closure(c, |t, x| t.children(x))
    }

    fn closure<'a>(
        &'a self,
        c: ConceptId,
        next: impl Fn(&'a Self, ConceptId) -> &'a [ConceptId],
    ) -> Vec<ConceptId> {
        let mut seen = std::collections::HashSet::new();
        let mut stack = vec![c];
        seen.insert(c);
        while let Some(x) = stack.pop() {
            for &y in next(self, x) {
                if seen.insert(y) {
                    stack.push(y);
                }
            }
        }
        let mut out: Vec<ConceptId> = seen.into_iter().collect();
        out.sort_unstable();
        out
    }

    /// True when `a` subsumes `c` (`a == c` counts).
    pub fn is_ancestor(&self, a: ConceptId, c: ConceptId) -> bool {
        if a == c {
            return true;
        }
        if self.max_depth[a.index()] >= self.max_depth[c.index()] {
            return false;
        }
        let mut seen = std::collections::HashSet::new();
        let mut stack = vec![c];
        while let Some(x) = stack.pop() {
            for &p in self.parents(x) {
                if p == a {
                    return true;
                }
                // A parent at max depth <= a's cannot lead to a (a's descendants are deeper).
                if self.max_depth[p.index()] > self.max_depth[a.index()] && seen.insert(p) {
                    stack.push(p);
                }
            }
        }
        false
    }

    /// Length of the shortest path up to a root (NLTK `min_depth`; roots have 0).
    pub fn min_depth(&self, c: ConceptId) -> usize {
        self.min_depth[c.index()] as usize
    }

    /// The largest [`Taxonomy::max_depth`] of any concept (19 for WordNet nouns): NLTK's
    /// `_compute_max_depth`, the `D` of Leacock-Chodorow.
    pub fn taxonomy_max_depth(&self) -> usize {
        self.max_depth.iter().copied().max().unwrap_or(0) as usize
    }

    /// Length of the longest path up to a root (NLTK `max_depth`).
    pub fn max_depth(&self, c: ConceptId) -> usize {
        self.max_depth[c.index()] as usize
    }

    /// Every path from a root down to `c` (root first, `c` last), in NLTK's `hypernym_paths` order.
    pub fn hypernym_paths(&self, c: ConceptId) -> Vec<Vec<ConceptId>> {
        let ps = self.parents(c);
        if ps.is_empty() {
            return vec![vec![c]];
        }
        let mut out = Vec::new();
        for &p in ps {
            for mut path in self.hypernym_paths(p) {
                path.push(c);
                out.push(path);
            }
        }
        out
    }

    /// Upward breadth-first distances from `c` to each of its ancestors (itself at 0), as
    /// NLTK's `_shortest_hypernym_paths`; sorted by concept id.
    pub fn ancestor_distances(&self, c: ConceptId) -> Vec<(ConceptId, u32)> {
        // Breadth-first: the first visit of a concept is at its shortest distance. Ancestor sets
        // are small (tens), so the output vector doubles as the visited set (cheaper than hashing).
        let mut out: Vec<(ConceptId, u32)> = vec![(c, 0)];
        let mut head = 0;
        while head < out.len() {
            let (x, d) = out[head];
            head += 1;
            for &p in self.parents(x) {
                if !out.iter().any(|&(y, _)| y == p) {
                    out.push((p, d + 1));
                }
            }
        }
        out.sort_unstable();
        out
    }

    /// `c` and every concept above it, deduplicated, sorted by id.
    pub fn ancestors(&self, c: ConceptId) -> Vec<ConceptId> {
        self.ancestor_distances(c)
            .into_iter()
            .map(|(a, _)| a)
            .collect()
    }

    /// Lowest common subsumers of `a` and `b` as NLTK's `lowest_common_hypernyms(use_min_depth=True)`:
    /// the common ancestors of greatest `min_depth`, sorted by NLTK name. Empty when none.
    pub fn lowest_common_subsumers(&self, a: ConceptId, b: ConceptId) -> Vec<ConceptId> {
        let common = self.common_ancestors(a, b);
        let Some(best) = common.iter().map(|c| self.min_depth(*c)).max() else {
            return Vec::new();
        };
        let mut out: Vec<ConceptId> = common
            .into_iter()
            .filter(|c| self.min_depth(*c) == best)
            .collect();
        out.sort_by_cached_key(|c| self.nltk_name(*c));
        out
    }

    /// Concepts subsuming both `a` and `b` (each included if it subsumes the other), sorted by id.
    pub fn common_ancestors(&self, a: ConceptId, b: ConceptId) -> Vec<ConceptId> {
        let aa = self.ancestors(a);
        let bb = self.ancestors(b);
        intersect_sorted(&aa, &bb)
    }

    /// Everything known about `c`, concepts named by wnid or label: what `hiercog taxonomy show
    /// --json` prints and the Python package's `Taxonomy.synset` returns.
    pub fn info(&self, c: ConceptId) -> ConceptInfo {
        let names = |xs: &[ConceptId]| xs.iter().map(|&x| self.name(x).to_string()).collect();
        let nh = self.n_hypernyms(c);
        ConceptInfo {
            id: self.name(c).to_string(),
            name: self.nltk_name(c),
            lemmas: self.lemmas(c).to_vec(),
            gloss: self.gloss(c).map(str::to_string),
            min_depth: self.min_depth(c),
            max_depth: self.max_depth(c),
            hypernyms: names(&self.parents(c)[..nh]),
            instance_hypernyms: names(&self.parents(c)[nh..]),
            children: names(self.children(c)),
            hypernym_paths: self.hypernym_paths(c).iter().map(|p| names(p)).collect(),
        }
    }
}

/// A concept described by names: [`Taxonomy::info`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ConceptInfo {
    /// wnid or user label.
    pub id: String,
    /// NLTK's synset name (`dog.n.01`), the label for user concepts.
    pub name: String,
    /// Lemmas in WordNet order.
    pub lemmas: Vec<String>,
    /// The WordNet gloss; `None` for user concepts.
    pub gloss: Option<String>,
    /// Shortest path length up to a root.
    pub min_depth: usize,
    /// Longest path length up to a root.
    pub max_depth: usize,
    /// Direct hypernyms (is-a parents).
    pub hypernyms: Vec<String>,
    /// Direct instance hypernyms.
    pub instance_hypernyms: Vec<String>,
    /// Direct hyponyms.
    pub children: Vec<String>,
    /// Every path from a root down to the concept, root first.
    pub hypernym_paths: Vec<Vec<String>>,
}

/// Intersection of two id-sorted lists.
pub(crate) fn intersect_sorted(a: &[ConceptId], b: &[ConceptId]) -> Vec<ConceptId> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// True for `n` + 8 ASCII digits.
pub fn is_wnid(s: &str) -> bool {
    s.len() == 9 && s.starts_with('n') && s[1..].bytes().all(|b| b.is_ascii_digit())
}

/// Names a few concepts left on a cycle after Kahn's algorithm removed everything else.
fn describe_cycle(concepts: &[RawConcept], parents: &[Vec<ConceptId>], indeg: &[usize]) -> String {
    // Walk parent links among the remaining nodes until one repeats.
    let Some(start) = (0..concepts.len()).find(|&i| indeg[i] > 0) else {
        return String::from("?");
    };
    let mut order = vec![start];
    let mut pos = HashMap::from([(start, 0usize)]);
    let mut cur = start;
    while let Some(next) = parents[cur]
        .iter()
        .map(|p| p.index())
        .find(|&p| indeg[p] > 0)
    {
        if let Some(&k) = pos.get(&next) {
            let cyc: Vec<&str> = order[k..]
                .iter()
                .chain([&next])
                .map(|&i| concepts[i].name.as_str())
                .collect();
            return cyc.join(" -> parent ");
        }
        pos.insert(next, order.len());
        order.push(next);
        cur = next;
    }
    concepts[start].name.clone()
}

/// Where a taxonomy comes from; printed as the label manifests record (`builtin:wordnet-3.0`,
/// `wordnet-dir:PATH`, `isa:PATH`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaxonomySource {
    /// The embedded WordNet 3.0 snapshot.
    Embedded,
    /// A WordNet dict directory.
    WordNetDir(PathBuf),
    /// A user is-a edge list.
    IsaFile(PathBuf),
}

impl TaxonomySource {
    /// An is-a file if given, else a WordNet dir (argument, then the `WORDNET_DIR` environment
    /// variable), else the embedded snapshot.
    pub fn choose(wordnet_dir: Option<&Path>, isa_file: Option<&Path>) -> Self {
        if let Some(f) = isa_file {
            return TaxonomySource::IsaFile(f.to_path_buf());
        }
        if let Some(d) = wordnet_dir {
            return TaxonomySource::WordNetDir(d.to_path_buf());
        }
        match std::env::var_os("WORDNET_DIR") {
            Some(d) if !d.is_empty() => TaxonomySource::WordNetDir(PathBuf::from(d)),
            _ => TaxonomySource::Embedded,
        }
    }

    /// Loads the taxonomy (the embedded one is decoded once per process).
    pub fn load(&self) -> Result<Arc<Taxonomy>> {
        match self {
            TaxonomySource::Embedded => Taxonomy::wordnet(),
            TaxonomySource::WordNetDir(d) => Ok(Arc::new(Taxonomy::from_wordnet_dir(d)?)),
            TaxonomySource::IsaFile(f) => Ok(Arc::new(Taxonomy::from_isa_file(f)?)),
        }
    }
}

impl std::fmt::Display for TaxonomySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TaxonomySource::Embedded => f.write_str("builtin:wordnet-3.0"),
            TaxonomySource::WordNetDir(d) => write!(f, "wordnet-dir:{}", d.display()),
            TaxonomySource::IsaFile(p) => write!(f, "isa:{}", p.display()),
        }
    }
}
