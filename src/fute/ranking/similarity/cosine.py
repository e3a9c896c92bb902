"""``cosine``: ``a.b / (|a| |b|)``; a zero vector scores 0.

The similarity of the FUTE paper (Wang et al., Findings of ACL 2024) and the default. It reads
the vector alone, and its order is the order of the unit vectors' inner products, so a store
is ranked through the space's vector index (`fute.store.vector_index`) without reading
every row.
"""

from __future__ import annotations

import numpy as np

from fute.ranking.similarity.arrays import block, blocks, row_cosines, rows, vector
from fute.ranking.similarity.registry import Similarity, register


def cosine_scores(target, candidates) -> np.ndarray:
    t = vector(target, "target")
    c = rows(candidates, t.size, "candidates")
    out = np.empty(len(c))
    for s in blocks(len(c), t.size):
        out[s] = row_cosines(block(c, s), t)
    return np.clip(out, -1.0, 1.0)


def _embeddings(target, candidates, t_extras, c_extras, *, centres=None, notify=None):
    """The cosines of the unit rows, in the precision the vector index ranks with."""
    from fute.store.vector_index import embedding_rows

    unit = embedding_rows([target, *candidates])
    return range(len(candidates)), (unit[1:] @ unit[0]).astype(np.float64)


register(
    Similarity(
        "cosine",
        "a.b / (|a| |b|)",
        "the FUTE paper's similarity (Wang et al., Findings of ACL 2024)",
        cosine_scores,
        _embeddings,
        uses_index=True,
        order=10,
        short="cos",
    )
)
