"""`fute recommend`: the ranking a user acts on, with the evidence behind each place.

    import fute
    rec = fute.recommend("sentiment-imdb", kind="prompt")   # the default store, read-only
    rec.candidates[0].name, rec.caution
    rec.to_dict(top=5)                                      # what `--json` prints

For one data set (a stored DTE) and the candidates of one kind in its space (prompts, models
or source data sets), a `Recommendation` holds, per candidate:

* every **signal** the embeddings carry: each similarity of `fute.ranking.similarity.SIMILARITIES`
  whose extras the target and the candidate have (`cosine`, `centred-cosine`, `task2vec`,
  `rrf-components`, `maxsim`, `behaviour`), and for prompts and models the zero-call
  **priors** from the candidate's own answers on the pool (`pool-mi`: mutual information,
  `pool-cbm-mi`: CBM-calibrated MI; `fute.evaluation.priors`); each with its score and its
  rank among the candidates (1 = best; ties share the mean rank);
* the **order**: by `DEFAULT["similarity"]` alone (the pre-registered default: cosine, no
  prior), or, with `DEFAULT["fusion"] = "rrf"`, that similarity and `DEFAULT["prior"]` fused
  by reciprocal rank (k = `DEFAULT["k"]`) where the candidates have pool answers;
* whether the signals **agree**: the candidate's ranks by every signal (their range), and
  per signal Kendall's tau-b between its order and the fused order;
* a **caution** when the top candidates are within noise of each other (`NOISE_GAP`,
  docs/similarity.md "Recommendations").

`DEFAULT` is the one place that says which similarity, prior and fusion make the order.

`fute.recommend` (the package face) is this module's `recommend` function.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from fute.core.embedding import TaskEmbedding, check_same_space
from fute.core.errors import FuteError
from fute.core.kinds import KINDS, Kind
from fute.ranking.similarity import SIMILARITIES

#: The order of `fute recommend` and `fute.recommend`: the selection benchmarks' pre-registered default
#: (benchmarks/preregistered.json), chosen on 2026-12-02 on the development benchmarks by
#: the rule written there before they ran: plain cosine in a pool-anchored fisher space
#: (row "fute-fisher+anchor"), no prior, no fusion. `method` and `pool_anchor` name the
#: space it was chosen for; in another space the order is still by `similarity`, and the
#: output says that space is not the one measured. Change it only by a new pre-registration.
DEFAULT = {
    "similarity": "cosine",
    "prior": None,
    "fusion": None,
    "k": 60,
    "method": "fisher",
    "pool_anchor": True,
    "chosen": "fute-fisher+anchor (benchmarks/preregistered.json, 2026-12-02)",
    "provisional": False,
}

#: zero-call priors from a candidate's own pool answers (prompts and models only)
PRIORS = {
    "pool-mi": "mutual information of the candidate's answers on the pool (Sorensen et al. 2022)",
    "pool-cbm-mi": "MI of the CBM-calibrated pool answers (Yang et al., TACL 2024)",
}

#: short column names of the terminal table: each similarity's `short`, and the priors'
SHORT = {
    **{name: sim.short or name for name, sim in SIMILARITIES.items()},
    "pool-mi": "mi",
    "pool-cbm-mi": "cmi",
}

#: Two candidates are within noise of each other when, across the signals that score both,
#: the median of (score of the better - score of the other) / (that signal's standard
#: deviation over all candidates) is below this: less than a quarter of the typical spread.
NOISE_GAP = 0.25
#: the top places compared with #1 for the caution
CAUTION_DEPTH = 3
#: kinds tried, in order, when no kind is asked for
KIND_ORDER = (Kind.PROMPTED_LM, Kind.MODEL, Kind.DATASET)

Notify = Callable[[str], None]


@dataclass
class Signal:
    """One score list over the candidates: a similarity or a prior."""

    name: str
    type: str  # "similarity" or "prior"
    scores: dict[int, float]  # candidate position -> score (only the candidates it scores)
    ranks: dict[int, float] = field(default_factory=dict)
    kendall: float | None = None  # with the fused order
    in_fusion: bool = False

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "type": self.type,
            "candidates": len(self.scores),
            "in_fusion": self.in_fusion,
            "kendall_with_fused": self.kendall,
        }


@dataclass
class Candidate:
    """One candidate of a recommendation, at its fused place (`rank`, 1 = best)."""

    rank: int
    embedding: TaskEmbedding
    fused: float | None  # the score the order sorts by (None: not scored by it)
    signals: dict[str, tuple[float, float]]  # name -> (score, rank)

    @property
    def name(self) -> str:
        return self.embedding.name

    @property
    def rank_range(self) -> tuple[float, float] | None:
        ranks = [r for _, r in self.signals.values()]
        return (min(ranks), max(ranks)) if ranks else None

    def to_dict(self) -> dict:
        low, high = self.rank_range or (None, None)
        return {
            "rank": self.rank,
            "name": self.name,
            "kind": self.embedding.kind,
            "id": self.embedding.meta.get("store_id"),
            "fused": self.fused,
            "signals": {n: {"score": s, "rank": _plain(r)} for n, (s, r) in self.signals.items()},
            "rank_range": None if low is None else [_plain(low), _plain(high)],
        }


@dataclass
class Recommendation:
    """The fused ranking of every candidate, its evidence, and a caution (None when the top
    is clear). `candidates` are all ranked; `to_dict(top)` keeps the first `top`."""

    target: TaskEmbedding
    kind: str
    candidates: list[Candidate]
    signals: list[Signal]
    caution: str | None
    noise: dict
    notes: list[str] = field(default_factory=list)
    top: int | None = None  # how many `to_dict` and the table show by default

    def to_dict(self, top: int | None = None) -> dict:
        from fute.space import short_key

        t = self.target
        top = top if top is not None else self.top
        shown = self.candidates if top is None else self.candidates[:top]
        return {
            "target": {"name": t.name, "kind": t.kind, "id": t.meta.get("store_id")},
            "kind": self.kind,
            "space_key": t.space_key,
            "space": short_key(t.space_key),
            "default": {k: v for k, v in DEFAULT.items() if k != "provisional"},
            "default_provisional": bool(DEFAULT["provisional"]),
            "signals": [s.to_dict() for s in self.signals],
            "n_candidates": len(self.candidates),
            "candidates": [c.to_dict() for c in shown],
            "caution": self.caution,
            "noise": self.noise,
            "notes": list(self.notes),
        }


def _plain(rank: float) -> float | int:
    return int(rank) if float(rank).is_integer() else float(rank)


def _ranks(scores: dict[int, float]) -> dict[int, float]:
    from fute.evaluation.priors import descending_ranks

    keys = list(scores)
    # scores equal to 9 significant digits are ties: float32 rounding must not order them
    values = [float(f"{scores[k]:.9g}") for k in keys]
    return dict(zip(keys, descending_ranks(values).tolist(), strict=True))


def _prior_scores(candidates: Sequence[TaskEmbedding]) -> dict[str, dict[int, float]]:
    """Pool MI and CBM-calibrated pool MI of each candidate with pool answers."""
    from fute.core.extras import POOL_ANSWERS
    from fute.evaluation.priors import calibrated_mutual_information, mutual_information

    out: dict[str, dict[int, float]] = {name: {} for name in PRIORS}
    for i, c in enumerate(candidates):
        answers = c.extras.get(POOL_ANSWERS)
        if answers is None or np.ndim(answers) != 2 or np.shape(answers)[1] < 2:
            continue
        p = np.asarray(answers, dtype=np.float64)
        p = p / p.sum(axis=1, keepdims=True)  # float32 storage: rows back to sum 1
        out["pool-mi"][i] = float(mutual_information(p))
        out["pool-cbm-mi"][i] = float(calibrated_mutual_information(p))
    return out


def _similarity_signals(target, candidates, centres, notes: list[str]) -> list[Signal]:
    from fute.ranking.similarity import SimilarityError, scores

    out = []
    for name, sim in SIMILARITIES.items():
        needs = sim.reads
        if needs and not all(n in target.extras for n in needs):
            if any(all(n in c.extras for n in needs) for c in candidates):
                notes.append(
                    f"{name}: the target {target.name!r} has no {', '.join(needs)}; embed it "
                    "again with this fute for this signal"
                )
            continue  # the space's method does not make it, or the target predates it
        heard: list[str] = []
        try:
            kept, values = scores(name, target, candidates, centres=centres, notify=heard.append)
        except SimilarityError as exc:
            notes.append(str(exc).splitlines()[0])
            continue
        notes.extend(heard)
        if len(kept):
            out.append(Signal(name, "similarity", dict(zip(kept, map(float, values), strict=True))))
    return out


def _gap(signals: Sequence[Signal], a: int, b: int) -> tuple[float | None, int]:
    """Median over the signals scoring both of (score a - score b) / the signal's standard
    deviation over all candidates it scores, and how many signals that is."""
    gaps = []
    for s in signals:
        if a in s.scores and b in s.scores and len(s.scores) >= 2:
            spread = float(np.std(list(s.scores.values())))
            diff = s.scores[a] - s.scores[b]
            gaps.append(diff / spread if spread > 0 else 0.0)
    return (float(np.median(gaps)) if gaps else None), len(gaps)


def recommend_among(
    target: TaskEmbedding,
    candidates: Sequence[TaskEmbedding],
    *,
    kind: str | None = None,
    centres: dict | None = None,
    notify: Notify | None = None,
) -> Recommendation:
    """The recommendation for `target` among `candidates` (one space, any extras loaded).

    `centres` (kind -> centre) are for ``centred-cosine`` (the centres a store keeps; None:
    each kind is centred on the embeddings given, as `fute.ranking.rank` does). What a
    signal left out is collected in `notes` (and told to `notify`).
    """
    from fute.evaluation.metrics import kendall

    pool = [c for c in candidates if not (c.kind == target.kind and c.name == target.name)]
    for c in pool:
        check_same_space(target, c)
    notes: list[str] = []
    kind = kind or (pool[0].kind if pool else "candidate")
    if not pool:
        return Recommendation(target, kind, [], [], None, {}, notes)
    if centres is None:
        from fute.ranking.centres import centres_of

        centres = centres_of([target, *pool])
    signals = _similarity_signals(target, pool, centres, notes)
    if kind != Kind.DATASET:
        priors = _prior_scores(pool)
        lacking = len(pool) - len(priors["pool-mi"])
        if lacking:
            notes.append(
                f"{lacking} of {len(pool)} candidates have no answers on the pool, so no prior "
                "(stored before fute kept them: embed them again); they are fused on the "
                "similarity alone"
            )
        signals += [Signal(n, "prior", s) for n, s in priors.items() if s]
    for s in signals:
        s.ranks = _ranks(s.scores)
    fused_by = [s for s in signals if s.name in (DEFAULT["similarity"], DEFAULT["prior"])]
    if not any(s.name == DEFAULT["similarity"] for s in fused_by):
        raise FuteError(
            f"the default similarity {DEFAULT['similarity']!r} scored no candidate of "
            f"{target.name!r}; see `fute rank --similarity`"
        )
    fused = _order_scores(fused_by, len(pool))
    order = sorted(
        range(len(pool)),
        key=lambda i: (np.isnan(fused[i]), -np.nan_to_num(fused[i]), pool[i].name, i),
    )
    space_note = _space_note(target, kind)
    if space_note:
        notes.append(space_note)
    ranked = [
        Candidate(
            place + 1,
            pool[i],
            None if np.isnan(fused[i]) else float(fused[i]),
            {s.name: (s.scores[i], s.ranks[i]) for s in signals if i in s.scores},
        )
        for place, i in enumerate(order)
    ]
    for s in signals:
        shared = [i for i in order if i in s.scores and not np.isnan(fused[i])]
        if len(shared) >= 2:
            tau = kendall([s.scores[i] for i in shared], [fused[i] for i in shared])
            s.kendall = None if not np.isfinite(tau) else round(float(tau), 4)
    caution, noise = _caution(signals, order, pool)
    if notify is not None:
        for n in notes:
            notify(n)
    return Recommendation(target, kind, ranked, signals, caution, noise, notes)


def _order_scores(fused_by: list[Signal], n: int) -> np.ndarray:
    """The score the order sorts by (NaN: not scored, placed last): the reciprocal-rank
    fusion of the default's signals (``fusion="rrf"``; a list without a candidate adds
    nothing), or the default similarity's own score (no fusion)."""
    if DEFAULT["fusion"] == "rrf":
        fused = np.zeros(n)
        for s in fused_by:
            s.in_fusion = True
            for i, r in s.ranks.items():
                fused[i] += 1.0 / (DEFAULT["k"] + r)
        return fused
    sim = next(s for s in fused_by if s.name == DEFAULT["similarity"])
    sim.in_fusion = True
    return np.array([sim.scores.get(i, np.nan) for i in range(n)], dtype=float)


