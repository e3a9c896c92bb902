"""The contract of a similarity (`Similarity`), the registry its module fills (`register`),
and `scores`: a similarity applied to task embeddings.

A similarity declares what it reads (`reads`: the extras beside the vector it needs, none
for the vector alone), whether the space's vector index can shortlist it (`uses_index`)
and whether it takes each kind's centre (`needs_centres`), and brings two functions: its
formula on arrays (`batch`, and `pair` where one pair has a cheaper form) and
`score_embeddings`, which applies the formula to a target and its candidates. `scores`
does what every similarity shares: it leaves out (and names, in one line) the candidates
without what the similarity reads or whose extras are laid out otherwise (`fits`), and
refuses a target without it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from fute.core.embedding import TaskEmbedding
from fute.core.extras import MADE_BY
from fute.ranking.similarity.arrays import SimilarityError, numbers

Notify = Callable[[str], None]
#: (target, candidates, target's extras, candidates' extras, centres=, notify=) ->
#: (positions among `candidates` that were scored, their scores)
EmbeddingScores = Callable[..., tuple[Sequence[int], np.ndarray]]
_SHOWN = 5  # candidate names shown in a one-line note


@dataclass(frozen=True)
class Similarity:
    """A named similarity: call it on one pair, or `.scores` on a target and its candidates.

    `formula` and `source` are one line each, for `--help` and reports; `options` lists the
    keyword arguments `batch` takes (`required`: those without a default). `pairwise` is
    False for a score defined only over a candidate set (rank fusion). `reads` names the
    extras (`fute.core.extras`) it compares, `reads_words` says that in words; `order` is its
    place among the similarities (`SIMILARITIES`, the CLI's choices, recommendations) and
    `short` its column name in narrow tables.
    """

    name: str
    formula: str
    source: str
    batch: Callable[..., np.ndarray]
    score_embeddings: EmbeddingScores
    pair: Callable[..., float] | None = None
    pairwise: bool = True
    reads: tuple[str, ...] = ()
    reads_words: str = "the vector"
    fits: Callable[[list, list], bool] | None = None
    uses_index: bool = False
    needs_centres: bool = False
    order: int = 100
    short: str = ""

    @property
    def options(self) -> tuple[str, ...]:
        return tuple(inspect.signature(self.batch).parameters)[2:]

    @property
    def required(self) -> tuple[str, ...]:
        params = list(inspect.signature(self.batch).parameters.values())[2:]
        return tuple(p.name for p in params if p.default is inspect.Parameter.empty)

    def _check_options(self, options: dict) -> None:
        unknown = sorted(set(options) - set(self.options))
        missing = [name for name in self.required if name not in options]
        if unknown or missing:
            what = f"unknown option(s) {unknown}" if unknown else f"missing option(s) {missing}"
            allowed = ", ".join(self.options) or "none"
            raise SimilarityError(f"similarity {self.name!r}: {what}; it takes: {allowed}")

    def scores(self, target, candidates, **options) -> np.ndarray:
        """(n,) float64 scores, one per candidate, higher = more similar."""
        self._check_options(options)
        if len(candidates) == 0:
            return np.zeros(0)
        return self.batch(target, candidates, **options)

    def __call__(self, a, b, **options) -> float:
        """The score of one pair (`a` plays the target)."""
        if not self.pairwise:
            raise SimilarityError(
                f"similarity {self.name!r} ranks a candidate against the other candidates; "
                "it has no score for one pair: use .scores(target, candidates)"
            )
        self._check_options(options)
        if self.pair is not None:
            return self.pair(a, b, **options)
        return float(self.batch(a, numbers(b, "b", dtype=None)[None], **options)[0])


#: every registered similarity by name, in their `order`
SIMILARITIES: dict[str, Similarity] = {}


def register(similarity: Similarity) -> Similarity:
    """Add a similarity to `SIMILARITIES` (what the module defining it calls)."""
    if similarity.name in SIMILARITIES:
        raise ValueError(f"similarity {similarity.name!r} is registered twice")
    ordered = sorted([*SIMILARITIES.values(), similarity], key=lambda s: (s.order, s.name))
    SIMILARITIES.clear()
    SIMILARITIES.update((s.name, s) for s in ordered)
    return similarity


def get_similarity(name: str) -> Similarity:
    """The similarity registered as `name` (raises `SimilarityError` listing the known names)."""
    try:
        return SIMILARITIES[name]
    except (KeyError, TypeError):
        known = ", ".join(SIMILARITIES)
        raise SimilarityError(f"unknown similarity {name!r}; choose one of: {known}") from None


# ---------------------------------------------------------------------------------------
# a similarity applied to task embeddings


def scores(
    similarity: str,
    target: TaskEmbedding,
    candidates: Sequence[TaskEmbedding],
    *,
    centres: Mapping[str, np.ndarray | None] | None = None,
    notify: Notify | None = None,
) -> tuple[list[int], np.ndarray]:
    """(positions in `candidates` that were scored, their scores), higher = more similar.

    Candidates without the extras the similarity reads, or with extras laid out otherwise
    than the target's, are left out and named through `notify`; a target without them is
    a `SimilarityError`. `centres` (kind -> centre) are for the similarities that take them.
    """
    sim = get_similarity(similarity)
    if not candidates:
        return [], np.zeros(0)
    t = extras_of(target, sim.reads)
    if t is None:
        raise SimilarityError(
            f"{sim.name}: the target {target.name!r} has no {sim.reads_words}; "
            f"{how_to_get(sim, target, one=True)}"
        )
    kept, lacking, got = [], [], []
    for i, c in enumerate(candidates):
        x = extras_of(c, sim.reads)
        if x is None or (sim.fits is not None and not sim.fits(t, x)):
            lacking.append(c)
        else:
            kept.append(i)
            got.append(x)
    if lacking and notify is not None:
        notify(
            f"{sim.name}: left out {plural(len(lacking), 'candidate')} without "
            f"{sim.reads_words} ({shown_names(lacking)}); {how_to_get(sim, lacking[0])}"
        )
    if not kept:
        return [], np.zeros(0)
    chosen = [candidates[i] for i in kept]
    positions, values = sim.score_embeddings(target, chosen, t, got, centres=centres, notify=notify)
    return [kept[p] for p in positions], np.asarray(values, dtype=np.float64)


def extras_of(e: TaskEmbedding, reads: Sequence[str]) -> list | None:
    """The extras `reads` of an embedding as arrays, or None when one is missing."""
    got = [e.extras.get(n) for n in reads]
    return None if any(g is None for g in got) else [np.asarray(g) for g in got]


def how_to_get(sim: Similarity, e: TaskEmbedding, one: bool = False) -> str:
    """What to do so that `e` (and those like it) get what `sim` reads."""
    made_by = MADE_BY.get(sim.reads[0], ()) if sim.reads else ()
    method = (e.meta.get("space") or {}).get("method")
    if method is not None and made_by and method not in made_by:
        return (
            f"{sim.name} needs embeddings of method {' or '.join(made_by)}; this space uses "
            f"{method}: pick another --similarity"
        )
    it, them = ("it", "it") if one else ("they", "them")
    return (
        f"{it} {'was' if one else 'were'} stored before fute kept it (or made without it): "
        f"embed {them} again with this fute (`fute embed ...` replaces the stored row)"
    )


def shown_names(embeddings: Sequence[TaskEmbedding]) -> str:
    """The first few names of `embeddings`, for a one-line note."""
    shown = ", ".join(repr(e.name) for e in embeddings[:_SHOWN])
    more = len(embeddings) - _SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"
