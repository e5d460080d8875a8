//! hiercog-cog (being written).
