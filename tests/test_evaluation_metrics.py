"""Ranking metrics: hand-computed cases, tie handling, and properties checked with hypothesis."""

import itertools
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from fute.core.errors import DataError
from fute.evaluation.metrics import (
    kendall,
    ndcg,
    ndcg_at_k,
    regret_at_k,
    relevance_gains,
    spearman,
    vu_rho,
)

L2 = math.log2

# ---------------------------------------------------------------------------- hand-computed


def test_ndcg_reversed_order_by_hand():
    # gains after min-max: [1, 0.5, 0]; predicted order is the reverse
    dcg = 0 / L2(2) + 0.5 / L2(3) + 1 / L2(4)
    ideal = 1 / L2(2) + 0.5 / L2(3) + 0 / L2(4)
    assert ndcg([1, 2, 3], [0.9, 0.7, 0.5]) == pytest.approx(dcg / ideal)
    assert ndcg([1, 2, 3], [0.9, 0.7, 0.5]) == pytest.approx(0.6199062, abs=1e-6)


def test_ndcg_raw_relevance_by_hand():
    # raw gains [3, 2, 0]; predicted order: item 1 (gain 2), item 0 (3), item 2 (0)
    dcg = 2 / L2(2) + 3 / L2(3)
    ideal = 3 / L2(2) + 2 / L2(3)
    assert ndcg([0.5, 0.9, 0.1], [3, 2, 0], relevance="raw") == pytest.approx(dcg / ideal)
    # min-max relevance of the same truth: gains [1, 2/3, 0]
    dcg = (2 / 3) / L2(2) + 1 / L2(3)
    ideal = 1 / L2(2) + (2 / 3) / L2(3)
    assert ndcg([0.5, 0.9, 0.1], [3, 2, 0]) == pytest.approx(dcg / ideal)


def test_ndcg_at_k_by_hand():
    # gains [0, 1, 0.5, 0.25] (min-max of [0, 4, 2, 1]); predicted order 0, 2, 1, 3
    pred = [4, 2, 3, 1]
    true = [0, 4, 2, 1]
    dcg2 = 0 / L2(2) + 0.5 / L2(3)
    ideal2 = 1 / L2(2) + 0.5 / L2(3)
    assert ndcg_at_k(pred, true, 2) == pytest.approx(dcg2 / ideal2)
    assert ndcg_at_k(pred, true, 1) == 0.0
    assert ndcg_at_k(pred, true, 10) == pytest.approx(ndcg(pred, true))


def test_ndcg_ties_are_the_mean_over_tie_breaks():
    pred = [1.0, 1.0, 0.0, 1.0]
    true = [0.2, 0.9, 0.4, 0.6]
    # every order of the tied group {0, 1, 3} first, then item 2
    values = []
    for perm in itertools.permutations([0, 1, 3]):
        order = list(perm) + [2]
        rank_score = np.empty(4)
        rank_score[order] = [4, 3, 2, 1]
        values.append([ndcg(rank_score, true), ndcg_at_k(rank_score, true, 2)])
    expected = np.mean(values, axis=0)
    assert ndcg(pred, true) == pytest.approx(expected[0])
    assert ndcg_at_k(pred, true, 2) == pytest.approx(expected[1])


def test_ndcg_constant_truth_is_nan_and_raw_rejects_negative_gains():
    assert math.isnan(ndcg([1, 2, 3], [0.5, 0.5, 0.5]))
    with pytest.raises(DataError, match="minmax"):
        ndcg([1, 2], [-0.1, 0.3], relevance="raw")
    with pytest.raises(DataError, match="relevance"):
        ndcg([1, 2], [0.1, 0.3], relevance="log")


def test_relevance_gains():
    np.testing.assert_allclose(relevance_gains([2, 4, 3]), [0, 1, 0.5])
    np.testing.assert_allclose(relevance_gains([-1, 1]), [0, 1])
    np.testing.assert_allclose(relevance_gains([2, 4, 3], "raw"), [2, 4, 3])


