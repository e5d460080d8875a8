"""Overhead of the Python package against the Rust libraries on the same work (issue 17's note).

Times, in this process, `Taxonomy.similarity` over 100,000 pairs (Lin, SemCor IC; as uint32 id
arrays and as lists of names) and `LinearProbe.fit` on a 20,000 x 256 Gaussian mixture of 50
classes, then runs the Rust bench `crates/python/benches/overhead.rs` on the same inputs (written
to a temporary directory) and prints both with their ratio. Best of 5 (similarity) / 3 (fit) runs.

Run from the repository root, in the environment `pip install ./python` installed into:
    python python/benches/overhead.py
"""

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import hiercog


def best_of(runs, f):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    rng = np.random.default_rng(0)
    wordnet = hiercog.Taxonomy.wordnet()
    in21k = [w.split()[0] for w in open("crates/cog/data/imagenet21k_fall11_wnids.txt") if w.strip()]
    in21k = [w for w in in21k if w in wordnet]
    names_a = [in21k[i] for i in rng.integers(len(in21k), size=100_000)]
    names_b = [in21k[i] for i in rng.integers(len(in21k), size=100_000)]
    ids_a, ids_b = wordnet.ids(names_a), wordnet.ids(names_b)
    wordnet.similarity(ids_a[:10], ids_b[:10], "lin", ic="semcor")  # computes the IC once
    py_ids = best_of(5, lambda: wordnet.similarity(ids_a, ids_b, "lin", ic="semcor"))
    py_names = best_of(5, lambda: wordnet.similarity(names_a, names_b, "lin", ic="semcor"))

    rows, dim, classes = 20_000, 256, 50
    y = (np.arange(rows) % classes).astype(np.uint32)
    means = rng.standard_normal((classes, dim)).astype(np.float32)
    x = (means[y] + 3 * rng.standard_normal((rows, dim))).astype(np.float32)
    probe = hiercog.probe.LinearProbe(l2=1e-4, tol=1e-6, max_iter=100)
    py_fit = best_of(3, lambda: probe.fit(x, y))

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        np.concatenate([ids_a, ids_b]).astype("<u4").tofile(d / "pairs.u32")
        x.astype("<f4").tofile(d / "x.f32")
        y.astype("<u4").tofile(d / "y.u32")
        (d / "shape.txt").write_text(f"{rows} {dim} {classes}\n")
        out = subprocess.run(
            ["cargo", "bench", "--quiet", "-p", "hiercog-python", "--bench", "overhead", "--", str(d)],
            capture_output=True, text=True, check=True,
        ).stdout
    rust = json.loads(out.strip().splitlines()[-1])
    print(f"similarity, 100k pairs (lin, semcor): Rust {rust['similarity_seconds']*1e3:.1f} ms, "
          f"Python ids {py_ids*1e3:.1f} ms ({py_ids/rust['similarity_seconds']:.2f}x), "
          f"Python names {py_names*1e3:.1f} ms ({py_names/rust['similarity_seconds']:.2f}x)")
    print(f"LinearProbe.fit {rows}x{dim}, {classes} classes, 100 L-BFGS iterations max: "
          f"Rust {rust['fit_seconds']:.3f} s, Python {py_fit:.3f} s ({py_fit/rust['fit_seconds']:.3f}x)")


if __name__ == "__main__":
    sys.exit(main())
