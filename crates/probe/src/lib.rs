//! hiercog-probe (being written).
