"""Retrieval: mAP and recall@k against numpy, H-AP against the CLI, bad input."""

import json

import numpy as np
import pytest

import hiercog
from hiercog.retrieval import retrieval_metrics
from conftest import fixture, load_rows
from test_probe import WNIDS, save_npy_dir


@pytest.fixture(scope="module")
def digits():
    return load_rows(fixture("probe", "digits_train.txt")), load_rows(fixture("probe", "digits_test.txt"))


def test_map_and_recall_equal_numpy(digits):
    (x, y), (xt, yt) = digits
    got = retrieval_metrics((x, y), (xt, yt), metric="cosine", recall_at=[1, 5])
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    qn = xt / np.linalg.norm(xt, axis=1, keepdims=True)
    order = np.argsort(-(qn @ xn.T), axis=1, kind="stable")
    rel = y[order] == yt[:, None]
    hits = np.cumsum(rel, axis=1)
    ap = (rel * hits / np.arange(1, rel.shape[1] + 1)).sum(axis=1) / rel.sum(axis=1)
    assert got["queries"] == len(yt) and got["hap"] is None
    # float32 scores: a near-tie may swap two neighbours; the means agree closely.
    assert got["map"] == pytest.approx(ap.mean(), abs=1e-3)
    assert got["recall_at"][1] == pytest.approx(rel[:, 0].mean(), abs=2e-3)
    assert got["recall_at"][5] == pytest.approx(rel[:, :5].any(axis=1).mean(), abs=2e-3)


def test_hap_equals_the_cli(digits, cli, tmp_path):
    (x, y), (xt, yt) = digits
    gallery = save_npy_dir(tmp_path / "g", x, y, WNIDS)
    queries = save_npy_dir(tmp_path / "q", xt, yt, WNIDS)
    want = json.loads(cli("retrieval", "--gallery", gallery, "--queries", queries, "--json"))
    got = retrieval_metrics((x, y), (xt, yt), class_names=WNIDS)
    assert (got["map"], got["hap"]) == (want["mAP"], want["H-AP"])
    want = json.loads(cli("retrieval", "--gallery", gallery, "--json"))
    got = retrieval_metrics((x, y), class_names=WNIDS)  # leave-one-out
    assert (got["map"], got["hap"]) == (want["mAP"], want["H-AP"])


def test_bad_input(digits):
    (x, y), (xt, yt) = digits
    bad = xt.copy()
    bad[5, 0] = np.inf
    with pytest.raises(hiercog.RetrievalError, match="non-finite"):
        retrieval_metrics((x, y), (bad, yt))
    with pytest.raises(hiercog.RetrievalError, match="recall@k needs k >= 1"):
        retrieval_metrics((x, y), (xt, yt), recall_at=[0])
    with pytest.raises(ValueError, match="gallery must be a pair"):
        retrieval_metrics(x)