def order_words(kind: str) -> str:
    """What makes the order, in words, for the terminal and the report."""
    sim = DEFAULT["similarity"]
    prior = DEFAULT["prior"] if kind != Kind.DATASET and DEFAULT["fusion"] == "rrf" else None
    fused = f"{sim} + {prior} by reciprocal rank (k={DEFAULT['k']})" if prior else sim
    if DEFAULT["provisional"]:
        return f"{fused}; a provisional default until the pre-registered choice"
    return f"{fused}; the pre-registered default, {DEFAULT['chosen']}"


def _space_note(target: TaskEmbedding, kind: str) -> str | None:
    """A note when prompts or models are ranked in another space than the default's."""
    space = target.meta.get("space") or {}
    method = space.get("method")
    anchored = bool((space.get("hparams") or {}).get("pool_anchor", False))
    if kind == Kind.DATASET or method is None:
        return None  # source data sets: the default was measured on plain DTEs
    if method == DEFAULT["method"] and anchored == DEFAULT["pool_anchor"]:
        return None
    want = DEFAULT["method"] + (" --pool-anchor" if DEFAULT["pool_anchor"] else "")
    have = method + (" --pool-anchor" if anchored else "")
    measured = (
        "where the development benchmark measured it weaker"
        if method in ("fisher", "prefix")
        else "where it was not measured"
    )
    return (
        f"the default order ({DEFAULT['similarity']}) was chosen for {want} spaces; this "
        f"space is {have}, {measured} (docs/similarity.md, Recommendations)"
    )


