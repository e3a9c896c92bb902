"""The centres of `centred-cosine`, as a ranking reads them: one per space and kind.

`centred-cosine` subtracts from each unit vector the centre of its kind (docs/similarity.md):
the mean of the unit vectors of every stored embedding of that kind in the space. The store
keeps each centre up to date when it writes (`fute.store.centres`), so a ranking only reads
it; reading never writes. A store written by an older fute may hold no centre (or one frozen
the first time a ranking needed it, which is used as it is): where none is kept, the centre
is computed from the rows stored now, for this ranking only, and one line says how to keep
it (`fute store centre --reset`). A kind with fewer than two embeddings has no centre: its
vectors are not centred (the ranking says so in one line).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np

from fute.core.embedding import TaskEmbedding
from fute.store.centres import unit_mean

__all__ = ["centres_of", "space_centres", "unit_mean"]


def centres_of(embeddings: Sequence[TaskEmbedding]) -> dict[str, np.ndarray]:
    """Centres per kind of the given embeddings (kinds with at least two): what an in-memory
    ranking uses when it is given no centres."""
    out = {}
    for kind in sorted({e.kind for e in embeddings}):
        centre, n = unit_mean(e.vector for e in embeddings if e.kind == kind)
        if n >= 2:
            out[kind] = centre
    return out


def _stored_mean(store, space_key: str, kind: str) -> tuple[np.ndarray | None, int]:
    """The unit mean of every stored `kind` embedding of the space, read one row at a time
    in one read transaction (a damaged row is named once and left out)."""
    from fute.store import DamagedEmbeddingError

    def vectors():
        with store.snapshot() as snap:
            for head in snap.heads(space_key):
                if head.kind != kind:
                    continue
                try:
                    yield snap.embedding(head).vector
                except DamagedEmbeddingError as exc:
                    store.report_damage(exc)

    return unit_mean(vectors())


def space_centres(
    store,
    space_key: str,
    kinds: Iterable[str],
    *,
    notify: Callable[[str], None] | None = None,
) -> dict[str, np.ndarray | None]:
    """The centre of each kind in a space (None: the kind cannot be centred), as the store
    keeps it; where it keeps none, computed from the rows stored now without writing, and
    `notify` says so."""
    from fute.space import short_key

    say = notify or (lambda message: None)
    out: dict[str, np.ndarray | None] = {}
    for kind in sorted(set(kinds)):
        found = store.centre(space_key, kind)
        if found is not None:
            out[kind] = found[0]
            continue
        centre, n = _stored_mean(store, space_key, kind)
        out[kind] = centre if n >= 2 else None
        where = f"space {short_key(space_key)}"
        if n < 2:
            say(
                f"{kind} embeddings of {where} are not centred: a centre needs at least 2, {n} stored"
            )
        else:
            say(
                f"centred the {kind} embeddings of {where} on the {n} stored now, for this "
                "ranking only: the store keeps no centre for them (written by an older fute); "
                f"`fute store centre --reset --store {store.path}` keeps it"
            )
    return out
