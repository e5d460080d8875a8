"""CoG levels + a probe of a set of features, from Python (docs/python.md, part 1).

Run: python python/examples/cog_probe.py   (after `pip install ./python`)

The features are stand-ins (a Gaussian per class around a mean that drifts down the WordNet
hierarchy); with a real backbone, X would be its features of the level's images.
"""

import numpy as np

import hiercog
from hiercog.cog import build_levels
from hiercog.probe import LinearProbe, run_protocol

wordnet = hiercog.Taxonomy.wordnet()

# 1. Levels: 40 ImageNet-1K classes seen, the other 960 the pool, 3 levels of 8 concepts spread
#    over the whole Lin-similarity ranking.
in1k = [line.split()[0] for line in open("crates/cog/data/imagenet1k_wnids.txt") if line.strip()]
seen, pool = in1k[::25], [w for i, w in enumerate(in1k) if i % 25]
bench = build_levels(seen, pool, preset="generic", levels=3, per_level=8, cuts="spread", ic="imagenet21k")
for level in bench.levels:
    sims = [c["similarity"] for c in level["concepts"]]
    print(f"{level['name']}: {len(sims)} concepts, Lin similarity to the seen set {max(sims):.3f}..{min(sims):.3f}")

# 2. Stand-in features of one level's classes: class means that share their ancestors' components.
classes = bench.wnids("L1")
rng = np.random.default_rng(0)
component = {}
def mean_of(wnid):
    path = wordnet.synset(wnid)["hypernym_paths"][0]
    return sum(component.setdefault(c, rng.standard_normal(64)) for c in path)
means = np.stack([mean_of(w) for w in classes])
def sample(per_class):
    y = np.repeat(np.arange(len(classes)), per_class)
    x = means[y] + 4.0 * rng.standard_normal((len(y), 64))
    return x.astype(np.float32), y
(x, y), (xt, yt) = sample(40), sample(20)

# 3. A probe, scikit-learn style, and the CoG protocol with hierarchical metrics.
probe = LinearProbe(1.0).fit(x, y)
print(f"LinearProbe: test accuracy {probe.score(xt, yt):.3f}")
runs = run_protocol((x, y), (xt, yt), shots=[None, 4], seeds=[22, 37], class_names=classes, knn=True)
for r in runs:
    h = r["test"]["hierarchical"]
    print(f"shots {r['shots'] or 'all'} seed {r['seed']}: top-1 {r['test']['top1']:.1f}, "
          f"k-NN top-1 {r['knn']['top1']:.1f}, mistake severity {h['mistake_severity']:.2f}, "
          f"hdist@5 {h['hdist_at_5']:.2f}")
