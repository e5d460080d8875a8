#!/usr/bin/env python3
"""Time NLTK on the CoG ranking workload and compare with hiercog.

usage: nltk_lin_bench.py WORDNET_DICT_DIR [SAMPLE_CANDIDATES]   (run from the repository root)

For a seeded sample of ImageNet-21K synsets, NLTK computes lin_similarity to all 1,000 ImageNet-1K
synsets with the ImageNet-21K subtree IC (warm caches: a first pass fills NLTK's hypernym caches
and is not timed); the time is extrapolated to all 21,841 candidates. Then it runs
`cargo bench -p hiercog-taxonomy --bench lin_max_over_set` and prints the ratio.
"""
import os
import random
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "fixtures"))
from make_nltk_fixtures import load_wordnet, subtree_ic, wnid  # noqa: E402


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    n_sample = int(sys.argv[2]) if len(sys.argv) == 3 else 200
    wn, tmp = load_wordnet(sys.argv[1])
    try:
        run(wn, n_sample)
    finally:
        shutil.rmtree(tmp)


def run(wn, n_sample):
    data = os.path.join(HERE, "..", "..", "cog", "data")
    by_wnid = {wnid(s): s for s in wn.all_synsets("n")}
    in21k = [by_wnid[w] for w in open(os.path.join(data, "imagenet21k_fall11_wnids.txt")).read().split()]
    in1k = [by_wnid[w] for w in open(os.path.join(data, "imagenet1k_wnids.txt")).read().split()]
    ic = subtree_ic(wn, in21k)
    sample = random.Random(7).sample(in21k, n_sample)
    for c in sample[:20] + in1k:  # warm the hypernym caches
        c.lin_similarity(in1k[0], ic)
    for c in sample:
        c.common_hypernyms(c)
    t = time.perf_counter()
    for c in sample:
        max(c.lin_similarity(s, ic) for s in in1k)
    dt = time.perf_counter() - t
    pairs = n_sample * len(in1k)
    full = dt * len(in21k) / n_sample
    print(f"NLTK: {pairs} pairs in {dt:.2f} s = {pairs / dt:,.0f} pairs/s; "
          f"all {len(in21k)} x {len(in1k)} extrapolated: {full:.1f} s")
    out = subprocess.run(["cargo", "bench", "-q", "-p", "hiercog-taxonomy", "--bench", "lin_max_over_set"],
                         check=True, capture_output=True, text=True).stdout
    print(out.strip())
    hiercog = float(re.search(r"HIERCOG_SECONDS=([0-9.]+)", out).group(1))
    print(f"speed-up over NLTK: {full / hiercog:,.0f}x")


if __name__ == "__main__":
    main()
