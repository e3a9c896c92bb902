"""``behaviour``: for two answer matrices on the same pool (items x labels), the mean over shared
label names of the Pearson correlation of that label's probability across items. (The module
is named for what it compares, so that `fute.ranking.similarity.behaviour` stays the function.)

This project's own. It reads ``pool_answers`` with ``answer_labels``, lined up on
the pool items both sides answered (``pool_items``): an MTE made with `exclude=` or another
`pool_size` still compares on the shared items (at least 2, and one shared label name).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from fute.core.examples import normalise_label
from fute.core.extras import ANSWER_LABELS, POOL_ANSWERS, POOL_ITEMS
from fute.ranking.similarity.arrays import SimilarityError, numbers
from fute.ranking.similarity.registry import Similarity, plural, register, shown_names


def _answers(x, labels, what: str) -> tuple[np.ndarray, list[str]]:
    m = numbers(x, what)
    names = [normalise_label(n) for n in labels]
    if m.ndim != 2 or m.shape[1] != len(names):
        raise SimilarityError(
            f"{what} must be a (pool items, labels) matrix with one column per label name "
            f"{names}, got shape {m.shape}"
        )
    if m.shape[0] < 2:
        raise SimilarityError(f"{what} needs answers on at least 2 pool items to correlate")
    if len(set(names)) != len(names):
        raise SimilarityError(f"{what}: label names {names} repeat after normalisation")
    if not np.isfinite(m).all():
        raise SimilarityError(f"{what} has NaN or infinite probabilities")
    return m, names


def _correlations(x, xn, y, yn, min_std: float) -> float:
    """Mean Pearson correlation over the shared labels; NaN when none is shared."""
    if x.shape[0] != y.shape[0]:
        raise SimilarityError(
            f"answers cover {x.shape[0]} and {y.shape[0]} pool items; "
            "both models must answer the same pool"
        )
    shared = [name for name in xn if name in yn]
    if not shared:
        return float("nan")
    corrs = []
    for name in shared:
        u, v = x[:, xn.index(name)], y[:, yn.index(name)]
        su, sv = u.std(), v.std()
        if su <= min_std or sv <= min_std:
            corrs.append(0.0)
        else:
            corrs.append(((u - u.mean()) * (v - v.mean())).mean() / (su * sv))
    return float(np.clip(np.mean(corrs), -1.0, 1.0))


def behaviour(
    a, b, *, labels: Sequence[str], candidate_labels: Sequence[str], min_std: float = 1e-6
) -> float:
    """Agreement of two models' answers on one pool: ``mean_l corr(a[:, l], b[:, l])``.

    `a` and `b` are (pool items x labels) probability matrices on the *same* pool items in
    the same order; `labels` and `candidate_labels` name their columns. The mean runs over
    the label names the two share (normalised, no merges), and each term is the Pearson
    correlation across pool items of that label's probability. A label whose probability
    has standard deviation at most `min_std` on either side contributes 0: a model that
    answers the same on every item says nothing about which items carry the label, so a
    constant model scores 0, and float noise on a constant cannot make it score high. The
    result lies in [-1, 1]; -1 means the two models swap the label's items. No shared
    label raises `SimilarityError` (the batched form can give NaN instead).
    """
    x, xn = _answers(a, labels, "target answers")
    y, yn = _answers(b, candidate_labels, "candidate answers")
    score = _correlations(x, xn, y, yn, min_std)
    if np.isnan(score):
        raise SimilarityError(
            f"the answers share no label name ({xn} vs {yn}); behaviour compares the same labels"
        )
    return score


def behaviour_scores(
    target,
    candidates,
    *,
    labels: Sequence[str],
    candidate_labels,
    min_std: float = 1e-6,
    on_disjoint: Literal["raise", "nan"] = "raise",
) -> np.ndarray:
    if on_disjoint not in ("raise", "nan"):
        raise SimilarityError(f"on_disjoint must be 'raise' or 'nan', got {on_disjoint!r}")
    if len(candidate_labels) and isinstance(candidate_labels[0], str):
        candidate_labels = [candidate_labels] * len(candidates)  # one label list for all
    if len(candidate_labels) != len(candidates):
        raise SimilarityError(
            f"{len(candidates)} candidates but {len(candidate_labels)} label lists; "
            "give one list of label names per candidate, or one list shared by all"
        )
    x, xn = _answers(target, labels, "target answers")
    out = np.empty(len(candidates))
    for j, (cand, names) in enumerate(zip(candidates, candidate_labels, strict=True)):
        y, yn = _answers(cand, names, f"candidate {j} answers")
        out[j] = _correlations(x, xn, y, yn, min_std)
        if np.isnan(out[j]) and on_disjoint == "raise":
            raise SimilarityError(
                f"candidate {j} shares no label name with the target ({yn} vs {xn}); "
                "pass on_disjoint='nan' to score it NaN instead"
            )
    return out


def _embeddings(target, candidates, t_extras, c_extras, *, centres=None, notify=None):
    """Each candidate's answers against the target's on the pool items both answered; a
    candidate sharing fewer than 2 items or no label name is left out (one line)."""
    t_answers, t_labels, t_items = t_extras
    kept, scored, apart = [], [], []
    for i, (c, (answers, labels, items)) in enumerate(zip(candidates, c_extras, strict=True)):
        shared, ti, ci = np.intersect1d(t_items, items, assume_unique=False, return_indices=True)
        if shared.size < 2:
            apart.append(c)
            continue
        try:
            score = behaviour(
                t_answers[ti],
                answers[ci],
                labels=[str(v) for v in t_labels],
                candidate_labels=[str(v) for v in labels],
            )
        except SimilarityError:  # no shared label name
            apart.append(c)
            continue
        kept.append(i)
        scored.append(score)
    if apart and notify is not None:
        notify(
            f"behaviour: left out {plural(len(apart), 'candidate')} whose answers share fewer "
            f"than 2 pool items or no label name with the target's ({shown_names(apart)})"
        )
    return kept, np.array(scored, dtype=np.float64)


register(
    Similarity(
        "behaviour",
        "mean over shared labels l of corr_items(p_a(l), p_b(l))",
        "this project: answers of both sides on the space's pool",
        behaviour_scores,
        _embeddings,
        pair=behaviour,
        reads=(POOL_ANSWERS, ANSWER_LABELS, POOL_ITEMS),
        reads_words="answers on the pool (extras pool_answers, answer_labels, pool_items)",
        order=60,
        short="beh",
    )
)
