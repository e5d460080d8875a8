"""Exact k-NN graph: hiercog-retrieval against faiss-cpu's IndexFlatIP on the same data, back to
back in one run (the ratio is what to read on a shared machine), plus hiercog's HNSW mode and its
recall against exact.

Data: N points of a seeded mixture of 1,000 Gaussian clusters in D dimensions, L2-normalised
(features-like). Task: every point's K nearest other points by inner product (TLDR's k-NN graph).

usage: python3 crates/retrieval/benches/compare_faiss.py [--rows 50000] [--dim 256] [--k 10]
(needs numpy and faiss-cpu; run from the repository root)
"""

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=50000)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    centres = rng.normal(size=(1000, a.dim))
    x = centres[rng.integers(0, 1000, a.rows)] + 0.5 * rng.normal(size=(a.rows, a.dim))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    with tempfile.TemporaryDirectory() as d:
        x.tofile(Path(d) / "x.f32")
        # Build first so that compilation is not timed (the driver times itself anyway).
        subprocess.run(["cargo", "bench", "-p", "hiercog-retrieval", "--bench", "knn_bench", "--no-run"], check=True,
                       capture_output=True)
        out = subprocess.run(
            ["cargo", "bench", "-q", "-p", "hiercog-retrieval", "--bench", "knn_bench", "--", d, str(a.rows), str(a.dim), str(a.k)],
            check=True, capture_output=True, text=True,
        ).stdout
        ours = json.loads(out.strip().splitlines()[-1])
        exact = np.fromfile(Path(d) / "exact.u32", dtype=np.uint32).reshape(a.rows, a.k)
    t = time.perf_counter()
    index = faiss.IndexFlatIP(a.dim)
    index.add(x)
    _, idx = index.search(x, a.k + 1)
    faiss_s = time.perf_counter() - t
    # Drop each row itself (not blindly the first hit).
    faiss_nn = np.array([[j for j in row if j != i][: a.k] for i, row in enumerate(idx)])
    agree = np.mean([len(set(faiss_nn[i]) & set(exact[i])) / a.k for i in range(a.rows)])
    print(f"N={a.rows} D={a.dim} k={a.k}, {ours['threads']} threads, faiss {faiss.__version__} ({faiss.omp_get_max_threads()} threads)")
    print("| what | hiercog | faiss-cpu IndexFlatIP | ratio (faiss / hiercog) |")
    print("|---|---|---|---|")
    print(f"| exact k-NN graph | {ours['exact_s']:.2f} s | {faiss_s:.2f} s | {faiss_s / ours['exact_s']:.2f}x |")
    print(f"| neighbours in common with faiss | {agree:.4f} | | |")
    print(f"| HNSW (ef 100, M 32): build + search, recall@{a.k} vs exact | {ours['hnsw_build_s']:.2f} s + {ours['hnsw_search_s']:.2f} s, {ours['hnsw_recall']:.3f} | | |")


if __name__ == "__main__":
    main()
