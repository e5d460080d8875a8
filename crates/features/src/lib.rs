//! hiercog-features (being written).
