#!/usr/bin/env bash
# MoCo-v2, MoCHi and MoCHi-LCA pre-trained on the default run's seen training images (SYNTHETIC,
# 49 concepts x 24 images), then each trunk evaluated by `hiercog run` on the default CoG levels,
# beside a control with the same architecture left at its seeded initialisation (one epoch at
# lr 1e-9: random weights, BatchNorm statistics of the data). Prints one table (top-1 of the
# all-data linear probe, mean over the default probe seeds) and the time of each step.
#
#   crates/train/benches/moco_cog.sh [WORK_DIR] [EPOCHS]
#
# Needs a release build (`cargo build --release -p hiercog`) and python3 for the table.
# The three pre-trainings run side by side (they are independent); on 2 cores that is about as
# fast as one after the other.
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
hiercog="$root/target/release/hiercog"
work="$(realpath -m "${1:-runs/moco-cog}")"
epochs="${2:-8}"
common=(--images "$work/seen-train" --size 32 --width 8 --seed 0 --workers 1)
timed() { local log="$1"; shift; /usr/bin/time -f "%e s wall, %U s user, %S s system" -o "$log.time" "$@"; }

mkdir -p "$work"
# 1. The default run's images and levels, once (the run with the default model, prepare only).
[ -f "$work/cog/seen.tsv" ] || timed "$work/prepare" "$hiercog" run --run-dir "$work/cog" --stage prepare
# 2. The seen concepts' training images as class folders (links).
if [ ! -d "$work/seen-train" ]; then
  tail -n +2 "$work/cog/seen.tsv" | while IFS=$'\t' read -r path wnid split; do
    [ "$split" = train ] || continue
    mkdir -p "$work/seen-train/$wnid"
    ln -sf "$path" "$work/seen-train/$wnid/"
  done
fi
# 3. Pre-training.
declare -A flags=(
  [moco]=""
  [mochi]="--mochi 256,512,256"
  [mochi-lca]="--mochi 256,512,256 --hierarchy"
)
for r in moco mochi mochi-lca; do
  # shellcheck disable=SC2086
  timed "$work/pt-$r" "$hiercog" pretrain moco "${common[@]}" --epochs "$epochs" \
    --out "$work/pt/$r" ${flags[$r]} 2> "$work/pt-$r.log" &
done
timed "$work/pt-init" "$hiercog" pretrain moco "${common[@]}" --epochs 1 --lr 1e-9 \
  --out "$work/pt/init" 2> "$work/pt-init.log"
wait
# 4. Evaluation: the prepared run copied (hard links) with the trained trunk as its model.
for r in init moco mochi mochi-lca; do
  if [ ! -d "$work/eval-$r" ]; then
    cp -al "$work/cog" "$work/eval-$r"
    sed -i "s#^run_dir = .*#run_dir = \"$work/eval-$r\"#; s#^name = .*#name = \"$work/pt/$r/model\"#" \
      "$work/eval-$r/run.toml"
  fi
  timed "$work/eval-$r" "$hiercog" run --config "$work/eval-$r/run.toml" > "$work/eval-$r.log" 2>&1
done
# 5. The table.
python3 - "$work" <<'EOF'
import json, sys
work = sys.argv[1]
rows = [("init", "random init (control)"), ("moco", "MoCo-v2"), ("mochi", "MoCHi(256,512,256)"),
        ("mochi-lca", "MoCHi-LCA(256,512,256)")]
names = None
for key, label in rows:
    rep = json.load(open(f"{work}/eval-{key}/report/report.json"))
    ds = rep["datasets"]
    if names is None:
        names = [d["name"] for d in ds]
        print("| recipe | " + " | ".join(names) + " | 4-shot L1..L5 | pre-training | evaluation |")
        print("|---|" + "--:|" * (len(names) + 3))
    cells = [f'{d["top1"]["mean"]:.1f} ± {d["top1"]["std"]:.1f}' for d in ds]
    four = [f'{d["few_shot"]["4"]["mean"]:.1f}' for d in ds[1:]]
    t = lambda n: open(f"{work}/{n}.time").read().strip().split(",")[0]
    print(f"| {label} | " + " | ".join(cells) + f" | {' / '.join(four)} | {t('pt-' + key)} | {t('eval-' + key)} |")
print(f"\nseeds of the probes: {rep['seeds']}; SYNTHETIC images")
EOF
