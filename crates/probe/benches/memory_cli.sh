#!/usr/bin/env bash
# Peak memory of `hiercog probe` as a user runs it, against the number of training rows: for each
# N, a float32 .npy feature directory of N × DIM (CLASSES classes) and a fixed 10,000-row test set
# are written (numpy, in chunks), then `hiercog probe` runs one seed of the fast protocol on them
# (a one-point λ path at a strong λ, so that it converges in a few iterations: the memory
# structure of a full run, a fraction of its compute) under `/usr/bin/time`. Prints one
# markdown row per N: feature GiB (train + test), peak resident set, and the overhead above the
# features, which should stay flat as N grows.
#   crates/probe/benches/memory_cli.sh OUT_DIR [N...]      (default N: 50000 100000 300000)
# Env: DIM (2048), CLASSES (1000), HIERCOG (default: the release binary, built if missing).
set -euo pipefail
OUT=${1:?usage: memory_cli.sh OUT_DIR [N...]}
shift
SIZES=${*:-50000 100000 300000}
DIM=${DIM:-2048}
CLASSES=${CLASSES:-1000}
HERE="$(cd "$(dirname "$0")" && pwd)"
cd "$HERE/../../.."
if [ -z "${HIERCOG:-}" ]; then
  cargo build --release -q -p hiercog
  HIERCOG=target/release/hiercog
fi
mkdir -p "$OUT"

# A Gaussian mixture written straight into .npy files (numpy's open_memmap), 20,000 rows at a time.
gen() {
  python3 - "$1" "$2" "$DIM" "$CLASSES" "$3" <<'EOF'
import sys, numpy as np
from numpy.lib.format import open_memmap
out, n, dim, classes, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
import os
os.makedirs(out, exist_ok=True)
means = np.random.default_rng(0).standard_normal((classes, dim), dtype=np.float32)
rng = np.random.default_rng(seed)
x = open_memmap(os.path.join(out, "X.npy"), mode="w+", dtype=np.float32, shape=(n, dim))
y = np.arange(n, dtype=np.int64) % classes
for s in range(0, n, 20000):
    e = min(n, s + 20000)
    x[s:e] = means[y[s:e]] + 2.0 * rng.standard_normal((e - s, dim), dtype=np.float32)
x.flush()
np.save(os.path.join(out, "Y.npy"), y)
EOF
}

# Sets are kept for re-runs, named by their shape so that another DIM or CLASSES regenerates them.
test="$OUT/test_${DIM}_${CLASSES}"
[ -f "$test/X.npy" ] || gen "$test" 10000 1
echo "CPU: $(lscpu | grep 'Model name' | sed 's/.*: *//'); D = $DIM, C = $CLASSES, test rows 10,000"
echo
echo "| train rows | features GiB (train + test) | peak RSS GiB | overhead GiB | wall s |"
echo "|--:|--:|--:|--:|--:|"
for n in $SIZES; do
  dir="$OUT/train_${n}_${DIM}_${CLASSES}"
  [ -f "$dir/X.npy" ] || gen "$dir" "$n" 2
  /usr/bin/time -f "%M %e" -o "$OUT/rss_$n.txt" "$HIERCOG" probe --train "$dir" --test "$test" \
    --seeds 1 --trials 1 --l2-range 1e-2,1e-2 --json > "$OUT/probe_$n.json"
  python3 - "$n" "$DIM" $(tail -1 "$OUT/rss_$n.txt") <<'EOF'
import sys
n, dim, rss_kib, wall = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
gib = 1 << 30
features = (n + 10000) * dim * 4 / gib
peak = rss_kib * 1024 / gib
print(f"| {n:,} | {features:.2f} | {peak:.2f} | {peak - features:.2f} | {wall:.0f} |")
EOF
done
