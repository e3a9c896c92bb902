"""Zero-call priors from a model's answers on the pool, and rank fusion of scores.

A *prior* scores a prompt (or model) from its answers on the space's unlabelled pool
alone, before any new data set is seen: it costs no model call per new data set, like
FUTE's embeddings, and says how usable the prompt is in general. A *fusion* combines it
with a task similarity into one ranking.

* `mutual_information` (Sorensen et al., ACL 2022) lives in `prompt_baselines`, reused here.
* `cbm_calibrate` and `calibrated_mutual_information`: calibration by marginalisation
  (Yang et al., TACL 2024, "Improving probability-based prompt selection through unified
  evaluation and analysis"): divide each label's probability by its mean over the inputs,
  then renormalise each row. A prompt whose verbalizer favours one label everywhere loses
  that bias before MI judges it.
* `reciprocal_rank_fusion` (Cormack, Clarke and Buettcher, SIGIR 2009) and
  `product_fusion`: several score lists over the same candidates -> one fused score each.

All scores are oriented so that higher is better. Ties inside a score list get the mean of
the ranks they span (fractional ranking), so the fused scores do not depend on the order
in which candidates are listed, and tied candidates get equal fused scores.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import rankdata

from fute.core.errors import DataError
from fute.evaluation.prompt_baselines import _check_probs, mutual_information

__all__ = [
    "calibrated_mutual_information",
    "cbm_calibrate",
    "descending_ranks",
    "mutual_information",
    "product_fusion",
    "reciprocal_rank_fusion",
]


def cbm_calibrate(probs) -> np.ndarray:
    """Calibration by marginalisation (CBM, Yang et al., TACL 2024): an (n, L) array.

    ``q_il = (p_il / m_l) / sum_l' (p_il' / m_l')`` with ``m_l = mean_i p_il``, the label's
    mean probability over the n inputs. Each row of the result is a distribution. A label
    that gets zero probability on every input keeps probability 0 (it has no mean to
    divide by). When every label already has the same mean, nothing changes.
    """
    p = _check_probs(probs)
    marginal = p.mean(axis=0)
    ratio = np.divide(p, marginal, out=np.zeros_like(p), where=marginal > 0)
    return ratio / ratio.sum(axis=1, keepdims=True)


def calibrated_mutual_information(probs) -> float:
    """Mutual information of the CBM-calibrated answers: ``MI(cbm_calibrate(p))``, nats.

    Higher is better. Calibration removes the label bias that a prompt has on every input,
    so what MI then rewards is confident answers that *differ between inputs*.
    """
    return mutual_information(cbm_calibrate(probs))


def _score_lists(score_lists, weights) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(score_lists, dtype=np.float64)
    if s.ndim == 1:
        s = s[None, :]
    if s.ndim != 2 or s.shape[0] == 0 or s.shape[1] == 0:
        raise DataError(
            "score_lists must be one or more lists of scores over the same candidates "
            f"(a (lists, candidates) array), got shape {s.shape}"
        )
    if not np.isfinite(s).all():
        raise DataError(
            "score_lists hold NaN or infinite scores; drop those candidates or give them "
            "a finite worst score before fusing"
        )
    if weights is None:
        w = np.ones(s.shape[0])
    else:
        w = np.asarray(weights, dtype=np.float64).ravel()
        if w.size != s.shape[0] or not np.isfinite(w).all() or (w < 0).any() or w.sum() == 0:
            raise DataError(
                f"weights must be {s.shape[0]} finite non-negative numbers, one per score "
                f"list, not all zero; got {np.asarray(weights).tolist()}"
            )
    return s, w


def descending_ranks(scores) -> np.ndarray:
    """Ranks of the scores, 1 = highest; ties share the mean of their ranks (float)."""
    s = np.asarray(scores, dtype=np.float64)
    return rankdata(-s, method="average", axis=-1)


def reciprocal_rank_fusion(
    score_lists: Sequence[Sequence[float]] | np.ndarray,
    k: float = 60.0,
    weights: Sequence[float] | None = None,
) -> np.ndarray:
    """Reciprocal-rank fusion (Cormack et al., SIGIR 2009): (n,) fused scores, higher = better.

    ``RRF(j) = sum_s w_s / (k + r_s(j))`` where ``r_s(j)`` is candidate j's rank in score
    list s (1 = highest score; ties: fractional ranks) and ``w_s`` its weight (default 1).
    Only ranks count, so lists on different scales (a cosine and an MI in nats) fuse
    without rescaling. The constant k (60 in the paper) damps the difference between the
    top places: with a large k every list counts almost by its rank's order alone, with
    k = 0 a first place outweighs everything.
    """
    s, w = _score_lists(score_lists, weights)
    if not np.isfinite(k) or k < 0:
        raise DataError(f"k must be a finite number >= 0 (60 in Cormack et al.), got {k}")
    return (w[:, None] / (k + descending_ranks(s))).sum(axis=0)


def product_fusion(
    score_lists: Sequence[Sequence[float]] | np.ndarray,
    weights: Sequence[float] | None = None,
) -> np.ndarray:
    """Product of rank-normalised scores: (n,) fused scores in (0, 1], higher = better.

    Each list's scores become ``u_s(j) = 1 - (r_s(j) - 1) / n`` (1 for the top candidate,
    1/n for the last; ties: fractional ranks), and ``fused(j) = prod_s u_s(j) ** w_s``.
    Unlike reciprocal-rank fusion, a candidate must do well on *every* list: one bottom
    place (u = 1/n) pulls the product down whatever the other lists say, so the product
    acts as a veto (a similar but unusable prompt, with a low prior, drops). This project's
    documented alternative to RRF, not taken from a paper.
    """
    s, w = _score_lists(score_lists, weights)
    u = 1.0 - (descending_ranks(s) - 1.0) / s.shape[1]
    return np.exp((w[:, None] * np.log(u)).sum(axis=0))
