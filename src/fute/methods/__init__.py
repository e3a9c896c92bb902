"""Embedding methods: labelled examples in, one vector out, always through the surrogate.

A method is a small object built from its hyper-parameters (validated, defaults filled in)
with one verb::

    result = method.embed(surrogate, examples, seed, progress=None)
    result.vector  # 1-D float array
    result.info    # what happened: training steps, dev loss, ...

``fisher`` (TaskEmb in FUTE), ``prefix`` (TuPaTE in FUTE) and the ``mean-embedding``
baseline are registered here; `make_method(name, **hparams)` builds one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from fute.errors import FuteError

METHODS = ("fisher", "prefix", "mean-embedding")


@dataclass
class MethodResult:
    vector: np.ndarray
    info: dict = field(default_factory=dict)


class Method(Protocol):
    name: str
    params: Any  # a frozen dataclass of hyper-parameters

    def embed(
        self, surrogate, examples, seed: int, progress: bool | None = None
    ) -> MethodResult: ...


def resolve_params(cls: type, method: str, hparams: dict) -> Any:
    """Fill defaults and reject unknown names with the list of known ones."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(hparams) - known)
    if unknown:
        raise FuteError(
            f"method {method!r} has no hyper-parameter {', '.join(unknown)}; "
            f"known: {', '.join(sorted(known))}"
        )
    params = cls(**{k.replace("-", "_"): v for k, v in hparams.items()})
    check = getattr(params, "check", None)
    if callable(check):
        check()
    return params


def positive(name: str, value: float, allow_zero: bool = False) -> None:
    if not (value >= 0 if allow_zero else value > 0):
        raise FuteError(
            f"hyper-parameter {name} must be {'>= 0' if allow_zero else '> 0'}, got {value}"
        )


def make_method(name: str, **hparams: Any) -> Method:
    """Build a method by name; hyper-parameters not given take the documented defaults."""
    key = str(name).strip().lower().replace("_", "-")
    if key == "fisher":
        from fute.methods.fisher import FisherMethod

        return FisherMethod(**hparams)
    if key == "prefix":
        from fute.methods.prefix import PrefixMethod

        return PrefixMethod(**hparams)
    if key in ("mean-embedding", "mean"):
        from fute.methods.mean_embedding import MeanEmbeddingMethod

        return MeanEmbeddingMethod(**hparams)
    raise FuteError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")
