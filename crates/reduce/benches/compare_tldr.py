"""TLDR fit time and retrieval quality: hiercog against the reference (naver/tldr, PyTorch CPU +
faiss-cpu) at the same hyper-parameters on the same data, back to back in one run (read the
ratio: the machine may be shared), with PCA-whitening as the baseline.

Data: a seeded two-level Gaussian mixture (20 super-classes x 10 classes; a class mean is its
super-class's plus a smaller offset), N training rows (the gallery) and 10 held-out queries per
class, D dimensions. Each method is fitted on the gallery; mAP and H-AP (levels from the two-level
is-a tree, given as --taxonomy) come from `hiercog retrieval` for all of them.

usage: python3 crates/reduce/benches/compare_tldr.py PATH/TO/naver-tldr [--rows 8192] [--dim 256]
       [--out-dim 32] [--epochs 8] [--warmup 2]
(a checkout of github.com/naver/tldr outside this repository; needs torch, numpy, faiss-cpu, rich;
run from the repository root after `cargo build --release -p hiercog`)
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HIERCOG = "target/release/hiercog"


def write(d: Path, x, y, names):
    d.mkdir(parents=True)
    np.save(d / "X.npy", x.astype(np.float32))
    np.save(d / "Y.npy", y.astype(np.int64))
    (d / "classes.txt").write_text("\n".join(names) + "\n")


def hiercog(*args):
    return subprocess.run([HIERCOG, *args], check=True, capture_output=True, text=True).stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tldr_checkout", type=Path)
    ap.add_argument("--rows", type=int, default=8192)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--out-dim", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2)
    a = ap.parse_args()
    sys.path.insert(0, str(a.tldr_checkout))
    import torch
    from tldr import TLDR

    rng = np.random.default_rng(0)
    n_super, per_super = 20, 10
    n_cls = n_super * per_super
    sup = rng.normal(size=(n_super, a.dim)) * 1.0
    cls = sup[np.arange(n_cls) // per_super] + rng.normal(size=(n_cls, a.dim)) * 0.6
    ytr = rng.integers(0, n_cls, a.rows)
    yte = np.repeat(np.arange(n_cls), 10)
    xtr = cls[ytr] + rng.normal(size=(a.rows, a.dim)) * 0.9
    xte = cls[yte] + rng.normal(size=(len(yte), a.dim)) * 0.9
    names = [f"c{i}" for i in range(n_cls)]
    isa = "".join(f"root\ts{i // per_super}\n" for i in range(0, n_cls, per_super))
    isa += "".join(f"s{i // per_super}\tc{i}\n" for i in range(n_cls))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write(tmp / "train", xtr, ytr, names)
        write(tmp / "test", xte, yte, names)
        (tmp / "isa.tsv").write_text(isa)
        base = ["--gallery", str(tmp / "train"), "--queries", str(tmp / "test"), "--taxonomy", str(tmp / "isa.tsv"), "--json"]
        rows = []
        full = json.loads(hiercog("retrieval", *base))
        rows.append(("full features", a.dim, None, full))

        t = time.perf_counter()
        hiercog("reduce", "fit", "--method", "pca-whiten", "--shrinkage", "0.1", "--dim", str(a.out_dim), "--in", str(tmp / "train"), "--out", str(tmp / "pcaw"))
        pcaw_s = time.perf_counter() - t
        rows.append(("PCA-whitening (s=0.1), hiercog", a.out_dim, pcaw_s, json.loads(hiercog("retrieval", *base, "--model", str(tmp / "pcaw")))))

        t = time.perf_counter()
        hiercog("reduce", "fit", "--method", "tldr", "--dim", str(a.out_dim), "--epochs", str(a.epochs), "--warmup-epochs", str(a.warmup), "--in", str(tmp / "train"), "--out", str(tmp / "ours"))
        ours_s = time.perf_counter() - t
        rows.append(("TLDR, hiercog", a.out_dim, ours_s, json.loads(hiercog("retrieval", *base, "--model", str(tmp / "ours")))))

        t = time.perf_counter()
        ref = TLDR(n_components=a.out_dim, n_neighbors=5, encoder="linear", projector="mlp-2-2048", device="cpu", random_state=0, verbose=0)
        ref.fit(xtr.astype(np.float32), epochs=a.epochs, warmup_epochs=a.warmup, batch_size=1024)
        ref_s = time.perf_counter() - t
        write(tmp / "ref_train", ref.transform(xtr.astype(np.float32), l2_norm=True), ytr, names)
        write(tmp / "ref_test", ref.transform(xte.astype(np.float32), l2_norm=True), yte, names)
        ref_m = json.loads(hiercog("retrieval", "--gallery", str(tmp / "ref_train"), "--queries", str(tmp / "ref_test"), "--taxonomy", str(tmp / "isa.tsv"), "--json"))
        rows.append(("TLDR, naver/tldr (PyTorch CPU + faiss)", a.out_dim, ref_s, ref_m))

    print(f"N={a.rows} D={a.dim} d={a.out_dim}, {a.epochs} epochs ({a.warmup} warm-up), batch 1024, linear encoder, "
          f"mlp-2-2048 projector; torch {torch.__version__} with {torch.get_num_threads()} threads")
    print("| method | d | fit time | mAP | H-AP | R@1 |")
    print("|---|--:|--:|--:|--:|--:|")
    for name, d, s, m in rows:
        fit = "–" if s is None else f"{s:.1f} s"
        print(f"| {name} | {d} | {fit} | {100 * m['mAP']:.2f} | {100 * m['H-AP']:.2f} | {100 * m['recall']['R@1']:.2f} |")
    print(f"fit time ratio (reference / hiercog): {ref_s / ours_s:.2f}x")
    work(a, torch, ours_s, ref_s)


def step_gflop(batch, dim, out_dim, width, gram):
    """GEMM work of one training step (linear encoder, mlp-2-WIDTH projector, two views): forward
    2*B*(D*d + d*w + 2*w*w) per view, backward twice that less the encoder's input gradient, and the
    loss: c = z1'z2 and its two gradients (3 * 2*B*w^2), or with B < w the Gram matrices
    z_k z_k' and K_k z (4 * 2*B^2*w)."""
    fwd = 2 * batch * (dim * out_dim + out_dim * width + 2 * width * width)
    bwd = 2 * fwd - 2 * batch * dim * out_dim
    loss = 4 * 2 * batch * batch * width if gram else 3 * 2 * batch * width * width
    return (2 * (fwd + bwd) + loss) / 1e9


