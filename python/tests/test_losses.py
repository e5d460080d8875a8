"""Hierarchy tensors: the losses computed in numpy from hiercog's exported arrays equal hiercog's own
loss values and the PyTorch reference values of the losses crate's fixture (the tensors a PyTorch
loss would use, checked without installing torch)."""

import numpy as np
import pytest

import hiercog
from hiercog.losses import LabelTree
from conftest import fixture, read_json

F32_MIN_NORMAL = np.finfo(np.float32).tiny


@pytest.fixture(scope="module")
def case():
    ref = read_json(fixture("losses", "parity.json"))
    tax = hiercog.Taxonomy.from_isa(str(fixture("losses", "tree.isa")))
    tree = LabelTree(ref["labels"], tax, rule=ref["rule"])
    logits = np.array(ref["logits"], dtype=np.float32)
    targets = np.array(ref["targets"], dtype=np.int64)
    return ref, tree, logits, targets


def log_softmax(z):
    z = z.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def numpy_loss(tree, recipe, logits, t):
    """Each recipe from the exported tensors, as a PyTorch user would write it."""
    name, *params = recipe.split(":")
    logp = log_softmax(logits)
    rows = np.arange(len(t))
    if name == "ce":
        eps = float(params[0]) if params else 0.0
        q = np.full(logp.shape, eps / logp.shape[1])
        q[rows, t] += 1 - eps
        return -(q * logp).sum(axis=1).mean()
    if name in ("hxe", "hxe-paper"):
        weighting = "paper" if name == "hxe-paper" else "reference"
        k = tree.hxe_path_coefficients(float(params[0]), weighting).astype(np.float64)
        m = tree.leaf_ancestor_matrix().astype(np.float64)
        p_nodes = np.maximum(np.exp(logp) @ m, F32_MIN_NORMAL)
        return (k[t] * np.log(p_nodes)).sum(axis=1).mean()
    convention = params[1] if len(params) > 1 else "padded"
    y = tree.soft_labels(float(params[0]), convention).astype(np.float64)[t]
    ce = -(y * logp).sum(axis=1)
    if name == "soft-ce":
        return ce.mean()
    return (ce + (y * np.log(y)).sum(axis=1)).mean()


def test_tensors_have_the_documented_shapes(case):
    _, tree, _, _ = case
    c, n = tree.num_classes, tree.num_nodes
    assert (c, n) == (84, 127) and len(tree.node_names) == n and tree.labels[0] in tree.node_names
    assert tree.soft_labels(10).shape == (c, c) and tree.soft_labels(10).dtype == np.float32
    np.testing.assert_allclose(tree.soft_labels(10).sum(axis=1), 1, rtol=1e-6)
    w = tree.hxe_edge_weights(0.1)
    assert w.shape == (n,) and w[tree.parents.index(-1)] == 0
    m = tree.leaf_ancestor_matrix()
    assert m.shape == (c, n) and set(np.unique(m)) == {0.0, 1.0}
    assert m.sum(axis=0)[tree.parents.index(-1)] == c  # every class is under the root
    assert not m.flags.owndata  # handed over from Rust, not copied


def test_distances_are_the_reference_ones(case):
    ref, tree, _, _ = case
    for convention in ("padded", "height"):
        np.testing.assert_array_equal(tree.distances(convention), np.array(ref["distances"][convention]))


def test_numpy_losses_from_the_tensors_equal_hiercog_and_pytorch(case):
    ref, tree, logits, targets = case
    for c in ref["cases"]:
        ours = tree.loss(c["recipe"], logits, targets)
        from_tensors = numpy_loss(tree, c["recipe"], logits, targets)
        assert from_tensors == pytest.approx(ours, rel=2e-6), c["recipe"]
        assert ours == pytest.approx(c["loss"], rel=2e-6), c["recipe"]


def test_bad_input_names_the_problem(case):
    _, tree, logits, targets = case
    with pytest.raises(hiercog.LossesError, match="did you mean \"hxe\""):
        tree.loss("hex:0.1", logits, targets)
    with pytest.raises(hiercog.LossesError, match="β"):
        tree.soft_labels(-1.0)
    with pytest.raises(hiercog.LossesError, match="expected \\[batch, 84\\]"):
        tree.loss("ce", np.ascontiguousarray(logits[:, :10]), targets)
    with pytest.raises(hiercog.LossesError, match="weighting"):
        tree.hxe_edge_weights(0.1, "papers")
    with pytest.raises(hiercog.LossesError, match="not in the hierarchy"):
        LabelTree(["n02084071", "n99999999"])
