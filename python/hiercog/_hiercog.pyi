"""Type stubs of hiercog's extension module (crates/python), with the documentation of each call.

Arrays: features are ``float32`` matrices of shape (rows, dim), C-contiguous; they are read in place
(no copy), and anything else is refused with the conversion to apply. Labels are any integer array
or sequence of class indices 0..C-1. Returned arrays are handed over from Rust without a copy.
Every long computation releases the GIL. ``progress`` callbacks receive one dict per event
(``{"event": ..., ...}``), called from worker threads; an exception they raise is re-raised once
the computation returns.
"""

from os import PathLike
from typing import Any, Callable, Dict, List, Literal, Optional, Sequence, Tuple, Union, overload

import numpy as np
import numpy.typing as npt

__version__: str

class HiercogError(ValueError):
    """An error reported by one of hiercog's libraries; the message is the library's."""

class TaxonomyError(HiercogError): ...
class CogError(HiercogError): ...
class FeaturesError(HiercogError): ...
class ProbeError(HiercogError): ...
class LossesError(HiercogError): ...
class RetrievalError(HiercogError): ...

Path = Union[str, PathLike]
Progress = Optional[Callable[[Dict[str, Any]], None]]
Features = npt.NDArray[np.float32]
Labels = Union[npt.NDArray[np.integer], Sequence[int]]
Concepts = Union[Sequence[str], npt.NDArray[np.uint32]]
Measure = Literal["path", "lch", "wup", "res", "lin", "jcn"]
Convention = Literal["height", "lca", "padded"]

class Taxonomy:
    """A concept hierarchy: WordNet 3.0 nouns (embedded), another WordNet, or a user is-a file.

    Concepts are named by wnid (``n02084071``) or, for an is-a file, by its labels. Information
    contents are computed once per taxonomy and kept.
    """

    @staticmethod
    def wordnet() -> Taxonomy:
        """The embedded WordNet 3.0 noun hierarchy (82,115 synsets; decoded once, ~0.2 s)."""
    @staticmethod
    def from_isa(path: Path) -> Taxonomy:
        """A user is-a file: ``parent<TAB>child`` lines (a DAG; ``#`` comments)."""
    @staticmethod
    def from_wordnet_dir(path: Path) -> Taxonomy:
        """A WordNet dict directory (``data.noun``, ``index.noun``, optional ``cntlist.rev``)."""
    @property
    def source(self) -> str:
        """How it was loaded: ``builtin:wordnet-3.0``, ``isa:PATH`` or ``wordnet-dir:PATH``."""
    def __len__(self) -> int: ...
    def __contains__(self, name: str) -> bool: ...
    def ids(self, names: Sequence[str]) -> npt.NDArray[np.uint32]:
        """The concepts' ids, for fast repeated calls (``similarity`` takes them as arrays)."""
    def names(self, ids: Union[str, Concepts]) -> List[str]:
        """The names of ids."""
    def synset(self, name: str) -> Dict[str, Any]:
        """``{"id", "name" (dog.n.01), "lemmas", "gloss", "min_depth", "max_depth", "hypernyms",
        "instance_hypernyms", "children", "hypernym_paths"}`` (as ``hiercog taxonomy show --json``)."""
    def find(self, lemma: str) -> List[str]:
        """The concepts having ``lemma`` among their lemmas (``find("dog")``)."""
    @overload
    def ic(self, concepts: str, source: str = "semcor") -> float: ...
    @overload
    def ic(self, concepts: Concepts, source: str = "semcor") -> npt.NDArray[np.float64]:
        """Information content: ``semcor``, ``intrinsic``, ``imagenet21k`` or ``counts:FILE``
        (1e300 stands for infinity, as in NLTK)."""
    @overload
    def similarity(self, a: str, b: str, measure: Measure = "path", ic: Optional[str] = None) -> float: ...
    @overload
    def similarity(
        self, a: Union[str, Concepts], b: Union[str, Concepts], measure: Measure = "path",
        ic: Optional[str] = None,
    ) -> npt.NDArray[np.float64]:
        """Similarity of ``a`` and ``b`` exactly as NLTK 3.10 computes it (path, lch, wup; res, lin,
        jcn need ``ic``). Two names give a float (an undefined value raises); sequences of names
        or uint32 id arrays give one value per pair (NaN where undefined, e.g. lin of the root
        with itself), a single name against many is broadcast. Parallel, without the GIL."""
    def set_similarity(
        self, concepts: Union[str, Concepts], set: Union[str, Concepts], measure: Measure = "lin",
        ic: Optional[str] = None,
    ) -> Tuple[npt.NDArray[np.float64], List[str]]:
        """Concept-to-set similarity S(c) = max over members s of sim(c, s) for each concept, and the
        member reaching it (the first listed on ties): how CoG ranks the pool against the seen set."""
    def distances(
        self, labels: Sequence[str], convention: Convention = "height",
        hierarchy: Optional[Sequence[str]] = None,
    ) -> npt.NDArray[np.float64]:
        """LCA-height distances of all pairs of ``labels``, (n, n): ``height`` (the lowest common
        ancestor's height in the hierarchy the labels induce) or ``padded`` (making-better-mistakes'
        files). ``hierarchy``: more concepts whose induced hierarchy the distances are measured in
        (a whole benchmark's, so that several label sets' distances compare)."""