def work(a, torch, ours_s, ref_s):
    """The GEMM work of each fit against the machine's measured f32 GEMM peak (PyTorch's matmul on
    a step's largest shape, same threads): how close each tool gets, and the fastest a fit of this
    work could be."""
    x, w = torch.randn(1024, 2048), torch.randn(2048, 2048)
    best = min(timed(lambda: x @ w) for _ in range(5))
    peak = 2 * 1024 * 2048 * 2048 / best / 1e9
    batch = min(1024, a.rows)
    steps = a.epochs * (a.rows // batch)
    knn = 2 * a.rows * a.rows * a.dim / 1e9
    ours = steps * step_gflop(batch, a.dim, a.out_dim, 2048, batch < 2048) + knn
    ref = steps * step_gflop(batch, a.dim, a.out_dim, 2048, False) + knn
    print(f"GEMM work: hiercog {ours:.0f} GFLOP, reference {ref:.0f} GFLOP ({steps} steps + the k-NN graph "
          f"{knn:.0f}); measured f32 GEMM peak (torch matmul 1024x2048x2048): {peak:.0f} GFLOP/s")
    print(f"achieved: hiercog {ours / ours_s:.0f} GFLOP/s ({100 * ours / ours_s / peak:.0f} % of peak), "
          f"reference {ref / ref_s:.0f} GFLOP/s ({100 * ref / ref_s / peak:.0f} %); at the peak hiercog's fit "
          f"would take {ours / peak:.1f} s: a ratio of at most {ref_s * peak / ours:.2f}x over this reference run")


def timed(f):
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
