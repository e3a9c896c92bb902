"""Embedding methods: labelled examples in, one vector out, always through the surrogate.

A method is a small object built from its hyper-parameters (validated, defaults filled in)
with one verb::

    result = method.embed(surrogate, examples, seed, progress=None)
    result.vector  # 1-D float array
    result.info    # what happened: training steps, dev loss, ...

``fisher`` (TaskEmb in FUTE), ``prefix`` (TuPaTE in FUTE) and the ``mean-embedding``
baseline are registered here; `make_method(name, **hparams)` builds one.

A method's hyper-parameters come in two groups (docs/methods.md, "What defines a space"):

- ``method.hparams()``: the *space-defining* ones, which change the coordinates or the
  training recipe (input length, learning rate, step budget, head, prefix, projection).
  The space key hashes these alone.
- ``method.settings()``: the *per-embedding* ones, listed in the parameter class's
  ``PER_EMBEDDING``: how much data one embedding is computed from (``max_examples``,
  ``fisher_examples``) and how it is batched where batching does not change the result
  (``fisher_batch_size``, the mean-embedding's ``batch_size``). They are kept in each
  embedding's provenance, never in the key, so embeddings made with different amounts of
  data still compare.
"""

from __future__ import annotations

from typing import Any

from fute.core.errors import FuteError
from fute.engine.methods.base import (
    METHODS,
    PER_EMBEDDING_SETTINGS,
    Classifier,
    Method,
    MethodResult,
    TrainedMethod,
    embedding_settings,
    positive,
    resolve_params,
    space_hparams,
)

__all__ = [
    "METHODS",
    "PER_EMBEDDING_SETTINGS",
    "Classifier",
    "Method",
    "MethodResult",
    "TrainedMethod",
    "embedding_settings",
    "make_method",
    "positive",
    "resolve_params",
    "space_hparams",
]


#: where each method's class is (imported on first use: they load torch)
_CLASSES = {
    "fisher": ("fute.engine.methods.fisher", "FisherMethod"),
    "prefix": ("fute.engine.methods.prefix", "PrefixMethod"),
    "mean-embedding": ("fute.engine.methods.mean_embedding", "MeanEmbeddingMethod"),
}


def make_method(name: str, **hparams: Any) -> Method:
    """Build a method by name; hyper-parameters not given take the documented defaults."""
    import importlib

    key = str(name).strip().lower().replace("_", "-")
    key = "mean-embedding" if key == "mean" else key
    if key not in _CLASSES:
        raise FuteError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")
    module, cls = _CLASSES[key]
    return getattr(importlib.import_module(module), cls)(**hparams)
