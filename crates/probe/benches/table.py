#!/usr/bin/env python3
"""Prints the probe benchmark table from the JSON files run_bench.sh wrote into OUT_DIR."""
import json
import os
import sys

out = sys.argv[1]


def get(name):
    p = os.path.join(out, name)
    return json.load(open(p)) if os.path.exists(p) else None


def full_time(r):
    """Wall time of the full protocol: measured, or extrapolated linearly to 31 fits x 100 epochs."""
    if r is None:
        return None, ""
    if "extrapolated_wall_s" in r:
        return r["extrapolated_wall_s"], "extrapolated"
    if r["impl"] == "hiercog sgd" and (r["fits"] != 31 or r["epochs"] != 100):
        return r["wall_s"] * 31 * 100 / (r["fits"] * r["epochs"]), "extrapolated"
    return r["wall_s"], "measured"


peak = get("peak.json")
print(f"faer f32 GEMM on this machine now (4096x2048x1000): {peak['gflops']:.1f} GFLOP/s; theoretical ≈230\n")
for shape, label in [("A", "N=20,000 D=512 C=100"), ("B", "N=100,000 D=2048 C=1,000")]:
    rows = []
    ref = get(f"{shape}_torch.json")
    ref_t, _ = full_time(ref)
    fast = get(f"{shape}_fast.json")
    for r in [ref, get(f"{shape}_sklearn.json"), get(f"{shape}_sgd.json"), fast]:
        if r is None:
            continue
        t, how = full_time(r)
        acc = "n/a" if r.get("top1") is None else f"{r['top1']:.2f} / {r['top5']:.2f}"
        if how == "extrapolated" and r["impl"] != "hiercog fast":
            acc += " (reduced run)"
        gf = f"{r['gemm_gflops']:.0f} ({r['fit_gflops']:.0f})" if "gemm_gflops" in r else ""
        ratio = f"{ref_t / t:.1f}x" if ref_t and t else ""
        rows.append((r["impl"], f"{t:.1f} ({how})", acc, ratio, gf, r.get("note", "")))
    print(f"### Shape {shape}: {label}\n")
    print("| implementation | full protocol wall s | test top-1 / top-5 % | speed-up vs reference | GEMM GFLOP/s (whole fit) | note |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    g = get(f"{shape}_gemms.json")
    if g:
        print(f"\nsolver GEMMs alone: X·W {g['xw_gflops']:.0f} GFLOP/s, Xᵀ·P faer {g['xtp_faer_gflops']:.0f}, "
              f"slab-parallel {g['xtp_slabs_gflops_upper_bound_incl_setup']:.0f} GFLOP/s")
    print()
