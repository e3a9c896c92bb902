"""Prompt-selection baselines: hand-computed values, orientation (higher is better), edge cases."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fute.core.errors import DataError
from fute.evaluation.prompt_baselines import (
    confident_prompts,
    global_entropy,
    local_entropy,
    mdl,
    mean_margin,
    mutual_information,
    perplexity_score,
    zps_logprob,
    zps_prob,
    zps_pseudo_labels,
    zps_scores,
    zps_vote,
)

LN2 = math.log(2)

# two inputs, two labels: one confident, one undecided
P = np.array([[1.0, 0.0], [0.5, 0.5]])


def test_entropies_by_hand():
    # H(p_1) = 0, H(p_2) = ln 2
    assert local_entropy(P) == pytest.approx(LN2 / 2)
    # mean distribution [0.75, 0.25]
    h_mean = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert mutual_information(P) == pytest.approx(h_mean - LN2 / 2)
    # argmax: label 0 twice (the tie in row 2 goes to the first label)
    assert global_entropy(P) == 0.0
    assert global_entropy([[0.9, 0.1], [0.2, 0.8]]) == pytest.approx(LN2)


def test_mdl_is_mean_code_length_in_bits_negated():
    # code lengths: 0 bits and 1 bit
    assert mdl(P) == pytest.approx(-0.5)
    q = np.array([[0.25, 0.25, 0.5]])
    assert mdl(q) == pytest.approx(-1.5)
    assert mdl(q) == pytest.approx(-local_entropy(q) / LN2)


def test_orientation_confident_and_balanced_prompt_wins_on_mi():
    good = np.array([[0.95, 0.05], [0.05, 0.95]] * 5)  # confident, uses both labels
    collapsed = np.array([[0.95, 0.05]] * 10)  # confident, one label for everything
    unsure = np.full((10, 2), 0.5)
    assert mutual_information(good) > mutual_information(collapsed)
    assert mutual_information(good) > mutual_information(unsure)
    assert global_entropy(good) > global_entropy(collapsed)
    assert local_entropy(unsure) > local_entropy(good)
    assert mdl(good) > mdl(unsure)


def test_perplexity_score_by_hand():
    lp = [[math.log(0.5), math.log(0.5)], [math.log(0.25)]]
    # perplexities 2 and 4
    assert perplexity_score(lp) == pytest.approx(-3.0)
    assert perplexity_score([np.array([-1.0, -3.0])]) == pytest.approx(-math.exp(2.0))
    # a prompt the LM finds more natural scores higher
    assert perplexity_score([[-0.1, -0.2]]) > perplexity_score([[-2.0, -3.0]])


@pytest.mark.parametrize("bad", [[], [[]], [[0.5]], [[float("nan")]], np.array([-1.0, -2.0])])
def test_perplexity_rejects_bad_input(bad):
    with pytest.raises(DataError):
        perplexity_score(bad)


@pytest.mark.parametrize(
    "bad",
    [
        np.array([0.5, 0.5]),
        np.array([[0.5, 0.6]]),
        np.array([[1.2, -0.2]]),
        np.zeros((0, 2)),
        [[1.0]],
    ],
)
def test_probability_checks(bad):
    with pytest.raises(DataError):
        mutual_information(bad)


def test_mean_margin_and_confident_prompts():
    assert mean_margin([[0.7, 0.2, 0.1], [0.4, 0.4, 0.2]]) == pytest.approx((0.5 + 0.0) / 2)
    # 2-means on 1-D: {0.1, 0.15, 0.2} vs {0.8, 0.9}
    np.testing.assert_array_equal(
        confident_prompts([0.1, 0.9, 0.15, 0.8, 0.2]), [False, True, False, True, False]
    )
    # the split minimising within-cluster squares: {0, 0.1} vs {0.9, 1.0, 1.0}
    np.testing.assert_array_equal(
        confident_prompts([0.0, 0.1, 0.9, 1.0, 1.0]), [False, False, True, True, True]
    )
    assert confident_prompts([0.3, 0.3, 0.3]).all()


# three prompts on three inputs, two labels
ZP = np.array(
    [
        [[0.9, 0.1], [0.8, 0.2], [0.1, 0.9]],  # margins 0.8, 0.6, 0.8 -> mean 0.733
        [[0.95, 0.05], [0.3, 0.7], [0.2, 0.8]],  # 0.9, 0.4, 0.6 -> 0.633
        [[0.55, 0.45], [0.45, 0.55], [0.55, 0.45]],  # 0.1 each -> 0.1
    ]
)


def test_zps_by_hand():
    # confident prompts: the first two
    # mean prob over them: [0.925, 0.075], [0.55, 0.45], [0.15, 0.85] -> labels 0, 0, 1
    np.testing.assert_array_equal(zps_pseudo_labels(ZP, "prob"), [0, 0, 1])
    # mean log-prob, input 2: (ln .8 + ln .3) / 2 = -0.714 vs (ln .2 + ln .7) / 2 = -0.983 -> 0
    np.testing.assert_array_equal(zps_pseudo_labels(ZP, "logprob"), [0, 0, 1])
    # votes on input 2: 1 vs 1, broken by mean probability (0.55 vs 0.45) -> 0
    np.testing.assert_array_equal(zps_pseudo_labels(ZP, "vote"), [0, 0, 1])
    # predictions: prompt 0: 0,0,1 (3/3); prompt 1: 0,1,1 (2/3); prompt 2: 0,1,0 (1/3)
    for fn in (zps_logprob, zps_prob, zps_vote):
        np.testing.assert_allclose(fn(ZP), [1.0, 2 / 3, 1 / 3])


def test_zps_vote_and_probability_ensembles_can_disagree():
    # every prompt is a permutation of (0.5, 0.45, 0.05): equal margins, so all are confident
    probs = np.array([[[0.5, 0.45, 0.05]], [[0.5, 0.45, 0.05]], [[0.05, 0.5, 0.45]]])
    # votes: label 0 twice; mean prob: label 1 (1.40 / 3 against 1.05 / 3);
    # mean log-prob: label 1 (2 ln .45 + ln .5 = -2.29 against 2 ln .5 + ln .05 = -4.38)
    assert zps_pseudo_labels(probs, "vote").tolist() == [0]
    assert zps_pseudo_labels(probs, "prob").tolist() == [1]
    assert zps_pseudo_labels(probs, "logprob").tolist() == [1]
    np.testing.assert_allclose(zps_vote(probs), [1, 1, 0])
    np.testing.assert_allclose(zps_prob(probs), [0, 0, 1])
    with pytest.raises(DataError, match="ensemble"):
        zps_scores(probs, "median")


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 5), st.integers(1, 20), st.integers(2, 4), st.integers(0, 10_000))
def test_baseline_ranges(p, n, labels, seed):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(labels) * 0.5, size=(p, n))
    for q in probs:
        assert -1e-9 <= mutual_information(q) <= math.log(labels) + 1e-9
        assert 0.0 <= global_entropy(q) <= math.log(labels) + 1e-9
        assert 0.0 <= local_entropy(q) <= math.log(labels) + 1e-9
        assert -math.log2(labels) - 1e-9 <= mdl(q) <= 1e-9
    for scores in (zps_logprob(probs), zps_prob(probs), zps_vote(probs)):
        assert scores.shape == (p,)
        assert ((scores >= 0) & (scores <= 1)).all()
