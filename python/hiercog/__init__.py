"""hiercog from Python: the concept hierarchy, ImageNet-CoG levels, probes and hierarchy tensors.

Every number is computed by hiercog's Rust libraries (the extension module ``hiercog._hiercog``);
this package arranges them by subject:

- :class:`hiercog.Taxonomy` (also ``hiercog.taxonomy``): WordNet 3.0 nouns or your own is-a file,
  NLTK's six similarity measures vectorised over pairs, LCA-height distance matrices, synset info.
- ``hiercog.cog``: the CoG level builder and the official pickles.
- ``hiercog.probe``: :class:`~hiercog.probe.LinearProbe` (scikit-learn style), the CoG protocol
  (``run_protocol``), the k-NN probe, mistake severity and hierarchical distance@k.
- ``hiercog.retrieval``: mAP, recall@k and hierarchical AP.
- ``hiercog.losses``: :class:`~hiercog.losses.LabelTree` and the tensors of hierarchy-aware losses
  (soft labels, HXE weights, the leaf-to-ancestor matrix) as numpy arrays, with hiercog's own loss
  values to check a PyTorch implementation against.

Errors of the libraries are raised as :class:`HiercogError` subclasses (all ``ValueError``) with
the libraries' messages; bad arrays (wrong dtype, not C-contiguous) raise ``TypeError`` or
``ValueError`` saying which conversion to apply. Long computations release the GIL.
"""

from ._hiercog import (
    CogError,
    FeaturesError,
    HiercogError,
    LossesError,
    ProbeError,
    RetrievalError,
    Taxonomy,
    TaxonomyError,
    __version__,
)
from . import cog, losses, probe, retrieval, taxonomy

__all__ = [
    "CogError",
    "FeaturesError",
    "HiercogError",
    "LossesError",
    "ProbeError",
    "RetrievalError",
    "Taxonomy",
    "TaxonomyError",
    "__version__",
    "cog",
    "losses",
    "probe",
    "retrieval",
    "taxonomy",
]
