"""The ranking wing: similarities on plain arrays (`similarity`), what each one reads from an
embedding (`signals`), frozen per-space centres (`centres`), ranking candidates in memory or
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
