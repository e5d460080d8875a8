#!/usr/bin/env python3
"""Feature extraction on CPU, end to end and forward only: hiercog vs ONNX Runtime vs PyTorch,
EfficientNet-Lite0 (default weights), the same JPEG photos, the same batch size and thread
count, all tools back to back in one run, repeated; prints img/s, the ratios to ONNX Runtime and
how far the tools' features are apart (so the comparison is like for like).

End to end = decode, resize (shorter side 224, bicubic), center crop, normalize, forward, global
average pooling. hiercog: `hiercog extract --threads T` (decoding overlapped with the forward
pass, features written to disk; its own timer, model loading excluded). ONNX Runtime and
PyTorch: PIL + torchvision transforms, either in the main process or in one DataLoader worker
process that decodes while the model runs; both are timed and the faster is reported.
Forward only = the network on one batch already in memory, `--iters` batches after a warm-up
(hiercog: `cargo bench -p hiercog-nn --bench throughput -- --forward-only`).

The photos: `--images` JPEGs (480x360, quality 90) cut at seeded positions and scales out of the
colour photos that the scikit-image wheel ships, written once into `--photos DIR`. The first
`--batch` of them are also saved as PNG: with a lossless file every tool sees the same pixels,
so the features' difference there is the networks' and resizers' alone; on the JPEGs it also
holds the JPEG decoders' (hiercog decodes with zune-jpeg, PIL with libjpeg-turbo).

Usage (from the repository root, after scripts/fetch-default-model.sh):
    pip install torch torchvision onnxruntime onnx efficientnet_lite_pytorch scikit-image pillow
    python3 crates/nn/benches/compare_extract.py [--images 320] [--batch 32] [--repeats 3]
        [--threads 2] [--iters 5] [--photos DIR]
"""
import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import tempfile
import time
import warnings

import numpy as np
import onnxruntime as ort
import skimage
import torch
from efficientnet_lite_pytorch import EfficientNet
from PIL import Image
from torchvision import transforms

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
SOURCES = ["chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png", "motorcycle_right.png",
           "hubble_deep_field.jpg", "retina.jpg", "ihc.png"]
MEAN, STD = [127 / 255] * 3, [128 / 255] * 3  # TF-Lite's (x - 127) / 128, as hiercog's Lite0
TOOLS = ["hiercog", "onnxruntime", "pytorch"]


def make_photos(root, n, png, seed=0):
    """`n` JPEGs of 480x360 cut from scikit-image's colour photos (seeded) in root/jpg/photos,
    the first `png` of them also losslessly in root/png/photos; returns both file lists."""
    jpg_dir, png_dir = os.path.join(root, "jpg", "photos"), os.path.join(root, "png", "photos")
    if not (os.path.isdir(jpg_dir) and len(os.listdir(jpg_dir)) == n
            and os.path.isdir(png_dir) and len(os.listdir(png_dir)) == png):
        shutil.rmtree(root, ignore_errors=True)
        os.makedirs(jpg_dir)
        os.makedirs(png_dir)
        data = os.path.join(os.path.dirname(skimage.__file__), "data")
        srcs = [Image.open(os.path.join(data, s)).convert("RGB") for s in SOURCES]
        rng = random.Random(seed)
        for i in range(n):
            img = srcs[i % len(srcs)]
            w, h = img.size
            scale = rng.uniform(max(480 / w, 360 / h), max(480 / w, 360 / h) * 1.6)
            big = img.resize((max(480, round(w * scale)), max(360, round(h * scale))), Image.BICUBIC)
            x, y = rng.randrange(big.width - 480 + 1), rng.randrange(big.height - 360 + 1)
            photo = big.crop((x, y, x + 480, y + 360))
            photo.save(os.path.join(jpg_dir, f"{i:04d}.jpg"), quality=90)
            if i < png:
                photo.save(os.path.join(png_dir, f"{i:04d}.png"))
    return [sorted(os.path.join(d, f) for f in os.listdir(d)) for d in (jpg_dir, png_dir)]


