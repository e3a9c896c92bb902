"""Scores of candidates by a named similarity, read from each embedding's vector and extras.

`fute.ranking.similarity` holds the formulas on plain arrays; this module knows which part of a
`TaskEmbedding` each one compares (`fute.core.extras.NEEDS`):

* ``cosine`` and ``centred-cosine``: the vector (``centred-cosine`` with the centre of the
  target's kind and of each candidate's kind, `fute.ranking.centres`);
* ``task2vec``: ``fisher_units``, the non-negative per-unit Fisher means;
* ``rrf-components``: ``components`` split at ``component_bounds`` (the layers);
* ``maxsim``: ``prefix_positions`` (layers x positions x dims), MaxSim within each layer
  averaged over the layers (positions of one layer have no order; positions of two layers
  live in different key and value spaces, so they are never matched with each other);
* ``behaviour``: ``pool_answers`` with ``answer_labels``, lined up on the pool items both
  sides answered (``pool_items``).

A candidate without what the similarity needs (stored before fute kept it, or made
differently) is left out and one line names it and says how to fix it; a target without it
is an error, since nothing can be ranked against it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from fute.core.embedding import TaskEmbedding
from fute.core.extras import (
    MADE_BY,
    NEEDS,
)
from fute.ranking.similarity import SimilarityError, behaviour, get_similarity

Notify = Callable[[str], None]
_SHOWN = 5  # candidate names shown in a one-line note


def _method(e: TaskEmbedding) -> str | None:
    return (e.meta.get("space") or {}).get("method")


def _how(similarity: str, e: TaskEmbedding, one: bool = False) -> str:
    """What to do so that `e` (and those like it) get what `similarity` needs."""
    made_by = MADE_BY.get(NEEDS[similarity][0], ())
    method = _method(e)
    if method is not None and method not in made_by:
        return (
            f"{similarity} needs embeddings of method {' or '.join(made_by)}; this space uses "
            f"{method}: pick another --similarity"
        )
    it, them = ("it", "it") if one else ("they", "them")
    return (
        f"{it} {'was' if one else 'were'} stored before fute kept it (or made without it): "
        f"embed {them} again with this fute (`fute embed ...` replaces the stored row)"
    )


def _names(embeddings: Sequence[TaskEmbedding]) -> str:
    shown = ", ".join(repr(e.name) for e in embeddings[:_SHOWN])
    more = len(embeddings) - _SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def _left_out(similarity: str, what: str, lacking: list, notify: Notify | None) -> None:
    if lacking and notify is not None:
        n = len(lacking)
        notify(
            f"{similarity}: left out {n} candidate{'s' if n != 1 else ''} without {what} "
            f"({_names(lacking)}); {_how(similarity, lacking[0])}"
        )


def _target_lacks(similarity: str, target: TaskEmbedding, what: str) -> SimilarityError:
    how = _how(similarity, target, one=True)
    return SimilarityError(f"{similarity}: the target {target.name!r} has no {what}; {how}")


def _extras(e: TaskEmbedding, names: Sequence[str]) -> list | None:
    got = [e.extras.get(n) for n in names]
    return None if any(g is None for g in got) else [np.asarray(g) for g in got]


def scores(
    similarity: str,
    target: TaskEmbedding,
    candidates: Sequence[TaskEmbedding],
    *,
    centres: Mapping[str, np.ndarray | None] | None = None,
    notify: Notify | None = None,
) -> tuple[list[int], np.ndarray]:
    """(positions in `candidates` that were scored, their scores), higher = more similar."""
    get_similarity(similarity)  # an unknown name: one line listing the known ones
    if not candidates:
        return [], np.zeros(0)
    if similarity == "cosine":
        from fute.store.vector_index import embedding_rows

        unit = embedding_rows([target, *candidates])
        return list(range(len(candidates))), (unit[1:] @ unit[0]).astype(np.float64)
    if similarity == "centred-cosine":
        return _centred(target, candidates, centres, notify)
    if similarity == "behaviour":
        return _behaviour(target, candidates, notify)
    return _from_extras(similarity, target, candidates, notify)


def _centred(target, candidates, centres, notify) -> tuple[list[int], np.ndarray]:
    from fute.ranking.centres import centres_of

    if centres is None:
        centres = centres_of([target, *candidates])
    sim = get_similarity("centred-cosine")
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
        rows = np.stack([np.asarray(candidates[i].vector).ravel() for i in pos])
        out[pos] = sim.scores(t, rows, centre=centre(target.kind), candidate_centre=centre(kind))
    return list(range(len(candidates))), out


_WHAT = {
    "task2vec": "per-unit Fisher means (extra fisher_units)",
    "rrf-components": "per-layer sketches (extras components, component_bounds)",
    "maxsim": "a per-position prefix (extra prefix_positions)",
    "behaviour": "answers on the pool (extras pool_answers, answer_labels, pool_items)",
}


def _fits(similarity: str, t: list, c: list) -> bool:
    """Whether a candidate's extras have the target's layout (made the same way)."""
    if similarity == "task2vec":
        return c[0].shape == t[0].shape
    if similarity == "rrf-components":
        return c[0].shape == t[0].shape and np.array_equal(c[1], t[1])
    if similarity == "maxsim":  # same layers and dims; the number of positions may differ
        return c[0].ndim == 3 and c[0].shape[0] == t[0].shape[0] and c[0].shape[2] == t[0].shape[2]
    return True


def _from_extras(similarity, target, candidates, notify) -> tuple[list[int], np.ndarray]:
    names = NEEDS[similarity]
    t = _extras(target, names)
    if t is None:
        raise _target_lacks(similarity, target, _WHAT[similarity])
    kept, lacking, got = [], [], []
    for i, c in enumerate(candidates):
        x = _extras(c, names)
        if x is None or not _fits(similarity, t, x):
            lacking.append(c)
        else:
            kept.append(i)
            got.append(x)
    _left_out(similarity, _WHAT[similarity], lacking, notify)
    if not kept:
        return [], np.zeros(0)
    sim = get_similarity(similarity)
    if similarity == "task2vec":
        return kept, sim.scores(t[0], np.stack([g[0] for g in got]))
    if similarity == "rrf-components":
        bounds = [tuple(int(v) for v in b) for b in t[1]]
        rows = np.stack([g[0] for g in got])
        return kept, sim.scores(t[0], rows, components=bounds)
    # maxsim: within each layer, averaged over layers
    layers = t[0].shape[0]
    total = np.zeros(len(kept))
    same = len({g[0].shape for g in got}) == 1  # then one (n, positions, dims) block
    for layer in range(layers):
        rows = [g[0][layer] for g in got]
        total += sim.scores(t[0][layer], np.stack(rows) if same else rows)
    return kept, total / layers


def _behaviour(target, candidates, notify) -> tuple[list[int], np.ndarray]:
    names = NEEDS["behaviour"]
    t = _extras(target, names)
    if t is None:
        raise _target_lacks("behaviour", target, _WHAT["behaviour"])
    t_answers, t_labels, t_items = t
    kept, scored, lacking, apart = [], [], [], []
    for i, c in enumerate(candidates):
        x = _extras(c, names)
        if x is None:
            lacking.append(c)
            continue
        answers, labels, items = x
        shared, ti, ci = np.intersect1d(t_items, items, assume_unique=False, return_indices=True)
        if shared.size < 2:
            apart.append(c)
            continue
        try:
            score = behaviour(
                t_answers[ti],
                answers[ci],
                labels=[str(v) for v in t_labels],
                candidate_labels=[str(v) for v in labels],
            )
        except SimilarityError:  # no shared label name
            apart.append(c)
            continue
        kept.append(i)
        scored.append(score)
    _left_out("behaviour", _WHAT["behaviour"], lacking, notify)
    if apart and notify is not None:
        notify(
            f"behaviour: left out {len(apart)} candidate{'s' if len(apart) != 1 else ''} whose "
            f"answers share fewer than 2 pool items or no label name with the target's "
            f"({_names(apart)})"
        )
    return kept, np.array(scored, dtype=np.float64)