def test_vu_rho_by_hand():
    assert vu_rho([0.3, 0.9, 0.1], [0.7, 0.2, 0.1]) == 2.0
    assert vu_rho([0.3, 0.9, 0.1], [0.2, 0.7, 0.1]) == 1.0
    assert vu_rho([0.3, 0.9, 0.1], [0.2, 0.1, 0.7]) == 3.0
    # two truly best (items 0 and 2): the better placed one counts
    assert vu_rho([0.3, 0.9, 0.1], [0.7, 0.2, 0.7]) == 2.0
    # all predictions tied, one best among 4: expected position (4 + 1) / 2
    assert vu_rho([0, 0, 0, 0], [1, 2, 3, 4]) == 2.5
    # one candidate strictly above, then a tie of 3 holding 2 best: 1 + (3 + 1) / (2 + 1)
    assert vu_rho([5, 1, 1, 1], [0, 9, 9, 3]) == pytest.approx(1 + 4 / 3)


def test_vu_rho_tie_formula_matches_enumeration():
    pred = [2, 1, 1, 1, 1]
    true = [0.1, 0.5, 0.9, 0.9, 0.3]
    ranks = []
    for perm in itertools.permutations([1, 2, 3, 4]):
        order = [0, *perm]
        ranks.append(min(order.index(i) + 1 for i in (2, 3)))
    assert vu_rho(pred, true) == pytest.approx(np.mean(ranks))


def test_regret_by_hand():
    true = [0.50, 0.80, 0.65, 0.70]
    pred = [0.9, 0.1, 0.8, 0.3]  # order 0, 2, 3, 1
    assert regret_at_k(pred, true, 1) == pytest.approx(0.30)
    assert regret_at_k(pred, true, 2) == pytest.approx(0.15)
    assert regret_at_k(pred, true, 3) == pytest.approx(0.10)
    assert regret_at_k(pred, true, 4) == 0.0
    assert regret_at_k(pred, true, 99) == 0.0


def test_regret_ties_are_the_mean_over_tie_breaks():
    true = [0.5, 0.9, 0.1, 0.7, 0.2]
    pred = [3, 1, 1, 1, 0]  # item 0 first, then a tie of {1, 2, 3}
    for k in (1, 2, 3, 4):
        regrets = []
        for perm in itertools.permutations([1, 2, 3]):
            top = [0, *perm, 4][:k]
            regrets.append(max(true) - max(true[i] for i in top))
        assert regret_at_k(pred, true, k) == pytest.approx(np.mean(regrets)), k


def test_correlations_by_hand_and_constant_inputs():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [40, 30, 20, 10]) == pytest.approx(-1.0)
    # one swap among 4: rho = 1 - 6 * 2 / (4 * 15) = 0.8, tau = (5 - 1) / 6
    assert spearman([1, 2, 4, 3], [1, 2, 3, 4]) == pytest.approx(0.8)
    assert kendall([1, 2, 4, 3], [1, 2, 3, 4]) == pytest.approx(4 / 6)
    assert spearman([1, 1, 1], [1, 2, 3]) == 0.0
    assert kendall([1, 1, 1], [1, 2, 3]) == 0.0
    assert math.isnan(spearman([1, 2, 3], [5, 5, 5]))
    assert math.isnan(kendall([1, 2, 3], [5, 5, 5]))


@pytest.mark.parametrize(
    ("pred", "true", "match"),
    [
        ([1, 2], [1, 2, 3], "different candidates"),
        ([[1, 2]], [[1, 2]], "1-D"),
        ([], [], "at least 1"),
        ([1, float("nan")], [1, 2], "NaN"),
    ],
)
def test_bad_inputs_raise_data_error(pred, true, match):
    with pytest.raises(DataError, match=match):
        ndcg(pred, true)