class Lite0Features(torch.nn.Module):
    """Pooled 1280-d features, as hiercog extracts them."""

    def __init__(self, weights):
        super().__init__()
        self.net = EfficientNet.from_name("efficientnet-lite0")
        self.net.load_state_dict(torch.load(weights, map_location="cpu"))
        self.eval()  # the whole module: ONNX export traces a training-mode module, BN stats included

    def forward(self, x):
        return self.net.extract_features(x).mean((2, 3))


class Photos(torch.utils.data.Dataset):
    def __init__(self, files):
        self.files = files
        self.tf = transforms.Compose([
            transforms.Resize(224, interpolation=transforms.InterpolationMode.BICUBIC),
            transforms.CenterCrop(224), transforms.ToTensor(), transforms.Normalize(MEAN, STD)])

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        return self.tf(Image.open(self.files[i]).convert("RGB"))


def end_to_end(run, files, batch, workers):
    """img/s of decode + preprocess + `run(batch tensor) -> features` over all files."""
    loader = torch.utils.data.DataLoader(Photos(files), batch_size=batch, num_workers=workers)
    t = time.perf_counter()
    feats = [run(x) for x in loader]
    s = time.perf_counter() - t
    return len(files) / s, np.concatenate(feats)


def forward_only(run, x, iters):
    run(x)
    t = time.perf_counter()
    for _ in range(iters):
        run(x)
    return x.shape[0] * iters / (time.perf_counter() - t)


def hiercog_env(threads):
    return dict(os.environ, RAYON_NUM_THREADS=str(threads))


def hiercog_extract(binary, image_dir, batch, threads):
    """(img/s by hiercog's own timer, features in file order) of `hiercog extract`."""
    out = tempfile.mkdtemp(prefix="hiercog-compare-")
    try:
        subprocess.run([binary, "extract", "--model", "efficientnet-lite0", "--images", image_dir,
                        "--out", out, "--batch", str(batch), "--threads", str(threads)],
                       check=True, capture_output=True, text=True, env=hiercog_env(threads))
        with open(os.path.join(out, "extraction.json")) as f:
            summary = json.load(f)
        feats = np.load(os.path.join(out, "features", "X.npy"))
        return summary["extracted"] / summary["seconds"], feats
    finally:
        shutil.rmtree(out, ignore_errors=True)


def hiercog_forward_only(batch, iters, threads):
    out = subprocess.run(
        ["cargo", "bench", "--quiet", "-p", "hiercog-nn", "--bench", "throughput", "--",
         "--batch", str(batch), "--iters", str(iters), "--models", "efficientnet-lite0",
         "--forward-only"],
        cwd=ROOT, check=True, capture_output=True, text=True, env=hiercog_env(threads)).stdout
    return float(re.search(r"RESULT efficientnet-lite0 batch=\d+ images_per_sec=([\d.]+)", out)[1])


