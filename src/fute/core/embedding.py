"""A task embedding: a vector tied to the space it was computed in."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fute.core.errors import SpaceMismatchError


@dataclass
class TaskEmbedding:
    """`vector` lives in the space named by `space_key`; `meta` holds provenance and versions.

    `extras` holds named arrays kept beside the vector for similarities other than cosine
    (per-unit Fisher means, per-layer sketches, the prefix per position, answers on the
    pool: `fute.core.extras`); empty for embeddings made before fute kept them.
    """

    vector: np.ndarray
    space_key: str
    kind: str
    name: str
    meta: dict = field(default_factory=dict)
    extras: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def similarity(self, other: TaskEmbedding) -> float:
        return cosine(self, other)


def check_same_space(a: TaskEmbedding, b: TaskEmbedding) -> None:
    if a.space_key != b.space_key:
        raise SpaceMismatchError(
            f"{a.name!r} and {b.name!r} come from different spaces "
            f"({a.space_key} vs {b.space_key}); compare only embeddings of one space"
        )


def cosine(a: TaskEmbedding, b: TaskEmbedding) -> float:
    """Cosine similarity of two embeddings of the same space (raises SpaceMismatchError)."""
    check_same_space(a, b)
    x = np.asarray(a.vector, dtype=np.float64)
    y = np.asarray(b.vector, dtype=np.float64)
    denom = np.linalg.norm(x) * np.linalg.norm(y)
    return float(x @ y / denom) if denom > 0 else 0.0
