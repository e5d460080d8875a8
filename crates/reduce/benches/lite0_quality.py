"""Retrieval quality after reduction on the default run's features: PCA vs PCA-whitening vs TLDR
at d = 32, 64, 128, against the full features.

Gallery = the train images of the default run's four unseen levels (L1..L4), queries = their test
images (pretrained EfficientNet-Lite0 features of the SYNTHETIC image set, 1280-d); each reduction
is fitted on the gallery (unsupervised, as in retrieval practice), both sets are reduced and
L2-normalised, and `hiercog retrieval` reports mAP and H-AP (levels from WordNet).

usage: target/release/hiercog run            # writes runs/default (the default run)
       python3 crates/reduce/benches/lite0_quality.py runs/default [--shrinkage 0.1] [--tldr-epochs 100]
(needs numpy; uses target/release/hiercog)
"""

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

HIERCOG = "target/release/hiercog"


def concat(run: Path, split: str, out: Path):
    xs, names, ys = [], [], []
    for level in ("L1", "L2", "L3", "L4"):
        d = run / "features" / level / split / "features"
        x = np.load(d / "X.npy")
        y = np.load(d / "Y.npy").astype(np.int64)
        cls = (d / "classes.txt").read_text().split()
        offset = len(names)
        names += cls
        xs.append(x)
        ys.append(y + offset)
    out.mkdir(parents=True)
    np.save(out / "X.npy", np.concatenate(xs).astype(np.float32))
    np.save(out / "Y.npy", np.concatenate(ys))
    (out / "classes.txt").write_text("\n".join(names) + "\n")
    return sum(len(x) for x in xs), xs[0].shape[1]


def hiercog(*args):
    return subprocess.run([HIERCOG, *args], check=True, capture_output=True, text=True).stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path)
    ap.add_argument("--shrinkage", type=float, default=0.1)
    ap.add_argument("--dims", default="32,64,128")
    ap.add_argument("--tldr-epochs", type=int, default=100)
    ap.add_argument("--tldr-warmup", type=int, default=10)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        n_g, dim = concat(a.run, "train", tmp / "gallery")
        n_q, _ = concat(a.run, "test", tmp / "queries")
        base = ["--gallery", str(tmp / "gallery"), "--queries", str(tmp / "queries"), "--json"]
        full = json.loads(hiercog("retrieval", *base))
        print(f"gallery {n_g} x {dim}, queries {n_q}; H-AP levels L = {full['levels']}")
        print("| features | d | mAP | H-AP | R@1 | fit time |")
        print("|---|--:|--:|--:|--:|--:|")
        print(f"| full Lite0 | {dim} | {100 * full['mAP']:.2f} | {100 * full['H-AP']:.2f} | {100 * full['recall']['R@1']:.2f} | – |")
        for d in [int(v) for v in a.dims.split(",")]:
            for method, extra in [("pca", []), ("pca-whiten", ["--shrinkage", str(a.shrinkage)]), ("tldr", ["--epochs", str(a.tldr_epochs), "--warmup-epochs", str(a.tldr_warmup)])]:
                model = tmp / f"{method}-{d}"
                t = time.perf_counter()
                hiercog("reduce", "fit", "--method", method, "--dim", str(d), "--in", str(tmp / "gallery"), "--out", str(model), *extra)
                fit_s = time.perf_counter() - t
                m = json.loads(hiercog("retrieval", *base, "--model", str(model)))
                name = f"PCA-whitening (s={a.shrinkage})" if method == "pca-whiten" else method.upper()
                print(f"| {name} | {d} | {100 * m['mAP']:.2f} | {100 * m['H-AP']:.2f} | {100 * m['recall']['R@1']:.2f} | {fit_s:.1f} s |", flush=True)


if __name__ == "__main__":
    main()
