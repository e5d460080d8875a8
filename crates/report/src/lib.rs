//! hiercog-report (being written).
