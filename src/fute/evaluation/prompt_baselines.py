"""Label-free prompt-selection scores from an LLM's outputs on a data set's inputs.

These are the baselines FUTE is compared with when choosing a prompt for a new data set.
Each one looks at what the prompted LLM answers on the data set's *unlabelled* inputs and
returns one number per prompt, oriented so that **higher is better** for every function
here (where the paper minimises a quantity, we return its negative and say so).

Inputs:

* `probs`: an (n, L) array, the prompt's label distribution on each of n inputs (rows sum
  to 1, columns in any fixed label order). Predictions are ``argmax`` per row; exact ties
  go to the first column.
* `probs_by_prompt` (ZPS): a (P, n, L) array, the same for P prompts on the same inputs
  and the same label order.
* `token_logprobs` (perplexity): for each input, the log-likelihood of every token of the
  filled prompt.

Entropies use natural logarithms except in `mdl`, whose code lengths are in bits. The
price of every baseline is P x n LLM forward passes on each new data set; FUTE's prompt
embeddings are computed once, on the pool, and reused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from fute.core.errors import DataError

Ensemble = Literal["logprob", "prob", "vote"]

__all__ = [
    "confident_prompts",
    "global_entropy",
    "local_entropy",
    "mdl",
    "mean_margin",
    "mutual_information",
    "perplexity_score",
    "zps_logprob",
    "zps_prob",
    "zps_pseudo_labels",
    "zps_scores",
    "zps_vote",
]

_EPS = 1e-12  # floor for log(p): a probability of exactly 0 costs a finite, large code


def _check_probs(probs, what: str = "probs", ndim: int = 2) -> np.ndarray:
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != ndim:
        shape = "(n, L)" if ndim == 2 else "(prompts, n, L)"
        raise DataError(
            f"{what} must be a {shape} array of label distributions, got shape {p.shape}"
        )
    if p.shape[-2] == 0 or p.shape[-1] < 2:
        raise DataError(f"{what} needs at least one input and two labels, got shape {p.shape}")
    if not np.isfinite(p).all() or (p < 0).any():
        raise DataError(f"{what} must be finite and non-negative")
    if not np.allclose(p.sum(axis=-1), 1.0, atol=1e-3):
        raise DataError(f"{what}: every row must sum to 1 (a distribution over the labels)")
    return p


def _entropy(p: np.ndarray, base: float = np.e) -> np.ndarray:
    """Shannon entropy along the last axis (0 log 0 = 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return -terms.sum(axis=-1) / np.log(base)


def mutual_information(probs) -> float:
    """Mutual information between inputs and predicted labels (Sorensen et al., ACL 2022).

    ``MI = H(mean_i p_i) - mean_i H(p_i)``: high when the prompt is confident on each input
    (low conditional entropy) yet spreads its answers over the labels (high marginal
    entropy). Higher is better, as in the paper. Nats.
    """
    p = _check_probs(probs)
    return float(_entropy(p.mean(axis=0)) - _entropy(p).mean())


def global_entropy(probs) -> float:
    """GlobalE of Lu et al. (ACL 2022, "Fantastically ordered prompts").

    ``GE = H(histogram of argmax_i p_i)``: the entropy of the distribution of predicted
    labels over the inputs; a prompt that answers one label for everything scores 0.
    Higher is better, as in the paper. Nats. Lu et al. compute it on a probing set the LM
    generates; here it runs on the data set's own unlabelled inputs.
    """
    p = _check_probs(probs)
    counts = np.bincount(p.argmax(axis=1), minlength=p.shape[1])
    return float(_entropy(counts / counts.sum()))


def local_entropy(probs) -> float:
    """LocalE of Lu et al. (ACL 2022): ``LE = mean_i H(p_i)``.

    The mean entropy of the per-input distributions; Lu et al. prefer high values
    (over-confident prompts are penalised). Higher is better, as in the paper. Nats.
    """
    p = _check_probs(probs)
    return float(_entropy(p).mean())


def mdl(probs) -> float:
    """Minimum description length ranking of Wu et al. (ACL 2023, self-adaptive in-context learning).

    The code length of input i's label under the prompt is ``-log2 p_i(y)``. The label is
    unknown, so Wu et al. take its expectation under the model's own distribution,
    ``L_i = sum_y p_i(y) * (-log2 p_i(y)) = H_2(p_i)`` bits, and select the prompt with
    the smallest mean code length ``mean_i L_i`` (the model's parameters cost the same for
    every prompt and drop out). We return ``-mean_i L_i`` so that higher is better.

    Note: this is `local_entropy` in bits with the opposite sign. The two papers disagree
    on whether confident prompts are good; both are reported so a benchmark can show
    which direction holds.
    """
    p = _check_probs(probs)
    return float(-_entropy(p, base=2.0).mean())


def perplexity_score(token_logprobs: Sequence[Sequence[float]]) -> float:
    """SPELL of Gonen et al. (2022, "Demystifying prompts in language models via perplexity estimation").

    For input i with the prompt filled in, ``ppl_i = exp(-mean_t log p(token_t | tokens_<t))``
    over the tokens of the filled prompt (without the answer). The paper prefers prompts
    whose filled texts have low perplexity, averaged over inputs. We return
    ``-mean_i ppl_i`` so that higher is better. `token_logprobs[i]` holds the natural-log
    likelihoods of the tokens of input i (at least one token each).
    """
    if isinstance(token_logprobs, np.ndarray) and token_logprobs.ndim == 1:
        raise DataError("token_logprobs must hold one sequence of token log-likelihoods per input")
    if len(token_logprobs) == 0:
        raise DataError(
            "token_logprobs is empty: need the token log-likelihoods of at least one input"
        )
    ppl = np.empty(len(token_logprobs), dtype=np.float64)
    for i, row in enumerate(token_logprobs):
        lp = np.asarray(row, dtype=np.float64).ravel()
        if lp.size == 0:
            raise DataError(f"token_logprobs[{i}] is empty: each input needs at least one token")
        if not np.isfinite(lp).all() or (lp > 1e-9).any():
            raise DataError(f"token_logprobs[{i}] must be finite log-probabilities (<= 0)")
        ppl[i] = np.exp(-lp.mean())
    return float(-ppl.mean())


# ---------------------------------------------------------------------------------------
# ZPS: zero-label prompt selection (Liao et al., Findings of EMNLP 2022)


def mean_margin(probs) -> float:
    """Mean over inputs of top-1 minus top-2 probability: the prompt's confidence in ZPS."""
    p = np.sort(_check_probs(probs), axis=1)
    return float((p[:, -1] - p[:, -2]).mean())


def confident_prompts(margins) -> np.ndarray:
    """Boolean mask of the prompts in the high-margin cluster of a 2-means clustering.

    One-dimensional 2-means has an exact solution: sort the margins and take the split
    into a low and a high part with the smallest within-cluster sum of squares (ties: the
    first such split, i.e. the larger confident cluster). Exact and deterministic, unlike
    a seeded k-means. If all margins are equal, every prompt counts as confident.
    """
    m = np.asarray(margins, dtype=np.float64).ravel()
    if m.size == 0 or not np.isfinite(m).all():
        raise DataError("margins must be a non-empty array of finite numbers")
    if np.ptp(m) == 0:
        return np.ones(m.size, dtype=bool)
    s = np.sort(m)
    best_cost, threshold = np.inf, s[-1]
    for cut in range(1, s.size):
        if s[cut] == s[cut - 1]:
            continue  # equal values stay in one cluster
        low, high = s[:cut], s[cut:]
        cost = ((low - low.mean()) ** 2).sum() + ((high - high.mean()) ** 2).sum()
        if cost < best_cost - 1e-15:
            best_cost, threshold = cost, s[cut]
    return m >= threshold


def zps_pseudo_labels(probs_by_prompt, ensemble: Ensemble = "logprob") -> np.ndarray:
    """Pseudo-labels (n,) from the ensemble of the confident prompts (see `confident_prompts`).

    * ``"logprob"``: argmax of the mean log-probability over confident prompts;
    * ``"prob"``: argmax of the mean probability;
    * ``"vote"``: the label most of the confident prompts predict; ties go to the label
      with the higher mean probability, then to the first label.
    """
    p = _check_probs(probs_by_prompt, "probs_by_prompt", ndim=3)
    keep = confident_prompts([mean_margin(q) for q in p])
    chosen = p[keep]
    mean_prob = chosen.mean(axis=0)
    if ensemble == "logprob":
        return np.log(np.maximum(chosen, _EPS)).mean(axis=0).argmax(axis=1)
    if ensemble == "prob":
        return mean_prob.argmax(axis=1)
    if ensemble == "vote":
        n_labels = p.shape[2]
        votes = np.stack([np.bincount(col, minlength=n_labels) for col in chosen.argmax(axis=2).T])
        # lexicographic: votes first, mean probability breaks ties (it is < 1, votes are integers)
        return (votes + mean_prob * 0.5).argmax(axis=1)
    raise DataError(f"ensemble must be 'logprob', 'prob' or 'vote', got {ensemble!r}")


def zps_scores(probs_by_prompt, ensemble: Ensemble = "logprob") -> np.ndarray:
    """ZPS of Liao et al. (Findings of EMNLP 2022, "Zero-label prompt selection"): (P,) scores.

    1. confidence of prompt j: ``c_j = mean_i (top1(p_ji) - top2(p_ji))``;
    2. confident prompts: the high cluster of 2-means on the c_j;
    3. pseudo-labels: argmax of their ensemble (`ensemble`: mean log-prob, mean prob,
       or majority vote; see `zps_pseudo_labels`);
    4. score of prompt j: ``mean_i [argmax p_ji == pseudo_i]``, its agreement with the
       pseudo-labels. Higher is better, as in the paper.

    Unlike the other baselines, a prompt's score depends on all P prompts.
    """
    p = _check_probs(probs_by_prompt, "probs_by_prompt", ndim=3)
    pseudo = zps_pseudo_labels(p, ensemble)
    return (p.argmax(axis=2) == pseudo[None, :]).mean(axis=1)


def zps_logprob(probs_by_prompt) -> np.ndarray:
    """ZPS with the mean log-probability ensemble (see `zps_scores`)."""
    return zps_scores(probs_by_prompt, "logprob")


def zps_prob(probs_by_prompt) -> np.ndarray:
    """ZPS with the mean probability ensemble (see `zps_scores`)."""
    return zps_scores(probs_by_prompt, "prob")


def zps_vote(probs_by_prompt) -> np.ndarray:
    """ZPS with the majority-vote ensemble (see `zps_scores`)."""
    return zps_scores(probs_by_prompt, "vote")
