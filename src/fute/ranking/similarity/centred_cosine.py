"""``centred-cosine``: ``cos(a/|a| - c_a, b/|b| - c_b)`` with fixed centres.

The usual remedy for a cone-shaped embedding space (mean-centring against anisotropy, e.g.
Mu and Viswanath, ICLR 2018), where what all vectors share dominates every cosine. It reads
the vector and the centre of each side's kind: a store's centres (`fute.ranking.centres`), or
in memory the centres of the embeddings given (`centres_of`).
"""

from __future__ import annotations

import numpy as np

from fute.ranking.similarity.arrays import (
    SimilarityError,
    block,
    blocks,
    numbers,
    row_norms,
    rows,
    unit,
    vector,
)
from fute.ranking.similarity.registry import Similarity, register


def reference_centre(vectors) -> np.ndarray:
    """The centre for `centred-cosine`: the mean of the reference vectors scaled to unit length.

    ``c = (1/m) sum_i v_i / |v_i|``. Compute it once per space (and kind) from a *fixed*
    reference set, for example the catalogue's data-set embeddings or the pool models'
    embeddings, and keep it with the space. Then the score of a pair depends on the pair
    and the centre only: storing or deleting an unrelated vector cannot change it, which
    "the mean of whatever is in the store" would. Rows are scaled to unit length first
    because cosine ignores norms and embedding norms differ by orders of magnitude
    between tasks; otherwise the largest vector would be the centre. At least two
    reference vectors are needed: centring on one vector maps that vector to zero.
    """
    m = numbers(vectors, "reference vectors")
    if m.ndim != 2 or m.shape[0] < 2 or m.shape[1] == 0:
        raise SimilarityError(
            "reference vectors must be an (m, dim) matrix with at least 2 rows, "
            f"got shape {m.shape}; a centre from one vector would cancel that vector"
        )
    if not np.isfinite(m).all():
        raise SimilarityError("reference vectors have NaN or infinite coordinates")
    if (np.linalg.norm(m, axis=1) == 0).any():
        raise SimilarityError("reference vectors include a zero vector, which has no direction")
    return unit(m).mean(axis=0)


def centred_scores(target, candidates, *, centre, candidate_centre=None) -> np.ndarray:
    t = vector(target, "target")
    ct = vector(centre, "centre")
    cc = ct if candidate_centre is None else vector(candidate_centre, "candidate_centre")
    if ct.size != t.size or cc.size != t.size:
        raise SimilarityError(
            f"centres have {ct.size} and {cc.size} coordinates but the target has {t.size}; "
            "use the centre computed in the target's space (reference_centre)"
        )
    c = rows(candidates, t.size, "candidates")
    tc = unit(t) - ct
    # with u = b/|b| (0 for b = 0): (u - cc).tc = u.tc - cc.tc and
    # |u - cc|^2 = |u|^2 - 2 u.cc + |cc|^2, so a block costs one product, no centred copy;
    # |u - cc| >= 1 - |cc| > 0 unless all reference vectors point the same way
    cc_tc, cc_cc = float(cc @ tc), float(cc @ cc)
    out = np.empty(len(c))
    for s in blocks(len(c), t.size):
        b = block(c, s)
        norms = row_norms(b, "candidates")
        inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        dots = (b @ np.stack([tc, cc], axis=1).astype(b.dtype)).astype(np.float64)
        u_tc, u_cc = dots[:, 0] * inv, dots[:, 1] * inv
        sq = np.maximum((norms > 0) - 2 * u_cc + cc_cc, 0.0)
        den = np.sqrt(sq) * np.linalg.norm(tc)
        out[s] = np.divide(u_tc - cc_tc, den, out=np.zeros_like(den), where=den > 0)
    return np.clip(out, -1.0, 1.0)


def _embeddings(target, candidates, t_extras, c_extras, *, centres=None, notify=None):
    """Each candidate against the target, each side centred on the centre of its kind."""
    from fute.ranking.centres import centres_of

    if centres is None:
        centres = centres_of([target, *candidates])
    dim = np.asarray(target.vector).size
    zero = np.zeros(dim)

    def centre(kind: str) -> np.ndarray:
        c = centres.get(kind)
        return zero if c is None else np.asarray(c, dtype=np.float64)

    # a kind with a None centre was reported where the centres were made (fute.ranking.centres)
    absent = sorted({target.kind, *(c.kind for c in candidates)} - set(centres))
    if absent and notify is not None:
        notify(
            f"centred-cosine: {', '.join(absent)} embeddings are not centred: no centre was "
            "given and fewer than 2 of them are ranked"
        )
    out = np.zeros(len(candidates))
    t = np.asarray(target.vector, dtype=np.float64).ravel()
    for kind in sorted({c.kind for c in candidates}):
        pos = [i for i, c in enumerate(candidates) if c.kind == kind]
        matrix = np.stack([np.asarray(candidates[i].vector).ravel() for i in pos])
        out[pos] = centred_scores(
            t, matrix, centre=centre(target.kind), candidate_centre=centre(kind)
        )
    return range(len(candidates)), out


register(
    Similarity(
        "centred-cosine",
        "cos(a/|a| - c_a, b/|b| - c_b), centres from a fixed reference set",
        "mean-centring against anisotropy (e.g. Mu and Viswanath, ICLR 2018)",
        centred_scores,
        _embeddings,
        needs_centres=True,
        order=20,
        short="ccos",
    )
)