def _caution(signals, order, pool) -> tuple[str | None, dict]:
    """Which of the top places are within noise of #1 (docs/similarity.md)."""
    noise = {
        "rule": (
            "median over signals of (score of #1 - score of #j) / the signal's standard "
            "deviation over the candidates"
        ),
        "threshold": NOISE_GAP,
        "gaps": [],
    }
    if len(order) < 2:
        return None, noise
    first = order[0]
    close = []
    for place, j in enumerate(order[1:CAUTION_DEPTH], start=2):
        gap, n = _gap(signals, first, j)
        noise["gaps"].append({"rank": place, "name": pool[j].name, "median_gap": gap, "signals": n})
        if gap is not None and gap < NOISE_GAP:
            close.append((place, pool[j].name, gap, n))
    if not close:
        return None, noise
    named = ", ".join(f"#{p} {name!r} ({g:+.2f} over {n} signal{'s' * (n != 1)})"
                      for p, name, g, n in close)  # fmt: skip
    return (
        f"caution: #1 {pool[first].name!r} is within noise of {named}: the median gap is below "
        f"{NOISE_GAP} of a signal's spread, so the order among them is not reliable; try "
        "them on a few labelled examples"
    ), noise


def _open(store):
    from fute.store import Store

    if isinstance(store, Store):
        return store
    return Store(store, readonly=True)


