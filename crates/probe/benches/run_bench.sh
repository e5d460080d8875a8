#!/usr/bin/env bash
# Probe benchmark: hiercog (fast, sgd) vs the PyTorch reference protocol and scikit-learn, same data.
#   crates/probe/benches/run_bench.sh OUT_DIR
# Knobs (environment): TORCH_TRIALS/TORCH_EPOCHS and SGD_TRIALS/SGD_EPOCHS shrink the reference-style
# searches on shape A (their full 31 fits x 100 epochs is then extrapolated linearly, and the table
# says so); RUN_B=0 skips shape B. On shape B hiercog fast runs in full (≈20 min); the reference and
# hiercog sgd time one trial's epochs and extrapolate (the table says so).
set -euo pipefail
OUT=${1:?usage: run_bench.sh OUT_DIR}
mkdir -p "$OUT"
cd "$(dirname "$0")/../../.."
BENCH="cargo bench -q -p hiercog-probe --bench probe_bench --"
REF="python3 crates/probe/benches/reference.py"
cargo bench -q -p hiercog-probe --bench probe_bench --no-run

$BENCH peak 4096 2048 1000 > "$OUT/peak.json"
# Shape A: N=20,000 D=512 C=100.
$BENCH gen "$OUT/A" 20000 512 100 0 0.6
$BENCH gemms 20000 512 100 > "$OUT/A_gemms.json"
$BENCH run "$OUT/A" fast > "$OUT/A_fast.json"
$REF sklearn "$OUT/A" > "$OUT/A_sklearn.json"
$BENCH run "$OUT/A" sgd "${SGD_TRIALS:-30}" "${SGD_EPOCHS:-100}" > "$OUT/A_sgd.json"
$REF torch "$OUT/A" --trials "${TORCH_TRIALS:-30}" --epochs "${TORCH_EPOCHS:-100}" > "$OUT/A_torch.json"
if [ "${RUN_B:-1}" = 1 ]; then
  # Shape B: N=100,000 D=2048 C=1,000, less noise than A so that 100 rows per class still give a
  # realistic accuracy (≈87 % top-1; at A's noise every solver is near chance there).
  $BENCH gen "$OUT/B" 100000 2048 1000 0 0.2
  $BENCH gemms 100000 2048 1000 > "$OUT/B_gemms.json"
  $BENCH run "$OUT/B" fast > "$OUT/B_fast.json"
  $BENCH run "$OUT/B" sgd 1 "${B_EPOCHS:-1}" > "$OUT/B_sgd.json"
  $REF torch "$OUT/B" --trials 1 --epochs "${B_EPOCHS:-1}" > "$OUT/B_torch.json"
fi
python3 crates/probe/benches/table.py "$OUT"
