"""``rrf-components``: cosine per component (a layer's block of coordinates), candidates ranked
per component and fused by reciprocal rank.

Cormack, Clarke and Buettcher, SIGIR 2009 (RRF), as TaskEmb (Vu et al., EMNLP 2020) ranks per
component and fuses. A rank fusion over the candidate set, so it has no score for one pair.
It reads ``components`` split at ``component_bounds`` (the per-layer sketches `fisher` and
`prefix` keep).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from fute.core.extras import COMPONENT_BOUNDS, COMPONENTS
from fute.ranking.similarity.arrays import SimilarityError, rows, vector
from fute.ranking.similarity.cosine import cosine_scores
from fute.ranking.similarity.registry import Similarity, register


def _component_slices(components, dim: int) -> list[slice]:
    items = list(components.values()) if isinstance(components, Mapping) else list(components)
    if not items:
        raise SimilarityError("components is empty: give at least one (start, stop) block")
    slices, covered = [], np.zeros(dim, dtype=bool)
    for item in items:
        try:
            start, stop = (int(x) for x in item)
        except (TypeError, ValueError):
            raise SimilarityError(
                f"component {item!r} is not a (start, stop) pair of coordinate indices"
            ) from None
        if not 0 <= start < stop <= dim:
            raise SimilarityError(
                f"component ({start}, {stop}) is not a block of the {dim} coordinates; "
                "need 0 <= start < stop <= dim"
            )
        if covered[start:stop].any():
            raise SimilarityError(f"component ({start}, {stop}) overlaps another component")
        covered[start:stop] = True
        slices.append(slice(start, stop))
    return slices


def rrf_component_scores(target, candidates, *, components, k: float = 60.0) -> np.ndarray:
    # imported here: fute.evaluation loads scipy.stats (a second), and the CLI lists this
    # registry's names at start-up
    from fute.evaluation.priors import reciprocal_rank_fusion

    t = vector(target, "target")
    c = rows(candidates, t.size, "candidates")
    per_component = [cosine_scores(t[s], c[:, s]) for s in _component_slices(components, t.size)]
    return reciprocal_rank_fusion(per_component, k=k)


def _embeddings(target, candidates, t_extras, c_extras, *, centres=None, notify=None):
    bounds = [tuple(int(v) for v in b) for b in t_extras[1]]
    matrix = np.stack([c[0] for c in c_extras])
    return range(len(candidates)), rrf_component_scores(t_extras[0], matrix, components=bounds)


register(
    Similarity(
        "rrf-components",
        "sum_c 1/(k + rank_c(b)), rank_c by cosine on component c",
        "Cormack et al., SIGIR 2009 (RRF); per-component ranks as in Vu et al., EMNLP 2020",
        rrf_component_scores,
        _embeddings,
        pairwise=False,
        reads=(COMPONENTS, COMPONENT_BOUNDS),
        reads_words="per-layer sketches (extras components, component_bounds)",
        fits=lambda t, c: c[0].shape == t[0].shape and np.array_equal(c[1], t[1]),
        order=40,
        short="rrfc",
    )
)
