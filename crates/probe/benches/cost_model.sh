#!/usr/bin/env bash
# The probe stage's cost model (`hiercog plan --estimate`): measures the full fast protocol on
# the shapes of cost_grid.tsv, one thread each (CPU seconds = core-seconds of work), then fits
# the model and writes the coefficients the library compiles in.
#   crates/probe/benches/cost_model.sh [WORK_DIR]
# Writes crates/probe/benches/cost_model.tsv (the measurements, one line per protocol run) and
# crates/probe/data/cost_model.tsv (the coefficients, the CPU, the date and the held-out error).
# Timing is CPU time (user + system) of a one-thread pool, so other jobs' load changes it less
# than wall time; it still moves with cache sharing and frequency on a loaded machine.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
cd "$HERE/../../.."
WORK=${1:-$(mktemp -d)}
mkdir -p "$WORK"
# One build, copied: later edits of the tree do not rebuild it between runs.
BIN=$(cargo bench -p hiercog-probe --bench probe_bench --no-run 2>&1 | sed -n 's/.*Executable.*(\(.*\))/\1/p')
cp "$BIN" "$WORK/probe_bench"
BENCH="$WORK/probe_bench"
OUT=crates/probe/benches/cost_model.tsv
CPU=$(lscpu | grep 'Model name' | sed 's/.*: *//')
{
  echo "# Measured by crates/probe/benches/cost_model.sh on $CPU ($(nproc) cores), $(date -u +%Y-%m-%d);"
  echo "# load average at the start: $(cut -d' ' -f1-3 /proc/loadavg). CPU seconds of one thread."
  printf '# role\tnoise\tN\tD\tC\tshots\ttest_rows\tfit_rows\tcpu_s\twall_s\tknn_cpu_s\tretrieval_cpu_s\tsearch_iterations\tpoints\tfinal_iterations\ttest_top1\n'
} > "$OUT.part"
grep -v '^#' "$HERE/cost_grid.tsv" | while read -r role n d c noise; do
  dir="$WORK/$n-$d-$c-$noise"
  $BENCH gen "$dir" "$n" "$d" "$c" 0 "$noise" 0.5
  for shots in all 1 16; do
    knn=$([ "$shots" = all ] && echo knn || true)
    line=$($BENCH cost "$dir" "$shots" $knn)
    printf '%s\t%s\t%s\n' "$role" "$noise" "$line" | tee -a "$OUT.part"
  done
  rm -rf "$dir"
done
mv "$OUT.part" "$OUT"
$BENCH fit-cost "$OUT" crates/probe/data/cost_model.tsv "$CPU"
