"""Retrieval metrics: mAP, recall@k and hierarchical AP (H-AP) by exact search."""

from ._hiercog import retrieval_metrics

__all__ = ["retrieval_metrics"]
