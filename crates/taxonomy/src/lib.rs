//! hiercog-taxonomy (being written).
