"""The black-box model protocol: label names, input arity, probabilities over the labels.

Any object with these three members is a model for fute::

    labels: Sequence[str]          # the label names it predicts, in the column order it returns
    arity: int                     # 1 (one text) or 2 (a text pair)
    predict_proba(inputs) -> array # len(inputs) x len(labels), rows are distributions

`inputs` is a list of strings (arity 1) or of (text, text_pair) tuples (arity 2).
Outputs are checked by `checked_proba`; a bad output is an error naming the model and the
input, never silently fixed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from fute.core.errors import ModelError

Input = str | tuple[str, str]


@runtime_checkable
class BlackBoxModel(Protocol):
    labels: Sequence[str]
    arity: int

    def predict_proba(self, inputs: Sequence[Input]) -> Any: ...


def model_name(model: object) -> str:
    return str(getattr(model, "name", None) or type(model).__name__)


def model_identity(model: object) -> str:
    """A string that changes whenever the model's answers may change (used as a cache key).

    Adapters define `identity()`; other objects fall back to their name, which is only safe
    for models that never change under the same name.
    """
    ident = getattr(model, "identity", None)
    return str(ident() if callable(ident) else (ident or model_name(model)))


def checked_proba(
    model: object, inputs: Sequence[Input], probs: Any, atol: float = 1e-3
) -> np.ndarray:
    """Validate a model's output for `inputs`; return it as float64 (n x L)."""
    name = model_name(model)
    labels = list(model.labels)
    if isinstance(probs, Sequence) and len(probs) and isinstance(probs[0], Mapping):
        probs = _rows_from_dicts(name, labels, inputs, probs)
    try:
        p = np.asarray(probs, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"model {name!r} returned a non-numeric output: {exc}") from None
    if p.shape != (len(inputs), len(labels)):
        raise ModelError(
            f"model {name!r} returned shape {p.shape} for {len(inputs)} inputs, "
            f"expected {(len(inputs), len(labels))} (one column per label {labels})"
        )

    def _bad(mask: np.ndarray, what: str) -> None:
        rows = np.flatnonzero(mask)
        if rows.size:
            i = int(rows[0])
            raise ModelError(
                f"model {name!r} returned {what} for input {i} {str(inputs[i])[:80]!r}: {p[i].tolist()}"
            )

    _bad(~np.isfinite(p).all(axis=1), "NaN or infinite probabilities")
    _bad((p < 0).any(axis=1), "negative probabilities")
    _bad(np.abs(p.sum(axis=1) - 1.0) > atol, "probabilities that do not sum to 1")
    return p


def _rows_from_dicts(
    name: str, labels: list[str], inputs: Sequence[Input], rows: Sequence[Mapping]
) -> list[list[float]]:
    """`{label: probability}` rows in `labels` order; an undeclared or missing label is an error."""
    out = []
    for i, row in enumerate(rows):
        keys = [str(k) for k in row]
        extra = sorted(set(keys) - set(labels))
        missing = sorted(set(labels) - set(keys))
        if extra or missing:
            what = f"undeclared labels {extra}" if extra else f"no probability for {missing}"
            text = str(inputs[i])[:80] if i < len(inputs) else "?"
            raise ModelError(
                f"model {name!r} returned {what} for input {i} {text!r}; it declares {labels}"
            )
        out.append([row[label] for label in labels])
    return out


def check_arity(model: object, inputs: Sequence[Input]) -> None:
    arity = int(model.arity)
    for i, x in enumerate(inputs):
        ok = isinstance(x, str) if arity == 1 else (isinstance(x, tuple | list) and len(x) == 2)
        if not ok:
            raise ModelError(
                f"model {model_name(model)!r} takes {'one text' if arity == 1 else 'a text pair'} "
                f"per input, got {type(x).__name__} at input {i}"
            )


def predict(model: object, inputs: Sequence[Input]) -> np.ndarray:
    """Call `model.predict_proba` on inputs of the right arity and validate the answer."""
    check_arity(model, inputs)
    return checked_proba(model, inputs, model.predict_proba(list(inputs)))
