"""``maxsim``: for position-by-dimension matrices, the mean over one side's positions of the
best cosine with any position of the other.

Khattab and Zaharia, SIGIR 2020 (ColBERT's late interaction); used for prefix embeddings by
Lin et al. 2024. It reads ``prefix_positions`` (layers x positions x
dims, kept by `prefix`): MaxSim within each layer, averaged over the layers (positions of one
layer have no order; positions of two layers live in different key and value spaces, so they
are never matched with each other).
"""

from __future__ import annotations

import numpy as np

from fute.core.extras import PREFIX_POSITIONS
from fute.ranking.similarity.arrays import SimilarityError, block, blocks, numbers, unit, unit_rows
from fute.ranking.similarity.registry import Similarity, register


def _positions(x, dim: int | None, what: str) -> np.ndarray:
    m = numbers(x, what)
    if dim is not None and m.ndim == 1:
        if dim < 1 or m.size % dim:
            raise SimilarityError(
                f"{what} has {m.size} coordinates, not a whole number of positions of dim={dim}"
            )
        m = m.reshape(-1, dim)
    if m.ndim != 2 or 0 in m.shape:
        raise SimilarityError(
            f"{what} must be a (positions, dim) matrix (or a flat vector with dim=...), "
            f"got shape {m.shape}"
        )
    if not np.isfinite(m).all():
        raise SimilarityError(f"{what} has NaN or infinite coordinates; recompute it")
    return m


def _maxsim_block(t: np.ndarray, c: np.ndarray, symmetric: bool) -> np.ndarray:
    """MaxSim of unit target rows (m, d) with unit candidate blocks (n, m', d)."""
    sims = np.einsum("id,njd->nij", t, c)  # (candidates, target positions, theirs)
    forward = sims.max(axis=2).mean(axis=1)
    return (forward + sims.max(axis=1).mean(axis=1)) / 2 if symmetric else forward


def maxsim_scores(
    target, candidates, *, dim: int | None = None, symmetric: bool = True
) -> np.ndarray:
    """Candidates: a (n, positions, dim) array, a sequence of (positions_j, dim) matrices,
    or with `dim` an (n, positions * dim) matrix of flattened ones. `symmetric=False`
    gives the one-way ColBERT score, the mean over the target's positions only."""
    t = unit(_positions(target, dim, "target"))
    d = t.shape[1]
    c = candidates
    if isinstance(c, np.ndarray) and c.ndim == 2 and dim is not None and c.shape[1] % dim == 0:
        c = c.reshape(len(c), -1, dim)
    if isinstance(c, np.ndarray) and c.ndim == 3 and c.shape[1] > 0 and c.shape[2] == d:
        out = np.empty(len(c))
        for s in blocks(len(c), c.shape[1] * d):
            out[s] = _maxsim_block(t, unit_rows(block(c, s)), symmetric)
        return np.clip(out, -1.0, 1.0)
    out = np.empty(len(c))
    for j, cand in enumerate(c):
        m = unit(_positions(cand, dim, f"candidate {j}"))
        if m.shape[1] != d:
            raise SimilarityError(
                f"candidate {j} has positions of dim {m.shape[1]}, the target's have {d}"
            )
        out[j] = _maxsim_block(t, m[None], symmetric)[0]
    return np.clip(out, -1.0, 1.0)


def _embeddings(target, candidates, t_extras, c_extras, *, centres=None, notify=None):
    t = t_extras[0]
    total = np.zeros(len(candidates))
    same = len({c[0].shape for c in c_extras}) == 1  # then one (n, positions, dims) block
    for layer in range(t.shape[0]):
        per_layer = [c[0][layer] for c in c_extras]
        total += maxsim_scores(t[layer], np.stack(per_layer) if same else per_layer)
    return range(len(candidates)), total / t.shape[0]


def _fits(t: list, c: list) -> bool:
    """Same layers and dims; the number of positions may differ."""
    return c[0].ndim == 3 and c[0].shape[0] == t[0].shape[0] and c[0].shape[2] == t[0].shape[2]


register(
    Similarity(
        "maxsim",
        "mean_i max_j cos(a_i, b_j) over positions (symmetrised by default)",
        "Khattab and Zaharia, SIGIR 2020 (ColBERT); prefixes: Lin et al. 2024",
        maxsim_scores,
        _embeddings,
        reads=(PREFIX_POSITIONS,),
        reads_words="a per-position prefix (extra prefix_positions)",
        fits=_fits,
        order=50,
        short="msim",
    )
)