def agreement(feats):
    """Max abs difference and min cosine of hiercog's and ONNX Runtime's features to PyTorch's."""
    ref = feats["pytorch"]
    unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)
    return {k: (float(np.abs(feats[k] - ref).max()), float((unit(feats[k]) * unit(ref)).sum(1).min()))
            for k in ("hiercog", "onnxruntime")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=320)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--iters", type=int, default=5, help="forward-only batches per timing")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--photos", default=os.path.join(tempfile.gettempdir(), "hiercog-compare-photos"))
    a = ap.parse_args()

    cache = os.environ.get("HIERCOG_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "hiercog")
    weights = os.path.join(cache, "efficientnet-lite0-57934424.pth")
    if not os.path.isfile(weights):
        raise SystemExit(f"{weights} is missing: run scripts/fetch-default-model.sh")
    jpgs, pngs = make_photos(a.photos, a.images, a.batch)
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "hiercog"], cwd=ROOT, check=True)
    subprocess.run(["cargo", "bench", "--no-run", "--quiet", "-p", "hiercog-nn", "--bench", "throughput"],
                   cwd=ROOT, check=True, capture_output=True)
    binary = os.path.join(ROOT, "target", "release", "hiercog")

    torch.set_num_threads(a.threads)
    model = Lite0Features(weights)
    work = tempfile.mkdtemp(prefix="hiercog-compare-onnx-")
    onnx_path = os.path.join(work, "efficientnet-lite0-features.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, torch.randn(1, 3, 224, 224), onnx_path, dynamo=False,
                          input_names=["x"], output_names=["features"], dynamic_axes={"x": {0: "batch"}})
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    session = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
    shutil.rmtree(work)

    def run_torch(x):
        with torch.inference_mode():
            return model(x).numpy()

    def run_ort(x):
        return session.run(None, {"x": x.numpy()})[0]

    runners = {"onnxruntime": run_ort, "pytorch": run_torch}
    # Lossless input: every tool sees the same pixels.
    png_feats = {"hiercog": hiercog_extract(binary, os.path.dirname(os.path.dirname(pngs[0])), a.batch, a.threads)[1]}
    x_png = torch.stack([Photos(pngs)[i] for i in range(len(pngs))])
    png_feats.update({k: run(x_png) for k, run in runners.items()})

    rows = {k: {"e2e": [], "fwd": []} for k in TOOLS}
    workers_won = {k: [] for k in runners}
    jpg_feats = {}
    for r in range(a.repeats):
        ips, jpg_feats["hiercog"] = hiercog_extract(binary, os.path.dirname(os.path.dirname(jpgs[0])), a.batch, a.threads)
        rows["hiercog"]["e2e"].append(ips)
        rows["hiercog"]["fwd"].append(hiercog_forward_only(a.batch, a.iters, a.threads))
        for name, run in runners.items():
            timed = {w: end_to_end(run, jpgs, a.batch, w) for w in (0, 1)}
            best = max(timed, key=lambda w: timed[w][0])
            rows[name]["e2e"].append(timed[best][0])
            workers_won[name].append(best)
            jpg_feats[name] = timed[best][1]
            rows[name]["fwd"].append(forward_only(run, x_png, a.iters))
        print(f"repeat {r + 1}: " + ", ".join(
            f"{k} {v['e2e'][-1]:.1f} / {v['fwd'][-1]:.1f}" for k, v in rows.items())
            + " img/s (end to end / forward only)", flush=True)

    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"\nEfficientNet-Lite0, {a.images} JPEGs 480x360, batch {a.batch}, {a.threads} threads, {cpu}; "
          f"median of {a.repeats} back-to-back repeats; torch {torch.__version__}, onnxruntime {ort.__version__}; "
          f"DataLoader workers of the faster end-to-end setting: "
          + ", ".join(f"{k} {v}" for k, v in workers_won.items()))
    print("Ratios to ONNX Runtime are taken within each repeat (the tools ran back to back), then the "
          "median and range over repeats: load from other processes moves absolute img/s a lot.")
    print("| tool | end to end img/s | ratio to ORT (range) | forward only img/s | ratio to ORT (range) |")
    print("|---|---:|---:|---:|---:|")

    def ratio(name, kind):
        r = [a / b for a, b in zip(rows[name][kind], rows["onnxruntime"][kind])]
        return f"{statistics.median(r):.2f}x ({min(r):.2f}–{max(r):.2f})"

    for name, v in rows.items():
        e2e, fwd = statistics.median(v["e2e"]), statistics.median(v["fwd"])
        print(f"| {name} | {e2e:.1f} | {ratio(name, 'e2e')} | {fwd:.1f} | {ratio(name, 'fwd')} |")
    scale = float(np.abs(png_feats["pytorch"]).max())
    print(f"\nFeatures against PyTorch's (largest |feature| {scale:.2f}): max abs difference, min cosine")
    for what, feats in [(f"{len(pngs)} PNGs (same pixels)", png_feats), (f"{a.images} JPEGs", jpg_feats)]:
        print(f"  {what}: " + ", ".join(f"{k} {d:.2e}, {c:.6f}" for k, (d, c) in agreement(feats).items()))


if __name__ == "__main__":
    main()