def _target(st, dataset, space_key: str | None) -> TaskEmbedding:
    """The stored DTE named `dataset` (or `#id`), with one-line errors a user can act on."""
    from fute.core.errors import StoreError

    ref: int | str = dataset if isinstance(dataset, int) else str(dataset).strip()
    if not isinstance(ref, int) and not ref:
        raise FuteError("the data set's name is empty; give a stored data set's name or #id")
    if st.count() == 0:
        raise FuteError(
            f"the store {st.path} holds no embeddings; compute some with `fute embed` or "
            "`fute demo`"
        )
    ref = st.resolve(ref)  # `#12` is the id 12, as in `fute rank`; ambiguity is an error
    other = []
    try:
        found = st.get(ref, kind=Kind.DATASET, space_key=space_key, extras=True)
        if found.kind == Kind.DATASET:
            return found
        other = [found]  # an id names one row whatever the kind
    except StoreError as exc:
        if f"{ref!r} names " in str(exc):  # in several spaces: the store says to pass --space
            raise
    if not other and isinstance(ref, str):
        other = st.list(name=ref)
    if other:
        raise FuteError(
            f"{other[0].name!r} is a {other[0].kind} embedding; `fute recommend` ranks "
            "candidates for a data set (use `fute rank` to rank against anything)"
        )
    names = sorted({r.name for r in st.list(kind=Kind.DATASET)})
    known = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
    raise FuteError(
        f"no data set {str(dataset)!r} in {st.path}"
        + (f"; stored data sets: {known}" if names else "; it holds no data sets")
        + " (`fute store list --kind dataset`)"
    )


