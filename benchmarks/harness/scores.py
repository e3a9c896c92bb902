"""Scores of candidates and how rankings are measured: ranking metrics in one call,
summaries over seeds and draws, scores by a named similarity, seeded draws."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from benchmarks.harness.cache import cache_key
from fute.evaluation import metrics

LOWER_IS_BETTER = ("rho", "regret")


def lower_is_better(metric: str) -> bool:
    return metric.partition("@")[0] in LOWER_IS_BETTER


def ranking_metrics(pred: Sequence[float], true: Sequence[float], wanted: Iterable[str]) -> dict:
    """The named metrics of one ranking. Names: ``ndcg``, ``ndcg@K``, ``rho``, ``regret@K``,
    ``spearman``, ``kendall`` (see `fute.evaluation.metrics`)."""
    out = {}
    for name in wanted:
        base, _, k = name.partition("@")
        if base == "ndcg":
            out[name] = metrics.ndcg_at_k(pred, true, int(k)) if k else metrics.ndcg(pred, true)
        elif base == "regret":
            out[name] = metrics.regret_at_k(pred, true, int(k))
        elif base == "rho":
            out[name] = metrics.vu_rho(pred, true)
        elif base == "spearman":
            out[name] = metrics.spearman(pred, true)
        elif base == "kendall":
            out[name] = metrics.kendall(pred, true)
        else:
            raise ValueError(f"unknown metric {name!r}")
    return out


def mean_std(values: Iterable[float]) -> dict:
    """Mean and sample standard deviation over the finite values, with their count."""
    v = np.array([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return {"mean": None, "std": None, "n": 0}
    std = float(v.std(ddof=1)) if v.size > 1 else 0.0
    return {"mean": float(v.mean()), "std": std, "n": int(v.size)}


def evaluate_rows(scores: dict, truth: dict, wanted: Sequence[str], per: str) -> dict:
    """{row: {per: {target: {metric: stat}}, "average": {metric: stat}}} of the rows'
    scores ({row: {target: {key: [score per candidate]}}}) against `truth` ({target: [true
    value per candidate]}; targets without truth are left out).

    A row has one score list per key (an embedding seed, a draw, "seed/draw", ``-`` for a
    deterministic row); the average over targets is taken per key, then summarised over
    the keys (mean ± std)."""
    out = {}
    for row, by_target in scores.items():
        per_key: dict = {}
        per_target = {}
        for t, by_key in by_target.items():
            if t not in truth:
                continue
            values = {s: ranking_metrics(pred, truth[t], wanted) for s, pred in by_key.items()}
            per_target[t] = {k: mean_std(v[k] for v in values.values()) for k in wanted}
            for s, v in values.items():
                for k in wanted:
                    per_key.setdefault(str(s), {}).setdefault(k, []).append(v[k])
        average = {k: mean_std(mean_std(v[k])["mean"] for v in per_key.values()) for k in wanted}
        out[row] = {per: per_target, "average": average}
    return out


def complete_scores(n: int, kept, scores) -> tuple[list[float], int]:
    """One score per candidate: those a similarity left out are placed last, tied, below
    every scored one; returns the scores and how many were left out."""
    out = np.full(n, np.nan)
    out[list(kept)] = scores
    missing = int(np.isnan(out).sum())
    if missing:
        floor = np.nanmin(out) - 1.0 if missing < n else 0.0
        out[np.isnan(out)] = floor
    return out.tolist(), missing


def similarity_scores(similarity, target, candidates, centres=None, notes=None) -> list[float]:
    """Scores of the candidates by a named similarity (`fute.ranking.similarity.scores`); what
    the similarity left out (and why) is appended to `notes` as one line."""
    from fute.ranking.similarity import scores

    said: list[str] = []
    kept, values = scores(similarity, target, candidates, centres=centres, notify=said.append)
    out, missing = complete_scores(len(candidates), kept, values)
    if notes is not None and (said or missing):
        notes.append(f"{target.name} / {similarity}: " + "; ".join(said or [f"{missing} left out"]))
    return out


def draw_indices(n: int, k: int, draws: int, seed: int) -> np.ndarray:
    """(draws, k) indices of `draws` seeded draws of k distinct examples out of n; the first
    draws of a longer run are the same sets."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.choice(n, size=int(k), replace=False) for _ in range(int(draws))])


def name_seed(what: str, target: str, k: int) -> int:
    """The seed of a target's draws of k labelled examples (`what`: which draws): fixed by
    the names, not the run."""
    return int(cache_key(what, target, int(k))[:8], 16)


def random_scores(seeds, position: int, n: int) -> dict:
    """The ``random`` row of one target: {seed: n uniform scores drawn from (seed, position)}."""
    return {str(seed): np.random.default_rng([seed, position]).random(n).tolist() for seed in seeds}
