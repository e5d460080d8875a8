"""Probes: scikit-learn parity of LinearProbe, CLI parity of the protocol, the k-NN probe and the
hierarchical metrics against numpy, zero-copy input, progress, bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest

import hiercog
from hiercog.probe import LinearProbe, hdist_at_k, knn_predict, mistake_severity, run_protocol
from conftest import fixture, load_rows, read_json

# Ten ImageNet-1K classes standing in for the digits, so that the hierarchical metrics have a
# hierarchy (tench, goldfish, great white shark, cock, hen, ostrich, tabby, tiger, sports car, pizza).
WNIDS = ["n01440764", "n01443537", "n01484850", "n01514668", "n01514859",
         "n01518878", "n02123045", "n02129604", "n04285008", "n07873807"]


@pytest.fixture(scope="module")
def digits():
    return load_rows(fixture("probe", "digits_train.txt")), load_rows(fixture("probe", "digits_test.txt"))


def save_npy_dir(path, x, y, classes=None):
    path.mkdir()
    np.save(path / "X.npy", x)
    np.save(path / "Y.npy", y)
    if classes:
        (path / "classes.txt").write_text("\n".join(classes) + "\n")
    return str(path)


@pytest.mark.parametrize("name", ["digits", "gmm"])
def test_lbfgs_matches_sklearn(name):
    (x, y), (xt, yt) = (load_rows(fixture("probe", f"{name}_{s}.txt")) for s in ("train", "test"))
    for ref in read_json(fixture("probe", "expected.json"))[name]["sklearn"]:
        probe = LinearProbe(ref["C"], tol=1e-7, max_iter=10_000).fit(x, y)
        assert 100 * probe.score(xt, yt) == pytest.approx(ref["top1"], abs=0.3), ref
        assert probe.loss(xt, yt) == pytest.approx(ref["loss"], rel=1e-4), ref


def results_match(ours, theirs):
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert (a["seed"], a["shots"]) == (b["seed"], b["shots"])
        assert a["test"] == b["test"] and a["loss"] == b["loss"] and a["chosen"] == b["chosen"]
        assert a["knn"] == b["knn"]
        assert [t["val_top1"] for t in a["trials"]] == [t["val_top1"] for t in b["trials"]]


def test_run_protocol_equals_the_cli(digits, cli, tmp_path):
    (x, y), (xt, yt) = digits
    train = save_npy_dir(tmp_path / "train", x, y, WNIDS)
    test = save_npy_dir(tmp_path / "test", xt, yt, WNIDS)
    # All data, with hierarchical metrics from the class names.
    want = json.loads(cli("probe", "--train", train, "--test", test, "--seeds", "2", "--knn", "--json"))
    got = run_protocol((x, y), (xt, yt), seeds=[22, 37], knn=True, class_names=WNIDS)
    results_match(got, want)
    assert got[0]["test"]["hierarchical"]["hdist_at_5"] > 0
    # Few-shot, standardized features.
    want = json.loads(cli("probe", "--train", train, "--test", test, "--seeds", "1", "--shots", "2,8",
                          "--preprocess", "standardize", "--json"))
    got = run_protocol((x, y), (xt, yt), shots=[2, 8], seeds=[22], preprocess="standardize",
                       class_names=WNIDS)
    results_match(got, want)
    assert got[0]["train_rows"] == 20 and got[1]["train_rows"] == 80


def test_hierarchical_metrics_equal_numpy(digits, wordnet):
    (x, y), (xt, yt) = digits
    probe = LinearProbe(0.1).fit(x, y)
    top5 = probe.predict_topk(xt, 5)
    np.testing.assert_array_equal(top5[:, 0], probe.predict(xt))
    d = wordnet.distances(WNIDS)
    wrong = top5[:, 0] != yt
    assert mistake_severity(top5, yt, d) == pytest.approx(d[top5[wrong, 0], yt[wrong]].mean(), rel=1e-12)
    assert mistake_severity(top5[:, 0], yt, d) == mistake_severity(top5, yt, d)
    for k in (1, 5):
        want = np.mean([d[top5[i, :k], yt[i]].mean() for i in range(len(yt))])
        assert hdist_at_k(top5, yt, d, k) == pytest.approx(want, rel=1e-12)
    assert mistake_severity(yt, yt, d) is None
    with pytest.raises(hiercog.TaxonomyError, match="symmetric"):
        mistake_severity(top5, yt, np.triu(d))


def test_knn_equals_a_numpy_dino_knn(digits):
    (x, y), (xt, yt) = digits
    got = knn_predict((x, y), xt, k=20, temperature=0.07, keep=1)[:, 0]
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    qn = xt / np.linalg.norm(xt, axis=1, keepdims=True)
    sims = qn.astype(np.float64) @ xn.T.astype(np.float64)
    nearest = np.argsort(-sims, axis=1, kind="stable")[:, :20]
    votes = np.zeros((len(xt), 10))
    for i in range(len(xt)):
        np.add.at(votes[i], y[nearest[i]], np.exp(sims[i, nearest[i]] / 0.07))
    # float32 vs float64 similarities may swap near-ties: all but a handful agree.
    assert np.mean(got == votes.argmax(axis=1)) > 0.995


IN_PLACE = """
import resource, sys
import numpy as np
from hiercog.probe import LinearProbe
x = np.random.default_rng(0).standard_normal((50_000, 1000), dtype=np.float32)  # 200 MB
y = np.arange(50_000) % 2
peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MB (KiB on Linux)
before = peak()
LinearProbe(1.0, max_iter=2).fit(x, y).predict(x)
print(peak() - before)
"""


def test_features_are_read_in_place():
    # A fresh process, so that the peak before the fit is the matrix itself.
    out = subprocess.run([sys.executable, "-c", IN_PLACE], capture_output=True, text=True, check=True)
    grown_mb = float(out.stdout)
    assert grown_mb < 100, f"peak memory grew by {grown_mb:.0f} MB: X (200 MB) was copied"


def test_outputs_are_handed_over_without_a_copy(digits):
    (x, y), _ = digits
    scores = LinearProbe().fit(x, y).decision_function(x)
    # The array views the buffer Rust computed into; numpy allocated nothing.
    assert not scores.flags.owndata and scores.flags.c_contiguous
    assert np.shares_memory(scores, scores.base)


def test_progress_reaches_the_callback_and_its_errors_propagate(digits):
    (x, y), (xt, yt) = digits
    events = []
    run_protocol((x, y), (xt, yt), seeds=[22], trials=2, progress=events.append)
    kinds = {e["event"] for e in events}
    assert {"fit_started", "step", "fit_finished"} <= kinds
    assert all(e["seed"] == 22 and e["runs"] == 1 for e in events)

    def fails(event):
        raise KeyboardInterrupt("stop")

    with pytest.raises(KeyboardInterrupt, match="stop"):
        LinearProbe().fit(x, y, progress=fails)


def test_bad_input_is_refused_with_a_clear_message(digits):
    (x, y), (xt, yt) = digits
    with pytest.raises(TypeError, match=r"X has dtype float64 .* X.astype\(np.float32\)"):
        LinearProbe().fit(x.astype(np.float64), y)
    with pytest.raises(ValueError, match="not C-contiguous"):
        LinearProbe().fit(np.asfortranarray(x), y)
    with pytest.raises(ValueError, match="not C-contiguous"):
        LinearProbe().fit(x[:, ::2], y)
    bad = x.copy()
    bad[[3, 7]] = np.nan
    with pytest.raises(hiercog.FeaturesError, match=r"X: non-finite features \(NaN or Inf\) in 2 rows: rows 3, 7"):
        LinearProbe().fit(bad, y)
    with pytest.raises(hiercog.FeaturesError, match="train: non-finite"):
        run_protocol((bad, y), (xt, yt), seeds=[22])
    with pytest.raises(TypeError, match="labels must be integers"):
        LinearProbe().fit(x, y.astype(np.float32))
    with pytest.raises(ValueError, match=r"y\[0\] is -1"):
        LinearProbe().fit(x, np.where(np.arange(len(y)) == 0, -1, y))
    with pytest.raises(hiercog.ProbeError, match="invalid parameter `C` = -1"):
        LinearProbe(-1.0)
    with pytest.raises(hiercog.ProbeError, match="not fitted"):
        LinearProbe().predict(xt)
    probe = LinearProbe().fit(x, y)
    with pytest.raises(hiercog.ProbeError, match="X has 32 features per row but the probe was fitted on 64"):
        probe.predict(np.ascontiguousarray(xt[:, :32]))
    with pytest.raises(hiercog.FeaturesError, match="disagree: 10 classes in train but 9"):
        keep = yt < 9
        run_protocol((x, y), (np.ascontiguousarray(xt[keep]), yt[keep]), seeds=[22])
    with pytest.raises(hiercog.TaxonomyError, match=r"class_names\[0\]: malformed wnid"):
        run_protocol((x, y), (xt, yt), seeds=[22], class_names=["zero"] + WNIDS[1:])
