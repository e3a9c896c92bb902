"""Baselines that spend labels of the new data set: what a user could do instead of FUTE.

* `logme`: LogME (You et al., ICML 2021, "LogME: practical assessment of pre-trained
  models for transfer learning"), the label-using score of the source-selection
  literature (also in Poth et al., EMNLP 2021): how well a linear model on a source
  model's features explains k labelled target examples, as Bayesian evidence. Cost: one
  forward pass of each source model on the k examples, plus k labels.
* `few_label_accuracies` / `few_label_accuracy`: each prompt's accuracy on k labelled
  examples of the new data set, over seeded draws. Cost: k x P model calls for P prompts
  per draw, plus k labels.

FUTE spends no label of the new data set in its label-free mode; these are the baselines
that spend k, so that a benchmark can put the two side by side at equal cost.
"""

from __future__ import annotations

import numpy as np

from fute.core.errors import DataError

__all__ = ["few_label_accuracies", "few_label_accuracy", "few_label_cost", "logme"]


# ---------------------------------------------------------------------------------------
# LogME


def _targets(labels, n: int) -> np.ndarray:
    """(n, K) targets: one-hot of class labels (1-D), or given real-valued columns (2-D)."""
    y = np.asarray(labels)
    if y.shape[:1] != (n,) or y.ndim not in (1, 2):
        raise DataError(
            f"labels must be n={n} class labels, or an (n, K) matrix of real targets, "
            f"got shape {y.shape}"
        )
    if y.ndim == 1:
        classes, index = np.unique(y, return_inverse=True)
        if classes.size < 2:
            raise DataError("labels hold a single class; LogME needs at least two to separate")
        return np.eye(classes.size)[index]
    y = y.astype(np.float64)
    if not np.isfinite(y).all():
        raise DataError("label targets have NaN or infinite values")
    return y


BETA_CAP = 1e4  # noise precision at most this times the targets' (see `_max_evidence`)


def _max_evidence(
    s2: np.ndarray, z: np.ndarray, y_sq: float, n: int, dim: int, max_iter: int, tol: float
) -> float:
    """Maximum over (alpha, beta) of the log evidence of y = F w + noise, per example.

    In the basis of F's singular vectors (F = U S V^T, ``s2 = S**2``, ``z = U^T y``) the
    model is diagonal: with ``d_i = alpha + beta s2_i``,

    * posterior mean ``m_i = beta s_i z_i / d_i``, ``|m|^2 = sum (beta s_i z_i / d_i)^2``;
    * residual ``|F m - y|^2 = sum (alpha z_i / d_i)^2 + |y|^2 - |z|^2``;
    * ``log|A| = sum log d_i + (dim - r) log alpha`` for A = alpha I + beta F^T F;
    * evidence ``L = n/2 log beta + dim/2 log alpha - n/2 log 2 pi - beta/2 |Fm - y|^2
      - alpha/2 |m|^2 - 1/2 log|A|``.

    MacKay's fixed point (used by You et al.) updates ``gamma = sum beta s2_i / d_i``,
    ``alpha = gamma / |m|^2``, ``beta = (n - gamma) / |Fm - y|^2`` until both settle.

    With fewer examples than feature dimensions (few-label use: k = 16 examples of 384
    features) the features can fit y exactly; then the evidence grows without bound as the
    noise vanishes and beta runs off to infinity (NaN or -inf scores). The noise precision
    is therefore capped at ``BETA_CAP`` times the targets' own precision ``n / |y|^2``
    (noise std at least 1% of the targets' RMS), which leaves every case with a finite
    optimum and changes nothing where the noise is larger than that.
    """
    beta_max = BETA_CAP * n / max(y_sq, 1e-300)
    alpha, beta = 1.0, 1.0
    for _ in range(max_iter):
        d = alpha + beta * s2
        gamma = float((beta * s2 / d).sum())
        m_sq = float(((beta * np.sqrt(s2) * z / d) ** 2).sum())
        resid = float(((alpha * z / d) ** 2).sum() + max(y_sq - (z**2).sum(), 0.0))
        new_alpha = gamma / max(m_sq, 1e-300)
        new_beta = min(max(n - gamma, 1e-12) / max(resid, 1e-300), beta_max)
        done = abs(new_alpha - alpha) <= tol * alpha and abs(new_beta - beta) <= tol * beta
        alpha, beta = new_alpha, new_beta
        if done:
            break
    d = alpha + beta * s2
    m_sq = float(((beta * np.sqrt(s2) * z / d) ** 2).sum())
    resid = float(((alpha * z / d) ** 2).sum() + max(y_sq - (z**2).sum(), 0.0))
    log_det = float(np.log(d).sum() + (dim - s2.size) * np.log(alpha))
    evidence = (
        n / 2 * np.log(beta)
        + dim / 2 * np.log(alpha)
        - n / 2 * np.log(2 * np.pi)
        - beta / 2 * resid
        - alpha / 2 * m_sq
        - log_det / 2
    )
    return float(evidence / n)


