"""Ranking metrics: how well a predicted ranking of candidates matches their true quality.

Every function takes two 1-D arrays over the same candidates: `pred_scores` (the ranking
method's scores, higher = ranked earlier) and `true_scores` (the measured quality, higher
= better: accuracy of a prompt, transfer gain of a source task).

Ties in the predicted scores are resolved by *expectation over random tie-breaking*: a
group of candidates with equal predicted scores is treated as if it were put in a
uniformly random order, and the metric is the expected value over those orders (McSherry
and Najork, ECIR 2008, for NDCG). This makes every metric a deterministic function of the
scores, invariant to strictly increasing transforms of `pred_scores`, and gives a method
that cannot tell candidates apart exactly the score of a random ranking instead of a score
that depends on the input order.

Inputs are validated at the boundary: two finite 1-D arrays of equal, non-zero length.
"""

from __future__ import annotations

from math import comb
from typing import Literal

import numpy as np
from scipy import stats

from fute.core.errors import DataError

Relevance = Literal["minmax", "raw"]

__all__ = ["kendall", "ndcg", "ndcg_at_k", "regret_at_k", "relevance_gains", "spearman", "vu_rho"]


def _pair(pred_scores, true_scores, min_len: int = 1) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred_scores, dtype=np.float64)
    true = np.asarray(true_scores, dtype=np.float64)
    if pred.ndim != 1 or true.ndim != 1:
        raise DataError(
            f"scores must be 1-D arrays over candidates, got shapes {pred.shape} and {true.shape}"
        )
    if pred.shape != true.shape:
        raise DataError(
            f"predicted and true scores cover different candidates: {pred.size} vs {true.size}"
        )
    if pred.size < min_len:
        raise DataError(f"need at least {min_len} candidates, got {pred.size}")
    if not (np.isfinite(pred).all() and np.isfinite(true).all()):
        raise DataError("scores contain NaN or infinite values; drop or fix those candidates")
    return pred, true


def _check_k(k: int, n: int) -> int:
    if isinstance(k, bool) or int(k) != k or k < 1:
        raise DataError(f"k must be a positive integer, got {k!r}")
    return min(int(k), n)


def _tie_groups(pred: np.ndarray) -> list[np.ndarray]:
    """Candidate indices grouped by equal predicted score, best group first."""
    values, inverse = np.unique(-pred, return_inverse=True)
    return [np.flatnonzero(inverse == g) for g in range(values.size)]


def relevance_gains(true_scores, kind: Relevance = "minmax") -> np.ndarray:
    """The gains NDCG uses, made from the true scores.

    * ``"minmax"`` (default): ``(t - min t) / (max t - min t)``, so the worst candidate has
      gain 0 and the best gain 1. Raw accuracies of prompts sit close together (say 0.48 to
      0.62); used as gains directly, every order would get an NDCG near 1 and the metric
      would not separate good rankings from bad ones. Min-max scaling also makes the
      metric invariant to affine changes of the truth and accepts negative truths
      (transfer gains). Constant truth gives all-zero gains.
    * ``"raw"``: the true scores as they are; they must be non-negative.
    """
    true = np.asarray(true_scores, dtype=np.float64)
    if kind == "minmax":
        span = true.max() - true.min()
        return (true - true.min()) / span if span > 0 else np.zeros_like(true)
    if kind == "raw":
        if (true < 0).any():
            raise DataError(
                "raw relevance needs non-negative true scores; use relevance='minmax' "
                "for scores such as transfer gains that can be negative"
            )
        return true
    raise DataError(f"relevance must be 'minmax' or 'raw', got {kind!r}")


def _discounts(n: int, k: int) -> np.ndarray:
    """1 / log2(position + 1) for positions 1..n, zero beyond the cut-off k."""
    d = 1.0 / np.log2(np.arange(2, n + 2, dtype=np.float64))
    d[k:] = 0.0
    return d


def _expected_dcg(pred: np.ndarray, gains: np.ndarray, k: int) -> float:
    """DCG@k of the predicted order, averaged over random orders within tied groups."""
    disc = _discounts(pred.size, k)
    dcg, start = 0.0, 0
    for group in _tie_groups(pred):
        stop = start + group.size
        # under a random order each member of the group is equally likely at every position
        dcg += gains[group].sum() * disc[start:stop].mean()
        start = stop
    return float(dcg)