class Benchmark:
    """CoG levels with their ranking and manifest (``cog.build_levels``, ``cog.import_official``)."""

    @property
    def level_names(self) -> List[str]: ...
    @property
    def levels(self) -> List[Dict[str, Any]]:
        """``[{"name": "L1", "concepts": [{"wnid", "lemma", "similarity", "nearest_seen",
        "nearest_seen_lemma"}, ...]}, ...]``, L1 (closest to the seen set) first."""
    def wnids(self, name: str) -> List[str]:
        """The level's wnids sorted: class i of the level's features is the i-th (naver/cog)."""
    @property
    def ranking(self) -> List[Dict[str, Any]]:
        """Every eligible concept, most similar to the seen set first."""
    @property
    def removed(self) -> List[Dict[str, str]]:
        """Pool concepts the filters removed: ``{"wnid", "filter"}``."""
    @property
    def manifest(self) -> Dict[str, Any]:
        """Inputs (with SHA-256), parameters, filter reports, level summaries, notes."""
    def write(self, out: Path, *, force: bool = False, plots: bool = True, progress: Progress = None) -> None:
        """Writes the benchmark directory (as ``hiercog cog build``) atomically."""
    def __len__(self) -> int: ...

def build_levels(
    seen: Union[str, Sequence[str], None] = None, pool: Union[str, Sequence[str], None] = None, *,
    taxonomy: Optional[Taxonomy] = None, preset: Literal["imagenet-cog", "generic"] = "imagenet-cog",
    levels: int = 5, per_level: int = 1000, cuts: str = "blocks", measure: Measure = "lin",
    ic: str = "pool-subtree", counts: Union[Path, Dict[str, int], None] = None,
    skip_unknown: bool = False, allow_smaller: bool = False,
) -> Benchmark:
    """CoG levels: filter the pool (preset), rank it by S(c) = max over seen s of sim(c, s), cut it.

    ``seen``/``pool``: ``"in1k"``, ``"in21k"``, a file of names, or a list (defaults: IN-1K, IN-21K).
    ``cuts``: ``blocks``, ``spread``, ``equal-width`` or ``thresholds:T1,T2,...``. ``ic``:
    ``pool-subtree``, ``image-counts`` (needs ``counts``), ``intrinsic``, ``semcor``,
    ``imagenet21k``, ``counts:FILE``. ``counts``: images per concept (enables the min-images filter).
    """

def read_official_levels(path: Path) -> List[List[str]]:
    """The official ``cog_levels_mapping_file.pkl`` (read by the restricted unpickler), L1 first."""

