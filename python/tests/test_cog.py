"""CoG levels: the imagenet-cog preset against the NLTK reference ranking, the official pickles,
benchmark directories."""

import csv

import pytest

import hiercog
from hiercog.cog import build_levels, import_official, read_official_levels
from conftest import fixture, read_json


def test_the_preset_ranking_equals_the_nltk_reference():
    bench = build_levels()  # IN-1K seen, IN-21K pool, imagenet-cog preset, 5 x 1,000
    with open(fixture("cog", "imagenet_cog_ranking.tsv")) as f:
        want = list(csv.DictReader(f, delimiter="\t"))
    got = bench.ranking
    assert len(got) == len(want) == read_json(fixture("cog", "imagenet_cog_filters.json"))["eligible"]
    for g, w in zip(got, want):
        assert (g["wnid"], g["nearest_seen"]) == (w["wnid"], w["nearest_seen"])
        assert g["similarity"] == pytest.approx(float(w["similarity"]), abs=1e-12)
    assert bench.level_names == ["L1", "L2", "L3", "L4", "L5"]
    levels = bench.levels
    assert [len(l["concepts"]) for l in levels] == [1000] * 5
    assert levels[0]["concepts"][0]["wnid"] == want[0]["wnid"]
    assert bench.wnids("L5") == sorted(c["wnid"] for c in levels[4]["concepts"])
    removed = {r["filter"] for r in bench.removed}
    assert "subtree:n00007846" in removed
    assert bench.manifest["eligible"] == len(want)


def test_small_builds_and_bad_parameters():
    seen = ["n02084071", "n02121808"]
    pool = ["n02085620", "n02123045", "n04285008", "n07873807", "n01440764", "n02129604"]
    bench = build_levels(seen, pool, preset="generic", levels=2, per_level=3, measure="wup")
    assert len(bench) == 2 and repr(bench) == "Benchmark(L1 3, L2 3)"
    with pytest.raises(hiercog.CogError, match="unknown cuts"):
        build_levels(seen, pool, cuts="random")
    with pytest.raises(hiercog.CogError, match="n99999999"):
        build_levels(seen, pool + ["n99999999"], preset="generic", levels=1, per_level=2)


def test_official_pickles_import_and_write(tmp_path):
    levels = read_official_levels(str(fixture("cog", "official_levels_list.pkl")))
    assert read_official_levels(str(fixture("cog", "official_levels_dict.pkl"))) == levels
    bench = import_official(
        str(fixture("cog", "official_levels_list.pkl")), str(fixture("cog", "official_splits.pkl"))
    )
    assert [sorted(c["wnid"] for c in l["concepts"]) for l in bench.levels] == [sorted(l) for l in levels]
    events = []
    bench.write(str(tmp_path / "bench"), plots=False, progress=events.append)
    assert (tmp_path / "bench" / "manifest.json").exists() and events
    with pytest.raises(hiercog.CogError, match="already exists"):
        bench.write(str(tmp_path / "bench"), plots=False)
    with pytest.raises(hiercog.CogError):
        read_official_levels(str(fixture("cog", "imagenet_cog_filters.json")))
