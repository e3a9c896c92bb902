"""Do the embeddings mean something? Real catalogue data, real surrogate; these can fail.

Two movie/restaurant-review sentiment sets must be closer to each other than to a pair set
or a topic set, for both trained methods; and the model embedding of a sentiment
classifier (TF-IDF + logistic regression trained on a third sentiment set) must be closer
to the sentiment DTEs than to the pair DTE (fisher; for prefix the test says why not).
Budgets are cut (192 examples, 12 steps) to keep the module to a few minutes; the
defaults use more.
"""

import pytest

from fute.data.catalog import load_dataset
from fute.models.adapters import SklearnModel
from fute.models.train import train_tfidf_logreg
from fute.space import Space

pytestmark = pytest.mark.slow

CAPS = dict(max_examples=192, max_steps=12, eval_every=6, max_length=48)
METHOD_CAPS = {"fisher": dict(fisher_examples=64), "prefix": {}}
DATASETS = ("sentiment-imdb", "sentiment-yelp", "pair-boolq", "topic-bbc")


@pytest.fixture(scope="module", params=["fisher", "prefix"])
def embedded(request, tmp_path_factory):
    method = request.param
    space = Space(  # the DTEs of the data sets alone: what this meaning test measured
        method=method,
        seed=0,
        pool_size=192,
        progress=False,
        pool_anchor=False,
        **CAPS,
        **METHOD_CAPS[method],
    )
    dtes = {name: space.dataset_embedding(load_dataset(name)) for name in DATASETS}
    path = train_tfidf_logreg(
        load_dataset("sentiment-amazon"), tmp_path_factory.mktemp("m") / "lr.joblib"
    )
    mte = space.model_embedding(SklearnModel(path, name="tfidf-amazon"), exclude=DATASETS)
    return method, dtes, mte


def test_sentiment_sets_are_closest_to_each_other(embedded):
    method, e, _ = embedded
    together = e["sentiment-imdb"].similarity(e["sentiment-yelp"])
    apart = {
        (a, b): e[a].similarity(e[b])
        for a in ("sentiment-imdb", "sentiment-yelp")
        for b in ("pair-boolq", "topic-bbc")
    }
    assert together > max(apart.values()), f"{method}: imdb~yelp {together:.3f}, others {apart}"


def test_sentiment_model_is_closer_to_sentiment_data_than_to_pairs(embedded):
    method, e, mte = embedded
    if method == "prefix":
        # Measured on pool v2 with these caps (2026-12-06): the prefix MTE's cosine to every
        # DTE is near zero and not ordered by task (seed 0: imdb -0.047, yelp 0.031, boolq
        # -0.014; seed 1: -0.046, -0.003, 0.062; a 48-step cap gave the same values: training
        # stops earlier on 192 examples). Prefix MTE-vs-DTE
        # cosine is not a signal at test caps; the benchmarks measure it at full caps.
        pytest.skip("prefix MTE-vs-DTE cosine carries no task signal at test caps (measured)")
    sims = {name: mte.similarity(dte) for name, dte in e.items()}
    assert min(sims["sentiment-imdb"], sims["sentiment-yelp"]) > sims["pair-boolq"], (
        f"{method}: {sims}"
    )
    assert mte.kind == "model" and mte.meta["model"]["labels"] == ["negative", "positive"]
