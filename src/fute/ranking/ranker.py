"""Ranking by a named similarity within one embedding space.

`rank` ranks embeddings in memory; `rank_stored` ranks a store's rows. The similarity is
chosen by name (`fute.ranking.similarity.SIMILARITIES`, docs/similarity.md); ``cosine``, the
default, ranks a store through the space's vector index (`fute.store.vector_index`), exactly,
without reading every vector. The others read the space's rows with the extras they need
(`Similarity.reads`); a candidate without them is left out and named in one line.

Every function here refuses to compare vectors of different spaces (`SpaceMismatchError`):
two spaces differ in surrogate, method, seed or a space-defining hyper-parameter, so their
coordinates mean different things. When a target's space holds no candidates,
`no_candidates_message` says which setting separates it from the spaces that do.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fute.core.embedding import TaskEmbedding, check_same_space
from fute.core.errors import FuteError
from fute.store.vector_index import embedding_rows

DEFAULT_SIMILARITY = "cosine"


class RankingWarning(UserWarning):
    """What a ranking left out (candidates without what the similarity needs)."""


def _warn(message: str) -> None:
    warnings.warn(message, RankingWarning, stacklevel=3)


@dataclass(frozen=True)
class Ranked:
    """One candidate in a ranking: its place (1 = most similar), the embedding and its score
    by the ranking's similarity (`similarity`; the cosine unless another was asked for)."""

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


def rank(
    target: TaskEmbedding,
    candidates: Sequence[TaskEmbedding],
    top: int | None = None,
    *,
    exclude_self: bool = True,
    similarity: str = DEFAULT_SIMILARITY,
    centres: Mapping[str, Any] | None = None,
    notify: Callable[[str], None] | None = None,
) -> list[Ranked]:
    """Candidates ordered by `similarity` to `target`, most similar first.

    `similarity` names one of `fute.ranking.similarity.SIMILARITIES` (unknown: `SimilarityError`).
    `centres` (kind -> centre vector) are for ``centred-cosine``; without them each kind is
    centred on the given embeddings of that kind (`rank_stored` uses the centres the store
    keeps instead). Candidates without the extras a similarity needs
    are left out and named through `notify` (default: a `RankingWarning`).
    `exclude_self` drops candidates with the target's own (kind, name); ties keep the
    candidates' order, so the result is deterministic.
    """
    from fute.ranking.similarity import scores

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
    kept, sims = scores(similarity, target, pool, centres=centres, notify=notify or _warn)
    order = np.argsort(-sims, kind="stable")
    if top is not None:
        order = order[:top]
    return [Ranked(i + 1, pool[kept[j]], float(sims[j])) for i, j in enumerate(order)]


def rank_stored(
    store,
    target: TaskEmbedding,
    *,
    kind: str | None = None,
    top: int | None = 10,
    similarity: str = DEFAULT_SIMILARITY,
    notify: Callable[[str], None] | None = None,
) -> list[Ranked]:
    """`rank` of the stored candidates in `target`'s space (optionally of one `kind`).

    A similarity the vector index can shortlist (``cosine``), with `top`: the space's vector
    index (`fute.store.vector_index`, rebuilt when the store changed) scores every stored
    row in one pass, and the rows that can be in the top-k (the float32 top-k and all within
    a rounding margin of it) are read from the store and ranked by `rank`: the result is the
    same as ranking every row, exactly. Without an index (a store of schema 1 or 2 opened
    read-only, nowhere to write one) or with `top=None`, every row of the space is read.

    Any other similarity reads every row of the space (of `kind`) with the extras it reads
    (`Similarity.reads`). ``centred-cosine`` uses the centre of each kind the store keeps
    (`fute.ranking.centres.space_centres`; where it keeps none, one computed from the rows
    for this ranking only). Never writes to the store. `notify` (default: the store's)
    hears what was left out.
    """
    from fute.ranking.similarity import get_similarity
    from fute.store.vector_index import stored_rank_candidates

    if top is not None and top < 1:
        raise FuteError(f"top must be a positive number of candidates, got {top}")
    sim = get_similarity(similarity)
    notify = notify or store.notify
    if sim.uses_index:
        candidates = None if top is None else stored_rank_candidates(store, target, top, kind)
        if candidates is None:
            candidates = store.load(kind=kind, space_key=target.space_key)
        return rank(target, candidates, top=top, similarity=similarity, notify=notify)
    needs = sim.reads
    candidates = store.load(kind=kind, space_key=target.space_key, extras=needs)
    if needs and not all(n in target.extras for n in needs) and "store_id" in target.meta:
        again = store.get(int(target.meta["store_id"]), extras=needs)  # read without extras?
        if (again.kind, again.name, again.space_key) == (
            target.kind,
            target.name,
            target.space_key,
        ):
            target = again
    centres = None
    if sim.needs_centres:
        from fute.ranking.centres import space_centres

        kinds = {target.kind, *(c.kind for c in candidates)}
        centres = space_centres(store, target.space_key, kinds, notify=notify)
    return rank(target, candidates, top=top, similarity=similarity, centres=centres, notify=notify)