def test_bad_k_and_short_correlations():
    with pytest.raises(DataError, match="k must be"):
        ndcg_at_k([1, 2], [1, 2], 0)
    with pytest.raises(DataError, match="k must be"):
        regret_at_k([1, 2], [1, 2], 1.5)
    with pytest.raises(DataError, match="at least 2"):
        spearman([1], [1])


# ---------------------------------------------------------------------------- properties

scores = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


@st.composite
def ranking_case(draw, min_size=1):
    n = draw(st.integers(min_size, 9))
    # few distinct values, so ties are common
    pool = st.one_of(st.integers(-3, 3).map(float), scores)
    pred = np.array(draw(st.lists(pool, min_size=n, max_size=n)))
    true = np.array(draw(st.lists(pool, min_size=n, max_size=n)))
    return pred, true


@settings(max_examples=200, deadline=None)
@given(ranking_case(), st.integers(1, 10))
def test_ndcg_is_in_unit_interval_and_ideal_order_scores_one(case, k):
    pred, true = case
    assume(np.ptp(true) > 0)
    for value in (ndcg(pred, true), ndcg_at_k(pred, true, k)):
        assert 0.0 <= value <= 1.0
    assert ndcg(true, true) == pytest.approx(1.0)
    assert ndcg_at_k(true, true, k) == pytest.approx(1.0)


@settings(max_examples=200, deadline=None)
@given(ranking_case(), st.integers(1, 10))
def test_metrics_are_invariant_to_monotone_transforms_of_predictions(case, k):
    pred, true = case
    assume(np.ptp(true) > 0)
    # a strictly increasing map that keeps ties tied
    transformed = np.tanh(pred / 500.0) * 7 + 3
    assume(len(np.unique(transformed)) == len(np.unique(pred)))
    assert ndcg(transformed, true) == pytest.approx(ndcg(pred, true))
    assert ndcg_at_k(transformed, true, k) == pytest.approx(ndcg_at_k(pred, true, k))
    assert vu_rho(transformed, true) == pytest.approx(vu_rho(pred, true))
    assert regret_at_k(transformed, true, k) == pytest.approx(regret_at_k(pred, true, k))
    if len(pred) >= 2:
        assert spearman(transformed, true) == pytest.approx(spearman(pred, true))
        assert kendall(transformed, true) == pytest.approx(kendall(pred, true))


@settings(max_examples=200, deadline=None)
@given(ranking_case(), st.integers(1, 10))
def test_rho_and_regret_bounds(case, k):
    pred, true = case
    n = len(pred)
    assert 1.0 <= vu_rho(pred, true) <= n
    assert vu_rho(true, true) == 1.0
    assert regret_at_k(pred, true, n) == 0.0
    r = regret_at_k(pred, true, k)
    assert 0.0 <= r <= np.ptp(true) + 1e-9
    # more candidates looked at can only help
    assert regret_at_k(pred, true, k + 1) <= r + 1e-9
    assert regret_at_k(true, true, 1) == 0.0


@settings(max_examples=100, deadline=None)
@given(ranking_case(min_size=3))
def test_minmax_ndcg_is_invariant_to_affine_changes_of_the_truth(case):
    pred, true = case
    moved = 0.01 * true - 4
    # the transform must keep the truth's distinct values apart in floating point (a spread
    # of 1e-203 vanishes next to -4, leaving a constant truth whose NDCG is NaN by design)
    assume(np.ptp(true) > 0 and len(np.unique(moved)) == len(np.unique(true)))
    assert ndcg(pred, moved) == pytest.approx(ndcg(pred, true))


@settings(max_examples=100, deadline=None)
@given(ranking_case(min_size=2))
def test_correlations_match_scipy_when_defined(case):
    pred, true = case
    assume(np.ptp(true) > 0 and np.ptp(pred) > 0)
    assert spearman(pred, true) == pytest.approx(stats.spearmanr(pred, true)[0])
    assert -1.0 - 1e-9 <= kendall(pred, true) <= 1.0 + 1e-9
    assert spearman(-pred, true) == pytest.approx(-spearman(pred, true))
