"""Label-using baselines: LogME against a direct maximisation of the evidence, few-label accuracy."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from fute.core.errors import DataError
from fute.evaluation.label_baselines import (
    few_label_accuracies,
    few_label_accuracy,
    few_label_cost,
    logme,
)

# ---------------------------------------------------------------------------------------
# LogME


def _evidence_by_optimiser(features, labels) -> float:
    """Max over (alpha, beta) of log N(y; 0, F F^T / alpha + I / beta) / n, per class, averaged.

    The marginal likelihood written as one Gaussian over y, maximised by a generic
    optimiser: a different route to the number LogME's fixed point should reach.
    """
    f = np.asarray(features, dtype=float)
    n = len(f)
    gram = f @ f.T
    values = []
    for cls in np.unique(labels):
        y = (np.asarray(labels) == cls).astype(float)

        def neg(theta, y=y):
            cov = gram * np.exp(-theta[0]) + np.eye(n) * np.exp(-theta[1])
            chol = np.linalg.cholesky(cov)
            white = np.linalg.solve(chol, y)
            return white @ white / 2 + np.log(np.diag(chol)).sum() + n / 2 * np.log(2 * np.pi)

        best = min(
            (minimize(neg, start, method="L-BFGS-B", tol=1e-12) for start in ([0, 0], [3, 3])),
            key=lambda r: r.fun,
        )
        values.append(-best.fun / n)
    return float(np.mean(values))


@pytest.mark.parametrize(("n", "dim"), [(30, 4), (8, 20)])
def test_logme_reaches_the_maximum_evidence(n, dim):
    rng = np.random.default_rng(n)
    labels = rng.integers(0, 3, size=n)
    features = rng.normal(size=(n, dim)) + labels[:, None] * 0.7
    assert logme(features, labels) == pytest.approx(
        _evidence_by_optimiser(features, labels), abs=1e-4
    )


def test_logme_prefers_features_that_separate_the_labels():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 20)
    # one column per class (the model has no bias term), plus noise columns
    separating = np.column_stack([np.eye(2)[labels], rng.normal(size=(40, 2))])
    separating += rng.normal(scale=0.1, size=(40, 4))
    random = rng.normal(size=(40, 4))
    assert logme(separating, labels) > logme(random, labels) + 0.3


def test_logme_invariances():
    rng = np.random.default_rng(1)
    labels = rng.choice(["neg", "neu", "pos"], size=25)
    f = rng.normal(size=(25, 6)) + (labels == "pos")[:, None]
    base = logme(f, labels)
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    assert logme(f @ q, labels) == pytest.approx(base, abs=1e-6)  # rotation
    assert logme(f * 37.0, labels) == pytest.approx(base, abs=1e-6)  # scale
    order = rng.permutation(25)
    assert logme(f[order], labels[order]) == pytest.approx(base, abs=1e-9)  # example order
    renamed = np.select([labels == "neg", labels == "neu"], [7, 3], 5)
    assert logme(f, renamed) == pytest.approx(base, abs=1e-9)  # label names
    # one-hot targets given as a matrix are the class labels
    onehot = (labels[:, None] == np.array(["neg", "neu", "pos"])).astype(float)
    assert logme(f, onehot) == pytest.approx(base, abs=1e-9)


@pytest.mark.parametrize(
    ("features", "labels", "msg"),
    [
        (np.ones((4, 2)), [0, 0, 0, 0], "single class"),
        (np.ones((4, 2)), [0, 1, 0], "n=4"),
        (np.zeros((4, 2)), [0, 1, 0, 1], "all zero"),
        (np.full((4, 2), np.nan), [0, 1, 0, 1], "NaN"),
        (np.ones(4), [0, 1, 0, 1], "at least 2 examples"),
    ],
)
def test_logme_refuses_bad_input(features, labels, msg):
    with pytest.raises(DataError, match=msg):
        logme(features, labels)


# ---------------------------------------------------------------------------------------
# few-label accuracy


def _one_hot_answers(predictions, n_labels=2):
    return np.eye(n_labels)[np.asarray(predictions)]


LABELS = np.array([0, 1, 0, 1])


def test_few_label_accuracy_with_every_example_is_the_accuracy():
    probs = np.stack(
        [
            _one_hot_answers([0, 1, 0, 1]),
            _one_hot_answers([0, 1, 1, 0]),
            _one_hot_answers([0, 1, 0, 0]),
        ]
    )
    mean, std = few_label_accuracy(probs, LABELS, k=4, draws=5, seed=3)
    np.testing.assert_allclose(mean, [1.0, 0.5, 0.75])  # without replacement: all 4 each time
    np.testing.assert_array_equal(std, [0.0, 0.0, 0.0])


def test_prompts_are_scored_on_the_same_draw():
    # A is right exactly where B is wrong: on a shared draw their accuracies sum to 1
    probs = np.stack([_one_hot_answers([0, 1, 1, 0]), _one_hot_answers([1, 0, 0, 1])])
    acc = few_label_accuracies(probs, LABELS, k=2, draws=50, seed=0)
    assert acc.shape == (50, 2)
    np.testing.assert_allclose(acc.sum(axis=1), 1.0)
    assert set(np.unique(acc[:, 0])) <= {0.0, 0.5, 1.0}
    assert acc[:, 0].std() > 0  # draws differ


def test_draws_are_seeded_and_unbiased():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=200)
    probs = rng.dirichlet(np.ones(3), size=(2, 200))
    a = few_label_accuracies(probs, labels, k=8, draws=400, seed=11)
    np.testing.assert_array_equal(a, few_label_accuracies(probs, labels, k=8, draws=400, seed=11))
    assert not np.array_equal(a, few_label_accuracies(probs, labels, k=8, draws=400, seed=12))
    full = (probs.argmax(axis=2) == labels).mean(axis=1)
    # the mean over 400 draws of 8 is within 4 standard errors of the full accuracy
    se = np.sqrt(full * (1 - full) / 8 / 400)
    assert (np.abs(a.mean(axis=0) - full) < 4 * se).all()
    mean, std = few_label_accuracy(probs, labels, k=8, draws=400, seed=11)
    np.testing.assert_allclose(mean, a.mean(axis=0))
    np.testing.assert_allclose(std, a.std(axis=0))


def test_one_prompt_and_cost():
    mean, std = few_label_accuracy(_one_hot_answers([0, 1, 0, 0]), LABELS, k=4)
    np.testing.assert_allclose(mean, [0.75])
    assert few_label_cost(16, 5) == 80


@pytest.mark.parametrize(
    ("labels", "k", "draws", "msg"),
    [
        (LABELS, 5, 3, "k must be between 1 and the 4"),
        (LABELS, 0, 3, "k must be"),
        (LABELS, 2, 0, "draws must be at least 1"),
        (np.array([0, 1, 2, 1]), 2, 3, r"lie in 0\.\.1"),
        (np.array([0.0, 1.0, 0.0, 1.0]), 2, 3, "integer column indices"),
        (np.array([0, 1]), 2, 3, "n=4"),
    ],
)
def test_few_label_refuses_bad_input(labels, k, draws, msg):
    with pytest.raises(DataError, match=msg):
        few_label_accuracy(_one_hot_answers([0, 1, 0, 1]), labels, k=k, draws=draws)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 20), st.integers(1, 5), st.integers(0, 10_000))
def test_accuracies_are_multiples_of_one_over_k(k, prompts, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, size=20)
    probs = rng.dirichlet(np.ones(3), size=(prompts, 20))
    acc = few_label_accuracies(probs, labels, k=k, draws=4, seed=seed)
    assert acc.shape == (4, prompts)
    np.testing.assert_allclose(acc * k, np.round(acc * k), atol=1e-9)
    assert ((acc >= 0) & (acc <= 1)).all()


def test_logme_is_finite_and_ordered_with_fewer_examples_than_features():
    """k = 16 examples of 384 features (the few-label case): the features can fit the
    labels exactly, which used to send the noise precision to infinity (NaN / -inf);
    scores stay finite, and features that carry the labels beat features that do not."""
    rng = np.random.default_rng(0)
    for k in (16, 64):
        labels = np.arange(k) % 2
        noise = rng.standard_normal((k, 384))
        informative = noise * 0.1 + labels[:, None] * rng.standard_normal(384)[None, :]
        scores = [logme(f, labels) for f in (informative, noise)]
        assert np.isfinite(scores).all(), scores
        assert scores[0] > scores[1]