def _kind(st, target: TaskEmbedding, kind: str | None) -> str:
    """The asked kind, or the first of prompts, models, data sets with candidates."""
    from fute.ranking.ranker import no_candidates_message

    def count(k: str) -> int:
        n = st.count(kind=k, space_key=target.space_key)
        return n - 1 if k == target.kind else n

    if kind is not None:
        if count(kind) <= 0:
            raise FuteError(no_candidates_message(target, st.list(kind=kind), kind))
        return kind
    for k in KIND_ORDER:
        if count(k) > 0:
            return k
    raise FuteError(no_candidates_message(target, st.list(), None))


def recommend(
    dataset,
    *,
    kind: str | None = None,
    top: int | None = 10,
    store=None,
    space: str | None = None,
    candidates: Sequence[TaskEmbedding] | None = None,
    notify: Notify | None = None,
) -> Recommendation:
    """Which prompts, models or source data sets fit `dataset`, with the evidence.

    `dataset`: a stored data-set embedding's name or ``#id`` (with `store`: a `Store` or a
    path, default the cache's store, opened read-only), or a `TaskEmbedding` (then
    `candidates` in memory, or the `store`'s rows of its space). `kind`: ``prompt`` /
    ``prompted-lm``, ``model`` or ``dataset``; None takes the first of those with
    candidates in the data set's space. `space` narrows a name held in several spaces.
    `top` is kept for `to_dict`/printing; every candidate is ranked. Read-only: where the
    store keeps no centre of ``centred-cosine``, one is made for this call only.
    """
    if top is not None and top < 1:
        raise FuteError(f"top must be a positive number of candidates, got {top}")
    kind = _kind_word(kind)
    if isinstance(dataset, TaskEmbedding) and candidates is not None:
        chosen = [c for c in candidates if kind is None or c.kind == kind]
        rec = recommend_among(dataset, chosen, kind=kind, notify=notify)
        rec.top = top
        return rec
    if store is None or isinstance(store, str | os.PathLike):
        from fute.core.paths import default_store_path

        store = store if store is not None else default_store_path()
    st = _open(store)
    target = dataset if isinstance(dataset, TaskEmbedding) else _target(st, dataset, space)
    kind = _kind(st, target, kind)
    rows, centres, heard = stored_candidates(st, target.space_key, kind)
    rec = recommend_among(target, rows, kind=kind, centres=centres)
    rec.notes = [*heard, *rec.notes]
    rec.top = top
    if notify is not None:
        for n in rec.notes:
            notify(n)
    return rec


def stored_candidates(st, space_key: str, kind: str) -> tuple[list, dict, list[str]]:
    """The stored `kind` embeddings of a space with every extra a signal reads, the centres
    of ``centred-cosine`` (dataset and `kind`), and notes. Never writes: where the store
    keeps no centre, one is made from the embeddings stored now, for this use only."""
    from fute.ranking.centres import space_centres

    needs = sorted({n for sim in SIMILARITIES.values() for n in sim.reads})
    rows = st.load(kind=kind, space_key=space_key, extras=needs)
    heard: list[str] = []
    centres = space_centres(st, space_key, {Kind.DATASET, kind}, notify=heard.append)
    notes = [f"centred-cosine: {n}" for n in heard if "not centred" not in n]
    return rows, centres, notes


def kind_noun(kind: str) -> str:
    """How a sentence names a kind (``data set``); any other word as it is."""
    return Kind(kind).noun if kind in KINDS else kind


def _kind_word(kind: str | None) -> Kind | None:
    if kind is None:
        return None
    try:
        return Kind.parse(kind)
    except ValueError:
        raise FuteError(f"kind {kind!r}: use one of prompt, model, dataset") from None
