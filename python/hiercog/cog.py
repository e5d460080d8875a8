"""ImageNet-CoG levels: the level builder for any seen set, pool and taxonomy; the official pickles."""

from ._hiercog import Benchmark, build_levels, import_official, read_official_levels

__all__ = ["Benchmark", "build_levels", "import_official", "read_official_levels"]
