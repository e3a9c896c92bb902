"""The catalogue on the real fetched data (prepared by `fute data prepare`, cached)."""

import json
import subprocess
import sys

import pytest

from fute.data import get_entry, list_datasets, load_dataset
from fute.data.catalog import dataset_dir
from fute.data.prepare import prepare
from fute.errors import DataError

REQUIRED = [
    "sentiment-imdb",
    "sentiment-yelp",
    "sentiment-amazon",
    "sentiment-rotten-tomatoes",
    "sentiment-pang-lee",
    "sentiment-finefood",
    "multiemo-hotels",
    "multiemo-medicine",
    "multiemo-products",
    "multiemo-reviews",
    "nli-vitaminc",
    "nli-presuppositions",
    "nli-epistemic",
    "fact-fever",
    "topic-bbc",
    "spam-assassin",
    "intent-bigbench",
]


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
    assert isinstance(catalogue, list) and len(catalogue) >= 25
    names = {e["name"] for e in catalogue}
    assert set(REQUIRED) <= names
    for e in catalogue:
        assert {"name", "task", "inputs", "labels", "sizes", "source"} <= set(e)
        assert e["inputs"] in (1, 2) and len(e["labels"]) >= 2
        assert e["labels"] == sorted(e["labels"])
        assert {"package", "version", "file", "sha256", "licence"} <= set(e["source"])
        assert len(e["source"]["sha256"]) == 64
        assert set(e["sizes"]) == {"train", "dev", "test"} and min(e["sizes"].values()) > 0
        assert e["splits"]["seed"] == 0


def test_task_coverage(catalogue):
    by_task = {}
    for e in catalogue:
        by_task.setdefault(e["task"], []).append(e)
    assert len(by_task["sentiment"]) >= 6
    nli_pairs = [e for e in by_task["nli"] if e["inputs"] == 2]
    assert len(nli_pairs) >= 3
    for task in ("fact-checking", "topic", "spam", "intent"):
        assert by_task.get(task), task


@pytest.mark.parametrize("name", ["sentiment-imdb", "sentiment-yelp", "nli-vitaminc", "topic-bbc"])
def test_load_dataset_gives_examples_with_provenance(name):
    ex = load_dataset(name)
    ex.validate()
    entry = get_entry(name)
    assert ex.label_names == entry.labels
    assert ex.arity == entry.inputs
    for key in ("package", "version", "file", "sha256", "licence", "split", "split_seed"):
        assert key in ex.provenance
    assert ex.provenance["sha256"] == entry.source()["sha256"]


def test_label_names_are_shared_across_sets():
    for entry in list_datasets():
        if entry.task == "sentiment" and len(entry.labels) == 2:
            assert entry.labels == ("negative", "positive"), entry.name
    for name in ("nli-vitaminc", "nli-presuppositions"):
        assert get_entry(name).labels == ("contradiction", "entailment", "neutral")


def test_splits_are_disjoint_deterministic_and_match_shipped_sizes():
    entry_sizes = {e.name: e.to_dict()["sizes"] for e in list_datasets()}
    from fute.data.catalog import expected_sizes

    assert entry_sizes == expected_sizes()
    parts = {s: load_dataset("sentiment-pang-lee", s) for s in ("train", "dev", "test")}
    keys = {s: set(p.texts) for s, p in parts.items()}
    assert not keys["train"] & keys["test"] and not keys["train"] & keys["dev"]
    assert sum(len(p) for p in parts.values()) == 4000


def test_nli_pairs_are_parsed_out_of_the_task_text():
    ex = load_dataset("nli-presuppositions", "test")
    assert all("Sentence 1:" not in t and "Sentence 2:" not in p for t, p in ex.inputs())
    ex = load_dataset("nli-epistemic", "dev")
    assert all("Hypothesis:" not in t for t in ex.texts)


def test_unknown_name_suggests_nearest():
    with pytest.raises(DataError, match="sentiment-imdb"):
        get_entry("sentiment-imbd")


def test_second_prepare_is_a_no_op():
    folder = dataset_dir("sentiment-imdb")
    load_dataset("sentiment-imdb")
    before = (folder / "meta.json").stat().st_mtime_ns
    assert prepare(["sentiment-imdb"], quiet=True) == []
    assert (folder / "meta.json").stat().st_mtime_ns == before
