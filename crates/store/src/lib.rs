//! hiercog-store (being written).
