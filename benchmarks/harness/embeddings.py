"""The selection benchmarks' task embeddings, each cached by what makes it (the space, its
settings, the examples or the model), and the fixed references of centred-cosine."""

from __future__ import annotations

import warnings

from benchmarks.harness.cache import cache_key, cached_embedding

EMBEDDING_TAG = "with-extras-1"  # in every embedding's cache key: entries without extras differ
#: the FUTE methods whose embeddings the selection benchmarks compare
FUTE_METHODS = ("fisher", "prefix")
#: the similarities that apply to each method's embeddings (docs/similarity.md)
SIMILARITIES = {
    "fisher": ("cosine", "centred-cosine", "task2vec", "rrf-components", "behaviour"),
    "prefix": ("cosine", "centred-cosine", "rrf-components", "maxsim", "behaviour"),
}


def cached_dte(space, data, name: str):
    """The DTE of the labelled examples `data` in `space` (few examples warn: known, and
    the point of a row from k labels)."""

    def make():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return space.dataset_embedding(data, name=name)

    key = cache_key("dte", EMBEDDING_TAG, space.key, space.settings, data.content_hash())
    return cached_embedding(key, make)


def cached_mte(space, model, identity: tuple, name: str, kind: str, exclude):
    """The MTE of `model` (named by `identity` in the key) on the space's pool without the
    data sets `exclude`."""
    key = cache_key("mte", EMBEDDING_TAG, space.key, space.settings, *identity, sorted(exclude))
    return cached_embedding(
        key,
        lambda: space.model_embedding(model, name=name, kind=kind, exclude=tuple(exclude)),
    )


def kind_centres(groups) -> dict:
    """centred-cosine's fixed references: {kind: unit mean of the embeddings given for that
    kind}, for every kind with at least 2 (`groups`: (kind, embeddings) pairs)."""
    from fute.ranking.centres import unit_mean

    out = {}
    for kind, embs in groups:
        centre, n = unit_mean(e.vector for e in embs)
        if n >= 2:
            out[kind] = centre
    return out
