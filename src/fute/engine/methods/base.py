"""What every embedding method shares: its result (`MethodResult`), its protocol (`Method`),
and the checks and splits of its hyper-parameters (space-defining vs per-embedding).

The registry (`make_method`) is the package's `__init__`; the methods import this module.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from fute.core.errors import FuteError

METHODS = ("fisher", "prefix", "mean-embedding")
# per-embedding settings of each method (its params' PER_EMBEDDING), readable without torch;
# a Space adds "pool_size" (model embeddings)
PER_EMBEDDING_SETTINGS = {
    "fisher": ("max_examples", "fisher_examples", "fisher_batch_size"),
    "prefix": ("max_examples",),
    "mean-embedding": ("max_examples", "batch_size"),
}


@dataclass
class MethodResult:
    """`vector` is the embedding; `extras` the named arrays kept beside it (`fute.core.extras`)."""

    vector: np.ndarray
    info: dict = field(default_factory=dict)
    extras: dict = field(default_factory=dict)


class Method(Protocol):
    name: str
    params: Any  # a frozen dataclass of hyper-parameters with a PER_EMBEDDING tuple

    def hparams(self) -> dict: ...

    def settings(self) -> dict: ...

    def embed(
        self, surrogate, examples, seed: int, progress: bool | None = None
    ) -> MethodResult: ...


# A method that trains a classifier (fisher, prefix) also takes ``probe=`` (unlabelled
# `Examples`: the space's pool) and answers it once after training, kept in the extras
# ``pool_answers`` / ``answer_labels`` / ``pool_items``; `answers_probe` says it does.


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


def space_hparams(params: Any) -> dict:
    """The space-defining hyper-parameters of a parameter dataclass (all but PER_EMBEDDING)."""
    per_embedding = set(getattr(params, "PER_EMBEDDING", ()))
    return {k: v for k, v in dataclasses.asdict(params).items() if k not in per_embedding}


def embedding_settings(params: Any) -> dict:
    """The per-embedding settings of a parameter dataclass (its PER_EMBEDDING names)."""
    return {k: getattr(params, k) for k in getattr(params, "PER_EMBEDDING", ())}


def positive(name: str, value: float, allow_zero: bool = False) -> None:
    if not (value >= 0 if allow_zero else value > 0):
        raise FuteError(
            f"hyper-parameter {name} must be {'>= 0' if allow_zero else '> 0'}, got {value}"
        )
