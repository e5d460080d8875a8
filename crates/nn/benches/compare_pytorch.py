#!/usr/bin/env python3
"""Images/s of EfficientNet-Lite0 and ResNet-50 forward passes on CPU: hiercog (candle) vs
PyTorch, same photos, same preprocessing, same batch size, same thread count.

Usage (from the repository root): python3 crates/nn/benches/compare_pytorch.py [--batch 32]
        [--iters 5] [--threads N]
Needs torch, torchvision, efficientnet_lite_pytorch, Pillow; the Lite0 weights from
scripts/fetch-default-model.sh.
"""
import argparse
import os
import re
import subprocess
import time

import torch
import torchvision
from PIL import Image
from torchvision import transforms
from efficientnet_lite_pytorch import EfficientNet

HERE = os.path.dirname(os.path.abspath(__file__))
PHOTOS = ["chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png"]


def batch(n, mean, std):
    tf = transforms.Compose([
        transforms.Resize(224, interpolation=transforms.InterpolationMode.BICUBIC),
        transforms.CenterCrop(224), transforms.ToTensor(), transforms.Normalize(mean, std)])
    imgs = [tf(Image.open(os.path.join(HERE, "..", "tests", "fixtures", "images", p)).convert("RGB")) for p in PHOTOS]
    return torch.stack([imgs[i % 4] for i in range(n)])


def timed(model, x, iters):
    with torch.inference_mode():
        model(x)
        t = time.perf_counter()
        for _ in range(iters):
            model(x)
        return x.shape[0] * iters / (time.perf_counter() - t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cache = os.environ.get("HIERCOG_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "hiercog")
    lite = EfficientNet.from_name("efficientnet-lite0")
    lite.load_state_dict(torch.load(os.path.join(cache, "efficientnet-lite0-57934424.pth"), map_location="cpu"))
    torch_ips = {
        "efficientnet-lite0": timed(lite.eval(), batch(a.batch, [127 / 255] * 3, [128 / 255] * 3), a.iters),
        "resnet50": timed(torchvision.models.resnet50().eval(),
                          batch(a.batch, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]), a.iters),
    }
    env = dict(os.environ, RAYON_NUM_THREADS=str(a.threads))
    out = subprocess.run(
        ["cargo", "bench", "--quiet", "-p", "hiercog-nn", "--bench", "throughput", "--",
         "--batch", str(a.batch), "--iters", str(a.iters)],
        check=True, capture_output=True, text=True, env=env).stdout
    ours = {m: float(v) for m, v in re.findall(r"RESULT (\S+) batch=\d+ images_per_sec=([\d.]+)", out)}
    print(f"CPU forward throughput, batch {a.batch}, {a.threads} threads, torch {torch.__version__}")
    print(f"| model | hiercog (candle) img/s | PyTorch img/s | ratio |")
    print(f"|---|---:|---:|---:|")
    for m, t in torch_ips.items():
        h = ours.get(m)
        print(f"| {m} | {h:.1f} | {t:.1f} | {h / t:.2f}× |" if h else f"| {m} | skipped | {t:.1f} | - |")


if __name__ == "__main__":
    main()