def ndcg_at_k(pred_scores, true_scores, k: int, relevance: Relevance = "minmax") -> float:
    """Normalised discounted cumulative gain of the top `k` of the predicted order.

    ``DCG@k = sum_{i=1..k} rel_(i) / log2(i + 1)`` where ``rel_(i)`` is the gain of the
    candidate ranked i-th by `pred_scores`; NDCG@k = DCG@k / DCG@k of the order sorted by
    the truth. Gains come from `true_scores` through `relevance` (min-max scaled by
    default, see `relevance_gains`). Predicted ties count as their
    expected value over random tie-breaking. ``k >= n`` is plain NDCG.

    Returns a value in [0, 1], 1 for an ideal order; NaN when every gain is 0 (constant
    truth with min-max relevance): no order is better than another, so there is nothing
    to score.
    """
    pred, true = _pair(pred_scores, true_scores)
    k = _check_k(k, pred.size)
    gains = relevance_gains(true, relevance)
    ideal = float(np.sort(gains)[::-1] @ _discounts(pred.size, k))
    if ideal <= 0:
        return float("nan")
    return min(1.0, _expected_dcg(pred, gains, k) / ideal)


def ndcg(pred_scores, true_scores, relevance: Relevance = "minmax") -> float:
    """NDCG over the whole predicted order (`ndcg_at_k` with k = number of candidates)."""
    pred, true = _pair(pred_scores, true_scores)
    return ndcg_at_k(pred, true, pred.size, relevance=relevance)


def vu_rho(pred_scores, true_scores) -> float:
    """Vu et al. (2020)'s rho: the 1-based rank, in the predicted order, of the truly best candidate.

    1 is perfect, n is the worst. When several candidates share the best true score, rho is
    the rank of the first of them (the point where a user walking down the list finds a
    best candidate). With ties in the predicted scores it is the expected rank under random
    tie-breaking: if r candidates are ranked strictly above the best-placed tied group,
    which holds m candidates of which b are truly best, rho = r + (m + 1) / (b + 1), the
    expected position of the first of b marked items in a random order of m.
    Returns a float in [1, n].
    """
    pred, true = _pair(pred_scores, true_scores)
    best = true == true.max()
    top_pred = pred[best].max()
    group = pred == top_pred
    above = int((pred > top_pred).sum())
    m, b = int(group.sum()), int((group & best).sum())
    return above + (m + 1) / (b + 1)


def regret_at_k(pred_scores, true_scores, k: int) -> float:
    """Best true score minus the best true score among the predicted top `k` (>= 0, lower is better).

    In the units of the truth (accuracy points, transfer gain). If the top k cut through a
    group of tied predictions, the value is the expectation over which members of the
    group make it into the top k (uniformly random). ``k >= n`` gives 0.
    """
    pred, true = _pair(pred_scores, true_scores)
    k = _check_k(k, pred.size)
    best_in_top, taken = -np.inf, 0
    for group in _tie_groups(pred):
        if taken + group.size <= k:
            best_in_top = max(best_in_top, true[group].max())
            taken += group.size
            if taken == k:
                break
            continue
        # j of the m tied candidates are drawn at random; the i-th best of them (0-based)
        # is the best drawn with probability C(m - 1 - i, j - 1) / C(m, j)
        j, m = k - taken, group.size
        values = np.sort(true[group])[::-1]
        probs = np.array([comb(m - 1 - i, j - 1) for i in range(m)], dtype=np.float64)
        probs /= comb(m, j)
        capped = np.maximum(values, best_in_top)
        # an expectation of equal values is that value exactly (no rounding residue)
        best_in_top = float(capped[0]) if capped[0] == capped[-1] else float(probs @ capped)
        break
    return float(max(0.0, true.max() - best_in_top))


def _correlation(pred: np.ndarray, true: np.ndarray, fn) -> float:
    if np.ptp(true) == 0:
        return float("nan")
    if np.ptp(pred) == 0:
        return 0.0
    return float(fn(pred, true)[0])


def spearman(pred_scores, true_scores) -> float:
    """Spearman's rank correlation (Pearson correlation of the ranks; ties get average ranks).

    Constant predictions give 0.0: a method that cannot tell candidates apart ranks them
    at random, whose expected correlation is 0. Constant truth gives NaN: there is no
    order to agree with. Needs at least 2 candidates.
    """
    pred, true = _pair(pred_scores, true_scores, min_len=2)
    return _correlation(pred, true, stats.spearmanr)


def kendall(pred_scores, true_scores) -> float:
    """Kendall's tau-b (the variant that corrects for ties in either ranking).

    Constant predictions give 0.0, constant truth NaN, as in `spearman`. Needs at least 2
    candidates.
    """
    pred, true = _pair(pred_scores, true_scores, min_len=2)
    return _correlation(pred, true, lambda a, b: stats.kendalltau(a, b, variant="b"))
