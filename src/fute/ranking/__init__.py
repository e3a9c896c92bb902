"""The ranking wing: the similarities (`similarity`: one module each, with its formula and
what it reads from an embedding), per-space centres (`centres`), ranking candidates in memory or
in a store (`ranker`) and the recommendation a user acts on (`recommend`).

    from fute.ranking import rank, rank_stored

`recommend` is on the package face (`fute.recommend(...)`); `fute.ranking.recommend` is its
module.
"""

from fute.ranking.ranker import (
    Ranked,
    RankingWarning,
    group_by_space,
    no_candidates_message,
    rank,
    rank_stored,
    similarity_matrix,
)

__all__ = [
    "Ranked",
    "RankingWarning",
    "group_by_space",
    "no_candidates_message",
    "rank",
    "rank_stored",
    "similarity_matrix",
]
