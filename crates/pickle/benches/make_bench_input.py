#!/usr/bin/env python3
"""Inputs and reference timings for `cargo bench -p hiercog-pickle --bench load`.

Usage: python3 make_bench_input.py OUT_DIR [EFFICIENTNET_PTH]
Writes OUT_DIR/split_like.pkl (the shape of the official cog_concepts_split_file.pkl, scaled down:
concept -> {"train": [file names], "test": [file names]}), copies nothing else, and records in
OUT_DIR/reference.json the best-of-3 times of Python's pickle.load and of torch.load.
"""
import json
import os
import pickle
import sys
import time

import torch

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
split = {
    f"n{c:08d}": {
        "train": [f"n{c:08d}/n{c:08d}_{i}.JPEG" for i in range(300)],
        "test": [f"n{c:08d}/n{c:08d}_{i}.JPEG" for i in range(300, 350)],
    }
    for c in range(5000)
}
path = os.path.join(out, "split_like.pkl")
with open(path, "wb") as f:
    pickle.dump(split, f, protocol=4)


def best(fn):
    times = []
    for _ in range(3):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def load_pkl():
    with open(path, "rb") as f:
        pickle.load(f)


ref = {"split_like.pkl": {"bytes": os.path.getsize(path), "python_pickle_load_s": best(load_pkl)}}
if len(sys.argv) > 2:
    pth = sys.argv[2]
    ref["efficientnet"] = {
        "path": os.path.basename(pth),
        "bytes": os.path.getsize(pth),
        "torch_load_s": best(lambda: torch.load(pth, map_location="cpu", weights_only=True)),
    }
with open(os.path.join(out, "reference.json"), "w") as f:
    json.dump(ref, f, indent=1)
print(json.dumps(ref, indent=1))
