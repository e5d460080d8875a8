#!/usr/bin/env bash
# What whole-backbone training costs here, and candle against PyTorch on the same shapes, run back
# to back in one go (timings on a shared machine move; the ratios within one run are what to quote).
#   crates/train/benches/run_compare.sh [WIDTH 16] [SIZE 64] [BATCH 64] [ITERS 5] [EPOCH_IMAGES 512]
# Needs `pip install torch` for the PyTorch half. Prints JSON lines, then the ratios.
set -euo pipefail
cd "$(dirname "$0")/../../.."
W=${1:-16}; S=${2:-64}; B=${3:-64}; I=${4:-5}; N=${5:-512}
lscpu | grep 'Model name' || true
out=$(mktemp)
cargo bench -q -p hiercog-train --bench train_cost -- "$W" "$S" "$B" "$I" | sed 's/^/candle /' | tee -a "$out"
python3 crates/train/benches/compare_pytorch.py "$W" "$S" "$B" "$I" | sed 's/^/torch /' | tee -a "$out"
cargo bench -q -p hiercog-train --bench train_cost -- epoch "$N" "$W" | sed 's/^/candle /' | tee -a "$out"
python3 - "$out" <<'PY'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    tool, js = line.split(" ", 1)
    d = json.loads(js)
    rows[(tool, d["what"].split("-")[0])] = d
for what in ("conv3x3", "resnet18"):
    c, t = rows[("candle", what)], rows[("torch", what)]
    for k in ("forward_s", "forward_backward_s"):
        print(f"{what} {k}: candle {c[k]:.4f} s, torch {t[k]:.4f} s, torch/candle = {t[k] / c[k]:.2f}")
PY
rm -f "$out"