def logme(features, labels, *, max_iter: int = 100, tol: float = 1e-5) -> float:
    """LogME of `features` (n, D) for `labels` (You et al., ICML 2021): higher = better.

    A Bayesian linear model ``y = F w + e`` with prior ``w ~ N(0, I/alpha)`` and noise
    ``e ~ N(0, 1/beta)``; its log marginal likelihood (evidence) of the targets, maximised
    over alpha and beta by MacKay's fixed-point iteration and divided by n, is computed per
    target column and averaged over the K columns. Class labels (1-D, any values) become
    one-hot columns, one per class present; an (n, K) float matrix is used as given
    (regression or soft labels). The features are used as given, without a bias column or
    centring, as in the paper.

    The score is the same for features rotated by any orthogonal matrix or scaled by any
    positive constant (the prior's alpha absorbs the scale), and for examples listed in
    any order. Its values are comparable between models on the *same* labelled examples
    only. Cost: O(n D min(n, D)) for one SVD, then O(K min(n, D)) per iteration.
    """
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2 or f.shape[1] == 0:
        raise DataError(
            f"features must be an (n, D) matrix with at least 2 examples, got shape {f.shape}"
        )
    if not np.isfinite(f).all():
        raise DataError("features have NaN or infinite values; recompute them")
    if max_iter < 1 or not tol > 0:
        raise DataError(f"max_iter must be >= 1 and tol > 0, got {max_iter} and {tol}")
    n, dim = f.shape
    y = _targets(labels, n)
    u, s, _ = np.linalg.svd(f, full_matrices=False)
    keep = s > s.max(initial=0.0) * max(n, dim) * np.finfo(np.float64).eps
    if not keep.any():
        raise DataError("features are all zero; LogME needs features that vary")
    u, s2 = u[:, keep], s[keep] ** 2
    scores = [_max_evidence(s2, u.T @ col, float(col @ col), n, dim, max_iter, tol) for col in y.T]
    return float(np.mean(scores))


# ---------------------------------------------------------------------------------------
# few-label evaluation of prompts


def few_label_cost(k: int, prompts: int) -> int:
    """Model calls per draw of few-label evaluation: each of P prompts answers k examples."""
    return int(k) * int(prompts)


def few_label_accuracies(probs, labels, k: int, draws: int = 10, seed: int = 0) -> np.ndarray:
    """(draws, P) accuracies of P prompts on `draws` seeded sets of k labelled examples.

    `probs` is (P, n, L): each prompt's label distribution on the data set's n examples
    (columns in one label order); `labels` (n,) the true column index per example. Each
    draw takes k distinct examples uniformly at random, without stratification: a user
    who labels k examples of a new data set does not know its class balance, so draws with
    a class missing are part of what the baseline costs. All prompts are scored on the
    same k examples of a draw (a paired comparison, as a user would do). A prediction is
    the argmax of a row, exact ties to the first column. The draws come from
    ``numpy.random.default_rng(seed)``, so a seed gives the same sets on every run; a
    benchmark ranks the prompts per draw (one row) to score what one user would pick.
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim == 2:
        p = p[None]
    if p.ndim != 3 or 0 in p.shape:
        raise DataError(
            f"probs must be a (prompts, n, labels) array of label distributions, got {p.shape}"
        )
    if not np.isfinite(p).all():
        raise DataError("probs have NaN or infinite values")
    n, n_labels = p.shape[1], p.shape[2]
    y = np.asarray(labels)
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer):
        raise DataError(
            f"labels must be n={n} integer column indices into probs' labels, got "
            f"shape {y.shape} of {y.dtype}"
        )
    if (y < 0).any() or (y >= n_labels).any():
        raise DataError(f"labels must lie in 0..{n_labels - 1}, the columns of probs")
    if not 1 <= int(k) <= n:
        raise DataError(f"k must be between 1 and the {n} labelled examples, got {k}")
    if int(draws) < 1:
        raise DataError(f"draws must be at least 1, got {draws}")
    correct = p.argmax(axis=2) == y[None, :]  # (P, n)
    rng = np.random.default_rng(seed)
    picks = np.stack([rng.choice(n, size=int(k), replace=False) for _ in range(int(draws))])
    return correct[:, picks].mean(axis=2).T  # (draws, P)


def few_label_accuracy(
    probs, labels, k: int, draws: int = 10, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation over draws (ddof=0) of each prompt's k-example accuracy.

    Two (P,) arrays; see `few_label_accuracies` for the draws. The cost of each draw is
    `few_label_cost(k, P)` = k x P model calls and k labels. The std is the spread a user
    faces from one draw to the next; the mean over many draws uses draws x k labels and is
    not what one user with k labels gets, so rank prompts per draw to score the baseline.
    """
    acc = few_label_accuracies(probs, labels, k, draws, seed)
    return acc.mean(axis=0), acc.std(axis=0)
