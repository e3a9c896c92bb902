"""The centres of `centred-cosine`: one per space and kind, frozen once made.

`centred-cosine` subtracts from each unit vector the centre of its kind (docs/similarity.md).
So that the score of a pair never changes when a user stores an unrelated vector, a space's
centre of a kind is made **once**, the first time a ranking needs it, from every embedding of
that kind in the space at that moment (the mean of their unit vectors), and kept in the store
with its provenance (which embeddings, when, which fute). Later rankings read it back;
`fute store centre --reset` (`Store.delete_centres`) forgets it, so the next ranking makes a
new one. A kind with fewer than two embeddings has no centre: its vectors are not centred
(the ranking says so in one line).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone

import numpy as np

from fute.core.embedding import TaskEmbedding

#: names kept in a centre's provenance (all ids are hashed)
MAX_NAMES = 100
_CHUNK = 512


def unit_mean(vectors: Iterable[np.ndarray]) -> tuple[np.ndarray | None, int]:
    """The mean of the non-zero vectors scaled to unit length (float64), and how many."""
    total, n = None, 0
    for v in vectors:
        v = np.asarray(v, dtype=np.float64).ravel()
        norm = np.linalg.norm(v)
        if norm == 0 or not np.isfinite(norm):
            continue
        total = v / norm if total is None else total + v / norm
        n += 1
    return (None, 0) if total is None else (total / n, n)


def centres_of(embeddings: Sequence[TaskEmbedding]) -> dict[str, np.ndarray]:
    """Centres per kind of the given embeddings (kinds with at least two): what an in-memory
    ranking uses when it is given no centres."""
    out = {}
    for kind in sorted({e.kind for e in embeddings}):
        centre, n = unit_mean(e.vector for e in embeddings if e.kind == kind)
        if n >= 2:
            out[kind] = centre
    return out


def _make(store, space_key: str, kind: str) -> tuple[np.ndarray | None, dict]:
    """The centre of every stored `kind` embedding of the space now, read in chunks."""
    records = store.list(kind=kind, space_key=space_key)
    ids = [r.id for r in records]

    def vectors():
        for start in range(0, len(ids), _CHUNK):
            for e in store.load(ids=ids[start : start + _CHUNK]):
                yield e.vector

    centre, n = unit_mean(vectors())
    from fute._version import __version__

    meta = {
        "rule": f"mean of the unit vectors of every {kind} embedding of the space",
        "n": n,
        "names": [r.name for r in records[:MAX_NAMES]],
        "ids_sha256": hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest(),
        "made": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "fute": __version__,
    }
    return (centre if n >= 2 else None), meta


def space_centres(
    store,
    space_key: str,
    kinds: Iterable[str],
    *,
    writer=None,
    notify: Callable[[str], None] | None = None,
) -> dict[str, np.ndarray | None]:
    """The frozen centre of each kind in a space (None: the kind cannot be centred).

    A missing centre is made from the embeddings stored now and frozen through `writer` (a
    writable `Store` of the same file, or a function that opens one only when a centre
    must be frozen and returns None where it cannot), or through `store` itself when it is
    writable; where neither can write, it is used for this ranking only, and `notify` says
    so.
    """
    from fute.space import short_key

    say = notify or (lambda message: None)
    out: dict[str, np.ndarray | None] = {}
    for kind in sorted(set(kinds)):
        found = store.centre(space_key, kind)
        if found is not None:
            out[kind] = found[0]
            continue
        centre, meta = _make(store, space_key, kind)
        out[kind] = centre
        where = f"space {short_key(space_key)}"
        if centre is None:
            say(
                f"{kind} embeddings of {where} are not centred: a centre needs at least 2, "
                f"{meta['n']} stored"
            )
            continue
        if callable(writer) and not hasattr(writer, "freeze_centre"):
            writer = writer()  # opened once, on the first centre to freeze
        target = writer if writer is not None else (None if store.readonly else store)
        if target is None:
            say(
                f"centred the {kind} embeddings of {where} on the {meta['n']} stored now, for "
                "this ranking only: the store is read-only, so the centre cannot be frozen"
            )
            continue
        if target.freeze_centre(space_key, kind, centre, meta):
            say(
                f"froze the centre of the {meta['n']} {kind} embeddings of {where}: "
                "centred-cosine uses it from now on (`fute store centre --reset` remakes it)"
            )
        else:  # another process froze one meanwhile: use that one
            out[kind] = target.centre(space_key, kind)[0]
    return out
