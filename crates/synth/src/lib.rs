//! hiercog-synth (being written).
