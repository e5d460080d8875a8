//! hiercog-pickle (being written).
