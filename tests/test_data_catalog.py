"""The catalogue on the real fetched data (prepared by `fute data prepare`, cached).

The catalogue is a set of TOML files (`src/fute/data/catalog/*.toml`); these tests check
what issue 25 asks of it on the sets the registries serve today."""

import collections
import json
import subprocess
import sys

import pytest

from fute.core.errors import DataError
from fute.data import get_entry, list_datasets, load_dataset
from fute.data.catalog import dataset_dir, expected_sizes, reserved_names
from fute.data.prepare import prepare

RESERVED = {
    "sentiment-finefood",
    "sentiment-pang-lee",
    "sentiment-pang-lee-reviews",
    "pair-privacy-policy",
    "pair-consumer-contracts",
    "hedge-conll2010",
    "party-debates2016",
}


@pytest.fixture(scope="module")
def catalogue():
    out = subprocess.run(
        [sys.executable, "-m", "fute", "data", "list", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def test_list_json_is_one_array_with_required_fields(catalogue):
    assert isinstance(catalogue, list) and len(catalogue) >= 30
    for e in catalogue:
        for field in ("name", "family", "inputs", "labels", "source", "citation", "licence"):
            assert e[field], (e["name"], field)
        assert e["inputs"] in (1, 2) and len(e["labels"]) >= 2
        assert e["labels"] == sorted(e["labels"])
        assert {"files", "reader", "licence"} <= set(e["source"])
        for f in e["source"]["files"]:
            assert f["sources"], f
            assert f["sha256"] is None or len(f["sha256"]) == 64
        assert e["status"] in ("ready", "fetchable", "unavailable")
        assert (e["status"] == "unavailable") == bool(e["unavailable_reason"])
        if e["status"] == "ready":
            assert set(e["sizes"]) == {"train", "dev", "test"} and min(e["sizes"].values()) > 0


def test_served_sets_meet_the_coverage_the_catalogue_promises(catalogue):
    served = [e for e in catalogue if e["status"] != "unavailable"]
    big = [e for e in served if sum(e["sizes"].values()) >= 300]
    assert len(big) >= 30
    assert len({e["family"] for e in big}) >= 10
    pairs = [e for e in big if e["inputs"] == 2]
    assert len(pairs) >= 6 and len({e["family"] for e in pairs}) >= 2
    sentiment = {e["name"] for e in big if e["family"] == "sentiment"}
    assert len(sentiment) >= 6
    assert {"sentiment-finefood", "sentiment-pang-lee", "sentiment-pang-lee-reviews"} <= sentiment


def test_reserved_sets_are_marked_in_the_data_file(catalogue):
    assert reserved_names() == RESERVED
    assert {e["name"] for e in catalogue if e["reserved"]} == RESERVED


def test_bigbench_sets_are_shown_unavailable_with_a_reason(catalogue):
    bigbench = [e for e in catalogue if e["source"]["reader"] == "bigbench_task"]
    assert bigbench
    for e in bigbench:
        assert e["status"] == "unavailable", e["name"]
        assert "bigbench" in e["unavailable_reason"]


@pytest.mark.parametrize(
    "name", ["sentiment-imdb", "sentiment-yelp", "pair-boolq", "topic-bbc", "authorship-austen"]
)
def test_load_dataset_gives_examples_with_provenance(name):
    ex = load_dataset(name)
    ex.validate()
    entry = get_entry(name)
    assert ex.label_names == entry.labels
    assert ex.arity == entry.inputs
    for key in ("dataset", "files", "sources", "reader", "licence", "split", "split_seed"):
        assert key in ex.provenance, key
    assert len(ex.provenance["split_sha256"]) == 64
    pinned = {f["id"]: f["sha256"] for f in entry.to_dict()["source"]["files"]}
    for f in ex.provenance["files"]:
        assert f["sha256"] == pinned[f["id"]]


def test_label_names_are_human_words_shared_across_sets():
    for entry in list_datasets():
        if entry.family == "sentiment" and len(entry.labels) == 2:
            assert entry.labels == ("negative", "positive"), entry.name
        for label in entry.labels:
            assert label.strip() and not label.isdigit(), (entry.name, label)
    for entry in list_datasets():
        if entry.family == "answer-verification":
            assert entry.labels == ("no", "yes"), entry.name


def test_splits_are_disjoint_deterministic_and_match_shipped_sizes():
    shipped = expected_sizes()
    built = {e.name: e.to_dict()["sizes"] for e in list_datasets() if e.name in shipped}
    assert built == shipped
    parts = {s: load_dataset("sentiment-pang-lee", s) for s in ("train", "dev", "test")}
    keys = {s: set(p.texts) for s, p in parts.items()}
    assert not keys["train"] & keys["test"] and not keys["train"] & keys["dev"]
    assert sum(len(p) for p in parts.values()) == sum(shipped["sentiment-pang-lee"].values())


def test_pairs_keep_their_two_inputs_apart():
    ex = load_dataset("pair-boolq", "dev")
    assert ex.arity == 2 and all(t and p for t, p in ex.inputs())
    ex = load_dataset("pair-mc-openbookqa", "dev")
    assert all(t != p for t, p in ex.inputs())


def test_unknown_name_suggests_nearest():
    with pytest.raises(DataError, match="sentiment-imdb"):
        get_entry("sentiment-imbd")


def test_family_is_the_task_and_counts_are_stable():
    families = collections.Counter(e.family for e in list_datasets())
    assert all(e.task == e.family for e in list_datasets())
    assert families["sentiment"] >= 6


def test_second_prepare_is_a_no_op():
    folder = dataset_dir("sentiment-imdb")
    load_dataset("sentiment-imdb")
    before = (folder / "meta.json").stat().st_mtime_ns
    report = prepare(["sentiment-imdb"], quiet=True)
    assert report.built == [] and report.ready == ["sentiment-imdb"]
    assert (folder / "meta.json").stat().st_mtime_ns == before
