"""Aligning a model's label columns with a data set's labels (by name, or by a known merge)."""

import numpy as np
import pytest

from fute.core.errors import DataError
from fute.evaluation.labels import align_label_columns


def test_reorders_by_name_and_drops_extra_labels():
    probs = np.array([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]])  # contradiction, entailment, neutral
    out = align_label_columns(
        probs, ["Contradiction", "entailment", "neutral"], ["entailment", "contradiction"]
    )
    np.testing.assert_allclose(out, [[0.5 / 0.7, 0.2 / 0.7], [0.1 / 0.7, 0.6 / 0.7]])


def test_merges_three_way_nli_into_non_entailment():
    probs = np.array([[0.2, 0.5, 0.3]])
    out = align_label_columns(
        probs, ["contradiction", "entailment", "neutral"], ["entailment", "non-entailment"]
    )
    np.testing.assert_allclose(out, [[0.5, 0.5]])


def test_missing_label_and_bad_shape_raise():
    with pytest.raises(DataError, match="not among the model's labels"):
        align_label_columns(
            np.array([[0.5, 0.5]]), ["negative", "positive"], ["negative", "neutral"]
        )
    with pytest.raises(DataError, match="one column per model label"):
        align_label_columns(np.array([[0.5, 0.5]]), ["a", "b", "c"], ["a"])
