#!/usr/bin/env python3
"""Prints the probe benchmark family table from the JSON files run_bench.sh wrote.

  table.py OUT_DIR NAME...

Times of the reference are extrapolated linearly from its reduced search to 31 fits x 100 epochs
(the table says which numbers are measured and which extrapolated); hiercog fast and scikit-learn
are measured in full. GFLOP/s: GEMM work (4·rows·D·C per L-BFGS iteration or SGD epoch) divided by
the wall time of the whole run; for hiercog fast also the final fit's GEMMs alone.
"""
import json
import os
import sys

out, names = sys.argv[1], sys.argv[2:]
FULL = 31 * 100


def get(*parts):
    p = os.path.join(out, *parts)
    return json.load(open(p)) if os.path.exists(p) else None


def full_time(r):
    """(seconds of the full protocol, 'measured' | 'extrapolated')."""
    if "extrapolated_wall_s" in r:
        return r["extrapolated_wall_s"], "extrapolated"
    if r["impl"] == "hiercog sgd" and r["fits"] * r["epochs"] != FULL:
        return r["wall_s"] * FULL / (r["fits"] * r["epochs"]), "extrapolated"
    return r["wall_s"], "measured"


peak = get("peak.json")
cpu = open(os.path.join(out, "cpu.txt")).read().strip() if os.path.exists(os.path.join(out, "cpu.txt")) else "?"
print(f"CPU: {cpu}; faer f32 GEMM peak now (4096x2048x1000): {peak['gflops']:.1f} GFLOP/s\n")
print("| shape N×D×C (noise) | tool | full protocol wall s | test top-1 % | speed-up vs reference | GFLOP/s whole run (GEMMs alone) |")
print("|---|---|---|---|---|---|")
for name in names:
    meta = get(name, "meta.json")
    fast, ref, sgd = get(name, "fast.json"), get(name, "torch.json"), get(name, "sgd.json")
    acc, sk = get(name, "torch_acc.json"), get(name, "sklearn.json")
    if fast is None or ref is None:
        continue
    shape = f"{name} {fast['n']}×{fast['dim']}×{fast['classes']} ({meta['noise']})"
    ref_t, _ = full_time(ref)
    rows = []
    ref_acc = f"{acc['top1']:.2f} (one 100-epoch fit at lr {acc['chosen']['lr']:.3g}, wd {acc['chosen']['wd']:.2g})" \
        if acc else f"{ref['top1']:.2f} (search of {ref['fits'] - 1} trials × {ref['epochs']} epochs)"
    rows.append(("PyTorch reference", f"{ref_t:.0f} (extrapolated from {ref['wall_s']:.1f} s measured, "
                 f"{ref['fits']} fits × {ref['epochs']} epochs, {ref['threads']} threads)", ref_acc, "1.0×",
                 f"{ref['protocol_gflops']:.1f}"))
    if sgd:
        t, how = full_time(sgd)
        rows.append(("hiercog sgd", f"{t:.0f} ({how} from {sgd['wall_s']:.1f} s, same reduced search)",
                     f"{sgd['top1']:.2f} (same reduced search)", f"{ref_t / t:.1f}× (same-work ratio {ref['wall_s'] / sgd['wall_s']:.1f}×)",
                     f"{sgd['protocol_gflops']:.1f}"))
    if sk:
        rows.append(("scikit-learn lbfgs path", f"{sk['wall_s']:.1f} (measured)", f"{sk['top1']:.2f}",
                     f"{ref_t / sk['wall_s']:.1f}×", f"{sk['protocol_gflops']:.1f}"))
    rows.append(("**hiercog fast**", f"**{fast['wall_s']:.1f}** (measured)", f"**{fast['top1']:.2f}**",
                 f"**{ref_t / fast['wall_s']:.1f}×**",
                 f"{fast['protocol_gflops']:.1f} ({fast['gemm_gflops']:.0f})"))
    for r in rows:
        print(f"| {shape} | " + " | ".join(r) + " |")

print("\n| shape | solver | threads | wall s | speed-up vs 1 thread | same bits as 1 thread |")
print("|---|---|---|---|---|---|")
for name in names:
    for solver in ["fast", "sgd"]:
        p = os.path.join(out, name, f"threads_{solver}.json")
        if os.path.exists(p):
            for line in open(p):
                r = json.loads(line)
                print(f"| {name} | {solver} | {r['threads']} | {r['wall_s']:.1f} | {r['speedup_vs_1']:.2f} | {r['same_bits_as_1_thread']} |")