def similarity_matrix(embeddings: Sequence[TaskEmbedding]) -> np.ndarray:
    """Pairwise cosine similarities (n x n, float64) of embeddings of one space."""
    if not embeddings:
        return np.zeros((0, 0))
    first = embeddings[0]
    for e in embeddings[1:]:
        check_same_space(first, e)
    unit = embedding_rows(embeddings)
    sims = (unit @ unit.T).astype(np.float64)
    return np.clip(sims, -1.0, 1.0)


def group_by_space(embeddings: Sequence[TaskEmbedding]) -> dict[str, list[TaskEmbedding]]:
    """Split a mixed collection into its spaces (order kept), e.g. before ranking or plotting."""
    groups: dict[str, list[TaskEmbedding]] = {}
    for e in embeddings:
        groups.setdefault(e.space_key, []).append(e)
    return groups


# the CLI flag that sets a space-defining setting of `fute embed`; the others are Python-only
_FLAGS = {"method": "--method", "seed": "--seed", "pool_anchor": "--pool-anchor"}


def _fix(settings: list[tuple[str, Any]]) -> str:
    """How to embed into a space with these values: CLI flags, else a `Space(...)` call."""
    flags = [
        (_FLAGS[k] if v else _FLAGS[k].replace("--", "--no-", 1))
        if isinstance(v, bool)
        else f"{_FLAGS[k]} {v}"
        for k, v in settings
        if k in _FLAGS
    ]
    python = [f"{k}={v!r}" for k, v in settings if k not in _FLAGS]
    parts = [" ".join(flags)] if flags else []
    if python:
        parts.append(f"Space({', '.join(python)}) in Python")
    return " and ".join(parts)


def no_candidates_message(target, others: Sequence, kind: str | None = None) -> str:
    """One line for a ranking that found no candidates: where candidates are and how to match.

    `target` and `others` are stored records or embeddings (``space_key``, ``kind``,
    ``name``, ``meta``); `others` are the embeddings of the asked `kind` in every space. The
    space holding most of them is diffed against the target's (``meta["space"]``, see
    `fute.space.space_differences`) and the message names each differing setting with
    both values and the flag (or `Space` argument) that matches them.
    """
    from fute.space import short_key, space_differences

    what = kind or "other"
    here = short_key(target.space_key)
    groups: dict[str, list] = {}
    for o in others:
        if o.space_key != target.space_key and not (
            o.kind == target.kind and o.name == target.name
        ):
            groups.setdefault(o.space_key, []).append(o)
    if not groups:
        return (
            f"no {what} embeddings in space {here} to rank against {target.name!r}, nor in any "
            "other space of the store; embed some with `fute embed`"
        )
    ours = target.meta.get("space") or {}

    def diffs(key: str) -> list[tuple[str, Any, Any]]:
        return space_differences(ours, groups[key][0].meta.get("space") or {})

    best = max(groups, key=lambda k: (len(groups[k]), -len(diffs(k))))
    found = diffs(best)
    n = len(groups[best])
    head = (
        f"no {what} embeddings in the space of {target.name!r} ({here}), but {n} in "
        f"{short_key(best)}"
    )
    rest = sum(len(v) for k, v in groups.items() if k != best)
    tail = f" ({rest} more in {len(groups) - 1} other spaces: `fute store list`)" if rest else ""
    # settings that are per embedding now, or known to one key only: an older fute's key
    from fute.engine.methods import PER_EMBEDDING_SETTINGS

    per_embedding = {"pool_size", *PER_EMBEDDING_SETTINGS.get(ours.get("method"), ())}
    legacy = [(k, a, b) for k, a, b in found if k in per_embedding or a is None or b is None]
    changed = [d for d in found if d not in legacy]
    if not found:
        return (
            f"{head}, whose key differs although the recorded settings agree; re-embed "
            f"{target.name!r} with this fute to put it in that space{tail}"
        )
    if changed:
        said = ", ".join(f"{k} ({a!r} vs {b!r})" for k, a, b in changed)
        how = (
            f"which differs in {said}: embed {target.name!r} again with "
            f"{_fix([(k, b) for k, _, b in changed])} (or the candidates with "
            f"{_fix([(k, a) for k, a, _ in changed])})"
        )
    else:
        how = "which differs only in amounts of data"
    if legacy:
        said = ", ".join(
            f"{k} ({'absent' if a is None else repr(a)} vs {'absent' if b is None else repr(b)})"
            for k, a, b in legacy
        )
        how += (
            f"{'; also' if changed else ':'} {said}, which an older fute kept in the space key; "
            "re-embed with this version (amounts of data no longer split spaces)"
        )
    return f"{head}, {how}{tail}"
