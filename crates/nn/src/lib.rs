//! hiercog-nn (being written).
