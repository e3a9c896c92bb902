"""Named similarities between task embeddings: one module per similarity, each registering
itself in `SIMILARITIES` (`fute.ranking.similarity.registry`).

Ranking asks one question: how close is each candidate to the target? Plain cosine is one
answer; the others are the ones our selection benchmarks measure, picked by name by ranking, the CLI and
the benchmarks::

    sim = get_similarity("centred-cosine")
    sim(a, b, centre=c)                      # one pair -> float
    sim.scores(target, candidates, centre=c)  # (n,) scores, one per candidate row

Every similarity is oriented so that **higher means more similar**. The batched form takes
the candidates as one matrix (one row per candidate) and works through it in blocks of
rows, so ranking 100k candidates is a few matrix products for the cosine-like ones and
never holds more than a block's copy in memory. A candidate's score never depends on the
other candidates, except for `rrf-components`, which is a rank fusion over the candidate
set and therefore has only the batched form.

Each module holds one similarity: its formula and source (docs/similarity.md says when to
use which), what it reads from an embedding and how. A new similarity is one more module
here (plus its test and its entry in docs/similarity.md): every module of this package is
imported below, and the ones that define a similarity `register` it.
"""

from __future__ import annotations

import importlib
import pkgutil

from fute.ranking.similarity.arrays import SimilarityError
from fute.ranking.similarity.registry import (
    SIMILARITIES,
    Similarity,
    get_similarity,
    register,
    scores,
)

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

from fute.ranking.similarity.answers import behaviour  # noqa: E402
from fute.ranking.similarity.centred_cosine import reference_centre  # noqa: E402

__all__ = [
    "SIMILARITIES",
    "Similarity",
    "SimilarityError",
    "behaviour",
    "get_similarity",
    "reference_centre",
    "register",
    "scores",
]
