#!/usr/bin/env bash
# CPU cost and memory of feature extraction per backbone, for `hiercog plan --estimate`:
#   crates/run/data/extract_cost.sh [WORK_DIR]
# Runs `hiercog extract --threads 1` (decode, preprocess, forward pass, features written: what a
# run's extract tasks do) over copies of crates/nn's fixture photos, timed by /usr/bin/time:
# core-seconds per image = the CPU time (user + system) added by 64 more images at batch 16 (the
# model's loading cancels out); peak memory = the peak resident set at batch 16 and batch 64, a
# line in the batch size. Writes crates/run/data/extract_cost.tsv. efficientnet-lite0 runs with
# its default weights (scripts/fetch-default-model.sh), resnet50 with torchvision's randomly
# initialised weights (pip: torch, torchvision; speed does not depend on the values). Other
# backbones are not measured.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
cd "$HERE/../../.."
WORK=${1:-$(mktemp -d)}
mkdir -p "$WORK"
cargo build --release -q -p hiercog
cp target/release/hiercog "$WORK/hiercog"
photos=(crates/nn/tests/fixtures/images/{chelsea.png,coffee.png,rocket.jpg,motorcycle_left.png})
for n in 32 96 128; do
  mkdir -p "$WORK/images-$n/n00000001"
  for i in $(seq 0 $((n - 1))); do
    p=${photos[$((i % 4))]}
    cp "$p" "$WORK/images-$n/n00000001/$i.${p##*.}"
  done
done
python3 -c "import torch, torchvision, sys; torch.save(torchvision.models.resnet50().state_dict(), sys.argv[1])" "$WORK/resnet50.pth"

# CPU seconds and peak GB of one extraction: MODEL N BATCH [--weights FILE]
measure() {
  local model=$1 n=$2 batch=$3
  shift 3
  rm -rf "$WORK/out"
  /usr/bin/time -f '%U %S %M' -o "$WORK/time.txt" "$WORK/hiercog" extract --model "$model" "$@" \
    --threads 1 --batch "$batch" --images "$WORK/images-$n" --out "$WORK/out" > /dev/null 2>&1
  read -r user sys kb < "$WORK/time.txt"
  echo "$(echo "$user + $sys" | bc -l) $(echo "$kb / 1048576" | bc -l)"
}

OUT=crates/run/data/extract_cost.tsv
{
  echo "# Feature extraction on one thread, measured by crates/run/data/extract_cost.sh on"
  echo "# $(lscpu | grep 'Model name' | sed 's/.*: *//') ($(nproc) cores, shared: load average $(cut -d' ' -f1-3 /proc/loadavg) at the start), $(date -u +%Y-%m-%d)."
  printf '# model\tcore_s_per_image\tpeak_gb_batch16\tpeak_gb_batch64\n'
} > "$OUT.part"
for spec in "efficientnet-lite0" "resnet50 --weights $WORK/resnet50.pth"; do
  read -r model weights <<< "$spec"
  # Assignments, so that a failed extraction stops the script (set -e).
  r32=$(measure $model 32 16 $weights)
  r96=$(measure $model 96 16 $weights)
  r128=$(measure $model 128 64 $weights)
  read -r cpu32 _ <<< "$r32"
  read -r cpu96 mem16 <<< "$r96"
  read -r _ mem64 <<< "$r128"
  printf '%s\t%.4f\t%.3f\t%.3f\n' "$model" "$(echo "($cpu96 - $cpu32) / 64" | bc -l)" "$mem16" "$mem64" | tee -a "$OUT.part"
done
mv "$OUT.part" "$OUT"
