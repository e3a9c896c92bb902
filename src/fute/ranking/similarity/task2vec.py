"""``task2vec``: ``cos(a/(a+b), b/(a+b))`` coordinate-wise, for non-negative vectors.

Achille et al., ICCV 2019 ("Task2Vec"; their released code calls it the cosine distance on
the "scaled Hessian"). It reads an embedding's ``fisher_units`` (the non-negative per-unit
Fisher means `fisher` keeps beside the signed projection), not its vector.
"""

from __future__ import annotations

import numpy as np

from fute.core.extras import FISHER_UNITS
from fute.ranking.similarity.arrays import SimilarityError, block, blocks, row_norms, rows, vector
from fute.ranking.similarity.registry import Similarity, register


def _non_negative(v: np.ndarray, what: str) -> np.ndarray:
    if (v < 0).any():
        raise SimilarityError(
            f"{what} has negative coordinates; task2vec compares non-negative Fisher "
            "information (diagonal or per-layer means), not a signed projection of it"
        )
    return v


def task2vec_scores(target, candidates) -> np.ndarray:
    t = _non_negative(vector(target, "target"), "target")
    c = rows(candidates, t.size, "candidates")
    out = np.empty(len(c))
    for s in blocks(len(c), t.size):
        b = block(c, s).astype(np.float64, copy=False)
        row_norms(b, "candidates")
        _non_negative(b, "candidates")
        total = b + t
        # where both are 0 the coordinate says nothing: 0 on both sides (exact, no eps)
        u = np.divide(np.broadcast_to(t, b.shape), total, out=np.zeros_like(b), where=total > 0)
        v = np.divide(b, total, out=np.zeros_like(b), where=total > 0)
        num = (u * v).sum(axis=1)
        den = np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1)
        out[s] = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    return np.clip(out, 0.0, 1.0)


def _embeddings(target, candidates, t_extras, c_extras, *, centres=None, notify=None):
    units = np.stack([c[0] for c in c_extras])
    return range(len(candidates)), task2vec_scores(t_extras[0], units)


register(
    Similarity(
        "task2vec",
        "cos(a/(a+b), b/(a+b)) coordinate-wise, a, b >= 0",
        "Achille et al., ICCV 2019 (Task2Vec), task_similarity.py of aws-cv-task2vec",
        task2vec_scores,
        _embeddings,
        reads=(FISHER_UNITS,),
        reads_words="per-unit Fisher means (extra fisher_units)",
        fits=lambda t, c: c[0].shape == t[0].shape,
        order=30,
        short="t2v",
    )
)
