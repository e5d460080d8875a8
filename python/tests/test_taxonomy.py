"""Taxonomy: NLTK parity of the vectorised similarities, synset info, distances, bad input."""

import csv
import math

import numpy as np
import pytest

import hiercog
from conftest import REPO, fixture

MEASURES = {
    "path": None,
    "lch": None,
    "wup": None,
    "res_semcor": "semcor",
    "lin_semcor": "semcor",
    "jcn_semcor": "semcor",
    "res_intrinsic": "intrinsic",
    "lin_intrinsic": "intrinsic",
    "jcn_intrinsic": "intrinsic",
    "res_in21k": "imagenet21k",
    "lin_in21k": "imagenet21k",
    "jcn_in21k": "imagenet21k",
}


def nltk_pairs():
    with open(fixture("taxonomy", "pairs.tsv")) as f:
        return list(csv.DictReader(f, delimiter="\t"))


def test_similarities_equal_nltk_over_3000_pairs(wordnet):
    rows = nltk_pairs()
    a = [r["a"] for r in rows]
    b = [r["b"] for r in rows]
    for column, ic in MEASURES.items():
        measure = column.split("_")[0]
        got = wordnet.similarity(a, b, measure, ic=ic)
        assert got.dtype == np.float64 and got.shape == (len(rows),)
        for i, r in enumerate(rows):
            want = r[column]
            if want == "ZeroDivisionError":  # NLTK raises; hiercog marks it undefined
                assert math.isnan(got[i]), (column, i)
            else:
                assert got[i] == pytest.approx(float(want), rel=1e-9, abs=1e-12), (column, i)


def test_ids_arrays_give_the_same_values_as_names(wordnet):
    rows = nltk_pairs()[:500]
    a = [r["a"] for r in rows]
    b = [r["b"] for r in rows]
    ia, ib = wordnet.ids(a), wordnet.ids(b)
    assert ia.dtype == np.uint32
    np.testing.assert_array_equal(
        wordnet.similarity(ia, ib, "lin", ic="semcor"), wordnet.similarity(a, b, "lin", ic="semcor")
    )
    assert wordnet.names(ia) == a
    # One concept against many broadcasts.
    many = wordnet.similarity("n02084071", b, "wup")
    assert many[0] == wordnet.similarity("n02084071", b[0], "wup")


def test_similarities_equal_the_cli(wordnet, cli, tmp_path):
    rows = nltk_pairs()[:200]
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("".join(f"{r['a']}\t{r['b']}\n" for r in rows))
    out = cli("taxonomy", "similarity", "--measure", "jcn", "--ic", "semcor", "--pairs", str(pairs))
    want = [float(line.split("\t")[2]) for line in out.splitlines()]
    got = wordnet.similarity([r["a"] for r in rows], [r["b"] for r in rows], "jcn", ic="semcor")
    assert list(got) == want


def test_synset_info_matches_nltk(wordnet):
    with open(fixture("taxonomy", "synsets.tsv")) as f:
        rows = list(csv.DictReader(f, delimiter="\t"))[:300]
    for r in rows:
        info = wordnet.synset(r["wnid"])
        assert info["name"] == r["name"]
        assert info["lemmas"] == r["lemmas"].split("|")
        assert (info["min_depth"], info["max_depth"]) == (int(r["min_depth"]), int(r["max_depth"]))
        assert len(info["hypernym_paths"]) == int(r["n_paths"])
    ic = wordnet.ic([r["wnid"] for r in rows], "semcor")
    want = [min(float(r["ic_semcor"]), 1e300) for r in rows]
    np.testing.assert_allclose(ic, want, rtol=1e-9, atol=1e-12)
    assert "n02084071" in wordnet.find("dog")


def test_distances_equal_the_cli(wordnet, cli, tmp_path):
    labels = ["n02084071", "n02121808", "n02129604", "n04285008", "n01503061"]
    d = wordnet.distances(labels, "padded")
    assert d.shape == (5, 5) and d.dtype == np.float64
    np.testing.assert_array_equal(d, d.T)
    path = tmp_path / "labels.txt"
    path.write_text("\n".join(labels) + "\n")
    out = tmp_path / "dist.tsv"
    cli("taxonomy", "distances", "--labels", str(path), "--out", str(out), "--convention", "padded")
    index = {w: i for i, w in enumerate(labels)}
    for line in out.read_text().splitlines():
        a, b, v = line.split("\t")
        assert d[index[a], index[b]] == float(v)


def test_is_a_files_work_as_wordnet_does(tmp_path):
    isa = tmp_path / "isa.tsv"
    isa.write_text("animal\tdog\nanimal\tcat\ndog\tpuppy\n")
    tax = hiercog.Taxonomy.from_isa(str(isa))
    assert len(tax) == 4 and "puppy" in tax
    assert tax.similarity("dog", "cat", "path") == pytest.approx(1 / 3)
    assert tax.distances(["puppy", "cat"])[0, 1] == 2.0


def test_bad_input_raises_with_the_library_message(wordnet, tmp_path):
    with pytest.raises(hiercog.TaxonomyError, match=r"b\[1\]: unknown concept \"n99999999\""):
        wordnet.similarity(["n02084071", "n02084071"], ["n02121808", "n99999999"])
    with pytest.raises(hiercog.TaxonomyError, match=r"name: malformed wnid \"dog\""):
        wordnet.synset("dog")
    with pytest.raises(hiercog.TaxonomyError, match="needs information content"):
        wordnet.similarity("n02084071", "n02121808", "lin")
    with pytest.raises(hiercog.TaxonomyError, match="unknown"):
        wordnet.similarity("n02084071", "n02121808", "cosine")
    with pytest.raises(hiercog.HiercogError, match="unknown distance convention"):
        wordnet.distances(["n02084071"], "tall")
    with pytest.raises(hiercog.TaxonomyError, match="give pairs of equal length"):
        wordnet.similarity(["n02084071"] * 2, ["n02121808"] * 3)
    with pytest.raises(hiercog.TaxonomyError, match="uint32"):
        wordnet.similarity(np.array([1, 2], dtype=np.int64), "n02084071")
    cycle = tmp_path / "cycle.tsv"
    cycle.write_text("a\tb\nb\ta\n")
    with pytest.raises(hiercog.TaxonomyError, match="cycle"):
        hiercog.Taxonomy.from_isa(str(cycle))
    assert issubclass(hiercog.TaxonomyError, ValueError)


def test_concept_to_set_similarity_matches_nltk(wordnet):
    with open(fixture("taxonomy", "setsim.tsv")) as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    in1k = (REPO / "crates" / "cog" / "data" / "imagenet1k_wnids.txt").read_text().split()
    values, nearest = wordnet.set_similarity([r["wnid"] for r in rows], in1k, "lin", ic="imagenet21k")
    np.testing.assert_allclose(values, [float(r["max_lin_in21k"]) for r in rows], rtol=1e-9)
    assert nearest == [r["argmax_first"] for r in rows]
