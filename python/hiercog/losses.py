"""Label trees and the tensors of hierarchy-aware losses ("Making Better Mistakes"), as numpy arrays.

``LabelTree(labels)`` builds the tree whose leaves are a classifier's classes; its arrays plug into
a PyTorch (or numpy, JAX, ...) loss, and ``LabelTree.loss`` gives hiercog's own value to check it.
"""

from ._hiercog import LabelTree

__all__ = ["LabelTree"]