def import_official(
    levels_pkl: Path, splits_pkl: Optional[Path] = None, *, seen: Union[str, Sequence[str], None] = None,
    pool: Union[str, Sequence[str], None] = None, taxonomy: Optional[Taxonomy] = None,
    measure: Measure = "lin", ic: str = "pool-subtree", skip_unknown: bool = False,
    images_root: Optional[Path] = None,
) -> Benchmark:
    """The official level (and split) pickles as a Benchmark, each concept scored against ``seen``."""

class LinearProbe:
    """Multinomial logistic regression, scikit-learn style (``fit``/``predict``/``score``).

    ``solver="lbfgs"`` (full-batch L-BFGS, hiercog's fast solver) minimises the mean cross-entropy
    plus ``l2/2·|W|²``, with ``l2 = 1/(C·rows)`` unless ``l2`` is given: scikit-learn's
    ``LogisticRegression(C=c)``. ``tol`` is the gradient tolerance. ``solver="sgd"``: the naver/cog
    reference's SGD (``lr``, ``weight_decay``, ``momentum``, ``epochs``, ``batch_size``, ``seed``).
    """

    def __init__(
        self, c: float = 1.0, *, l2: Optional[float] = None, solver: Literal["lbfgs", "sgd"] = "lbfgs",
        tol: float = 1e-4, max_iter: int = 100, history: int = 10, lr: float = 1.0,
        weight_decay: float = 1e-6, momentum: float = 0.9, epochs: int = 100, batch_size: int = 1024,
        seed: int = 0,
    ) -> None: ...
    def fit(self, x: Features, y: Labels, *, num_classes: Optional[int] = None, progress: Progress = None) -> LinearProbe:
        """Fits on ``x`` (read in place). Classes: ``num_classes``, else ``max(y) + 1``."""
    def decision_function(self, x: Features) -> npt.NDArray[np.float32]:
        """Logits, (rows, n_classes)."""
    def predict(self, x: Features) -> npt.NDArray[np.uint32]: ...
    def predict_topk(self, x: Features, k: int = 5) -> npt.NDArray[np.uint32]:
        """The k best classes of each row, best first, (rows, k)."""
    def score(self, x: Features, y: Labels) -> float:
        """Accuracy in [0, 1]."""
    def loss(self, x: Features, y: Labels) -> float:
        """Mean cross-entropy."""
    @property
    def coef_(self) -> npt.NDArray[np.float32]:
        """(n_classes, n_features)."""
    @property
    def intercept_(self) -> npt.NDArray[np.float32]: ...
    @property
    def n_classes_(self) -> int: ...
    @property
    def n_features_in_(self) -> int: ...
    @property
    def n_iter_(self) -> int: ...
    @property
    def fit_info_(self) -> Dict[str, Any]:
        """iterations, converged, objective, seconds, GEMM flops, ..."""

def run_protocol(
    train: Tuple[Features, Labels], test: Tuple[Features, Labels], *,
    shots: Union[int, None, Sequence[Optional[int]]] = None, seeds: Sequence[int] = (22, 37, 45, 77, 93),
    solver: Literal["fast", "sgd"] = "fast", preprocess: Literal["l2", "standardize", "none"] = "l2",
    knn: bool = False, knn_k: int = 20, trials: Optional[int] = None,
    l2_range: Optional[Tuple[float, float]] = None, epochs: Optional[int] = None,
    allow_fewer: bool = False, class_names: Optional[Sequence[str]] = None,
    taxonomy: Optional[Taxonomy] = None, convention: Convention = "height",
    hierarchy: Optional[Sequence[str]] = None, distances: Optional[npt.NDArray[np.float64]] = None,
    progress: Progress = None,
) -> List[Dict[str, Any]]:
    """The ImageNet-CoG protocol, as ``hiercog probe`` runs it, for every (shots, seed): split,
    hyper-parameter search, final fit, test top-1/top-5 (percent), loss, optional k-NN and, given
    ``class_names`` (concepts of ``taxonomy``, default WordNet) or a ``distances`` matrix,
    mistake severity and hierarchical distance@1/@5. One dict per run (the CLI's ``--json``).
    The train and test sets are checked (finite, every class present, same dimension)."""

