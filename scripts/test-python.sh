#!/usr/bin/env bash
# The Python package's tests (python/, issue 17), run by scripts/test.sh after the Rust tests:
# a virtual environment in target/python-venv, the package installed with the README's command
# (maturin and numpy come from PyPI), then its pytest suite, whose parity tests compare with the
# `hiercog` binary of the same checkout (target/release/hiercog, built by scripts/test.sh's
# `cargo test --release --workspace`; alone: `cargo build --release -p hiercog` first).
# Usage: scripts/test-python.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=target/python-venv
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install --quiet pytest
"$VENV/bin/pip" install --quiet ./python
"$VENV/bin/pytest" -q python/tests
