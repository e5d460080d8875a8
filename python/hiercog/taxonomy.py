"""The concept hierarchy: WordNet 3.0 nouns (embedded), another WordNet, or a user is-a file."""

from ._hiercog import Taxonomy

__all__ = ["Taxonomy"]
