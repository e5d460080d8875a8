"""Linear and k-NN probes on frozen features, the CoG protocol, and hierarchical metrics."""

from ._hiercog import LinearProbe, hdist_at_k, knn_predict, mistake_severity, run_protocol

__all__ = ["LinearProbe", "hdist_at_k", "knn_predict", "mistake_severity", "run_protocol"]
