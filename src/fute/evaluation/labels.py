"""Putting a model's label columns in a data set's label order, to score it on that data set.

A prompted LLM answers over its verbalizer's labels; a data set has its own label names.
To measure the prompt's accuracy (or to feed its answers to a prompt-selection baseline)
the columns must mean the data set's labels. Labels are matched by normalised name; a data
set label that the model lacks may be the union of model labels under a known *merge*
(two-way NLI's "non-entailment" is three-way NLI's contradiction + neutral). Model labels
that the data set does not use are dropped and the rows renormalised: the model is read
as choosing among the data set's labels only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from fute.core.errors import DataError
from fute.core.examples import normalise_label

#: data set label -> the model labels whose probabilities it collects, when absent by name
MERGES: dict[str, tuple[str, ...]] = {
    "non-entailment": ("contradiction", "neutral"),
    "not-entailment": ("contradiction", "neutral"),
    "not_entailment": ("contradiction", "neutral"),
    "non_entailment": ("contradiction", "neutral"),
}


def align_label_columns(
    probs,
    model_labels: Sequence[str],
    data_labels: Sequence[str],
    merges: Mapping[str, Sequence[str]] = MERGES,
) -> np.ndarray:
    """(n, len(data_labels)) probabilities: `probs` (columns in `model_labels` order) mapped
    onto `data_labels` by name or merge, renormalised per row.

    Raises `DataError` when a data set label has no counterpart among the model's labels.
    """
    p = np.asarray(probs, dtype=np.float64)
    model = [normalise_label(x) for x in model_labels]
    if p.ndim != 2 or p.shape[1] != len(model):
        raise DataError(f"probs of shape {p.shape} do not have one column per model label {model}")
    columns = []
    for label in (normalise_label(x) for x in data_labels):
        if label in model:
            columns.append(p[:, model.index(label)])
        elif label in merges and all(normalise_label(m) in model for m in merges[label]):
            columns.append(sum(p[:, model.index(normalise_label(m))] for m in merges[label]))
        else:
            raise DataError(
                f"data set label {label!r} is not among the model's labels {model}; "
                "use a prompt whose verbalizer covers the data set's labels"
            )
    out = np.stack(columns, axis=1)
    total = out.sum(axis=1, keepdims=True)
    if (total <= 0).any():
        raise DataError(
            "the model gives zero probability to every label of the data set on some input"
        )
    return out / total
