"""Ranking by cosine similarity within one embedding space.

Every function here refuses to compare vectors of different spaces (`SpaceMismatchError`):
two spaces differ in surrogate, method or seed, so their coordinates mean different things.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fute.embedding import TaskEmbedding, check_same_space
from fute.errors import FuteError, SpaceMismatchError


@dataclass(frozen=True)
class Ranked:
    """One candidate in a ranking: its place (1 = most similar), the embedding and the cosine."""

    rank: int
    embedding: TaskEmbedding
    similarity: float

    def to_dict(self) -> dict:
        return {
            "rank": self.rank,
            "name": self.embedding.name,
            "kind": self.embedding.kind,
            "similarity": self.similarity,
        }


def _unit_rows(embeddings: Sequence[TaskEmbedding]) -> np.ndarray:
    """Row-normalised matrix of the embeddings' vectors (zero vectors stay zero)."""
    dims = {int(np.asarray(e.vector).size) for e in embeddings}
    if len(dims) > 1:
        raise SpaceMismatchError(
            f"embeddings of one space have different sizes {sorted(dims)}; "
            "the store mixes vectors that are not comparable"
        )
    # float64 while it is cheap; float32 for big vectors (n x 10M in float64 would be GBs)
    dtype = np.float64 if len(embeddings) * max(dims) <= 50_000_000 else np.float32
    m = np.stack([np.asarray(e.vector, dtype=dtype).ravel() for e in embeddings])
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return np.divide(m, norms, out=np.zeros_like(m), where=norms > 0)


def rank(
    target: TaskEmbedding,
    candidates: Sequence[TaskEmbedding],
    top: int | None = None,
    *,
    exclude_self: bool = True,
) -> list[Ranked]:
    """Candidates ordered by cosine similarity to `target`, most similar first.

    `exclude_self` drops candidates with the target's own (kind, name); ties keep the
    candidates' order, so the result is deterministic.
    """
    if top is not None and top < 1:
        raise FuteError(f"top must be a positive number of candidates, got {top}")
    pool = [
        c
        for c in candidates
        if not (exclude_self and c.kind == target.kind and c.name == target.name)
    ]
    for c in pool:
        check_same_space(target, c)
    if not pool:
        return []
    unit = _unit_rows([target, *pool])
    sims = (unit[1:] @ unit[0]).astype(np.float64)
    order = np.argsort(-sims, kind="stable")
    if top is not None:
        order = order[:top]
    return [Ranked(i + 1, pool[j], float(sims[j])) for i, j in enumerate(order)]


def similarity_matrix(embeddings: Sequence[TaskEmbedding]) -> np.ndarray:
    """Pairwise cosine similarities (n x n, float64) of embeddings of one space."""
    if not embeddings:
        return np.zeros((0, 0))
    first = embeddings[0]
    for e in embeddings[1:]:
        check_same_space(first, e)
    unit = _unit_rows(embeddings)
    sims = (unit @ unit.T).astype(np.float64)
    return np.clip(sims, -1.0, 1.0)


def group_by_space(embeddings: Sequence[TaskEmbedding]) -> dict[str, list[TaskEmbedding]]:
    """Split a mixed collection into its spaces (order kept), e.g. before ranking or plotting."""
    groups: dict[str, list[TaskEmbedding]] = {}
    for e in embeddings:
        groups.setdefault(e.space_key, []).append(e)
    return groups