def knn_predict(
    train: Tuple[Features, Labels], x: Features, *, k: int = 20, temperature: float = 0.07, keep: int = 5,
) -> npt.NDArray[np.uint32]:
    """DINO's weighted k-NN on cosine similarity: the ``keep`` best classes per row, best first."""

def mistake_severity(
    predictions: npt.NDArray[np.integer], y: Labels, distances: npt.NDArray[np.float64],
) -> Optional[float]:
    """Mean distance between the top-1 prediction and the truth over the mistakes (None: no
    mistake). ``predictions``: (rows,) or (rows, k) best first; ``distances``: (C, C)."""

def hdist_at_k(
    predictions: npt.NDArray[np.integer], y: Labels, distances: npt.NDArray[np.float64], k: int = 5,
) -> float:
    """Mean over rows of the mean distance of the top-k predictions to the truth."""

def retrieval_metrics(
    gallery: Tuple[Features, Labels], queries: Optional[Tuple[Features, Labels]] = None, *,
    metric: Literal["cosine", "ip", "l2"] = "cosine", recall_at: Sequence[int] = (1, 5, 10),
    class_names: Optional[Sequence[str]] = None, taxonomy: Optional[Taxonomy] = None,
    alpha: float = 1.0, progress: Progress = None,
) -> Dict[str, Any]:
    """``{"queries", "map", "recall_at": {k: value}, "hap"}`` by exact search of the whole gallery
    (leave-one-out when ``queries`` is None); ``hap`` (hierarchical AP, the H-AP authors'
    relevances) when ``class_names`` name the classes in ``taxonomy`` (default WordNet)."""

class LabelTree:
    """The tree whose leaves are a classifier's classes (class i = ``labels[i]``), built from a
    taxonomy (default WordNet) by ``rule`` (``longest``, ``first``, ``shortest``) for the DAG's
    extra parents; single-child concepts are merged away (as fiveai/making-better-mistakes)."""

    def __init__(self, labels: Sequence[str], taxonomy: Optional[Taxonomy] = None, rule: str = "longest") -> None: ...
    @property
    def num_classes(self) -> int: ...
    @property
    def num_nodes(self) -> int: ...
    @property
    def labels(self) -> List[str]: ...
    @property
    def node_names(self) -> List[str]:
        """Node names in node order: the columns of the (C, N) arrays."""
    @property
    def parents(self) -> List[int]:
        """Parent node of each node, -1 for the root."""
    @property
    def dropped_edges(self) -> List[Tuple[str, str]]: ...
    @property
    def collapsed_nodes(self) -> List[str]: ...
    @property
    def isa_text(self) -> str: ...
    def distances(self, convention: Convention = "padded") -> npt.NDArray[np.float64]:
        """LCA-height distances between the classes, (C, C)."""
    def soft_labels(self, beta: float, convention: Convention = "padded") -> npt.NDArray[np.float32]:
        """Soft-label targets, (C, C): row t = softmax(-beta·d(·, t)/max d) (recipe ``soft:β``)."""
    def hxe_edge_weights(self, alpha: float, weighting: Literal["reference", "paper"] = "reference") -> npt.NDArray[np.float32]:
        """Weight of the edge above each node, (N,), 0 for the root (recipes ``hxe:α``, ``hxe-paper:α``)."""
    def hxe_path_coefficients(self, alpha: float, weighting: Literal["reference", "paper"] = "reference") -> npt.NDArray[np.float32]:
        """K, (C, N): HXE(t) = sum_n K[t, n]·log P(n), P = softmax(logits) @ M."""
    def leaf_ancestor_matrix(self) -> npt.NDArray[np.float32]:
        """M, (C, N), 0/1: M[t, n] = 1 when node n is class t's leaf or one of its ancestors."""
    def loss(self, recipe: str, logits: Features, targets: Labels) -> float:
        """hiercog's own batch-mean loss (``ce``, ``ce:ε``, ``hxe:α``, ``hxe-paper:α``, ``soft:β``,
        ``soft-ce:β``, ``soft:β:height``), to check another framework's implementation against."""
