"""Named similarities between task embeddings, as pure functions on arrays.

Ranking asks one question: how close is each candidate to the target? Plain cosine is one
answer; this module holds the others issue 12 measures, under one registry so that ranking,
the CLI and the benchmarks can pick one by name::

    sim = get_similarity("centred-cosine")
    sim(a, b, centre=c)                      # one pair -> float
    sim.scores(target, candidates, centre=c)  # (n,) scores, one per candidate row

Every similarity is oriented so that **higher means more similar**. The batched form takes
the candidates as one matrix (one row per candidate) and works through it in blocks of
rows, so ranking 100k candidates is a few matrix products for the cosine-like ones and
never holds more than a block's copy in memory. A candidate's score never depends on the
other candidates, except for `rrf-components`, which is a rank fusion over the candidate
set and therefore has only the batched form.

Formulas and sources (docs/similarity.md says when to use which):

* ``cosine``: ``a.b / (|a| |b|)``; a zero vector scores 0.
* ``centred-cosine``: ``cos(a/|a| - c_a, b/|b| - c_b)`` with fixed centres (see
  `reference_centre`); the usual remedy for a cone-shaped embedding space, where what all
  vectors share dominates every cosine.
* ``task2vec``: for non-negative (Fisher) vectors, ``cos(a/(a+b), b/(a+b))`` coordinate-wise
  (Achille et al., ICCV 2019, "Task2Vec"; their released code calls it the cosine
  distance on the "scaled Hessian").
* ``rrf-components``: cosine per component (a layer's block of coordinates), candidates
  ranked per component and fused by reciprocal rank (Cormack, Clarke and Buettcher,
  SIGIR 2009), as TaskEmb (Vu et al., EMNLP 2020) ranks per component and fuses.
* ``maxsim``: for position-by-dimension matrices, the mean over one side's positions of the
  best cosine with any position of the other (Khattab and Zaharia, SIGIR 2020, ColBERT's
  late interaction; used for prefix embeddings by Lin et al. 2024 as cited in issue 12).
* ``behaviour``: for two answer matrices on the same pool (items x labels), the mean over
  shared label names of the Pearson correlation of that label's probability across items.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from fute.core.errors import FuteError
from fute.core.examples import normalise_label

__all__ = [
    "SIMILARITIES",
    "Similarity",
    "SimilarityError",
    "behaviour",
    "get_similarity",
    "reference_centre",
]

#: elements of a candidate block copied at once (float64: 32 MiB)
_BLOCK_ELEMENTS = 1 << 22


class SimilarityError(FuteError):
    """A similarity was asked for by an unknown name, or given arrays it cannot compare."""


# ---------------------------------------------------------------------------------------
# validation and shared helpers


def _numbers(x, what: str, dtype=np.float64) -> np.ndarray:
    """`x` as a numeric array, or a one-line error (ragged lists, text, None)."""
    try:
        m = np.asarray(x, dtype=dtype)
    except (TypeError, ValueError):
        raise SimilarityError(
            f"{what} must be a regular array of numbers (rows of equal length, no text)"
        ) from None
    if not (np.issubdtype(m.dtype, np.number) or m.dtype == bool):
        raise SimilarityError(f"{what} must be numbers, got values of type {m.dtype}")
    return m


def _vector(x, what: str) -> np.ndarray:
    v = _numbers(x, what)
    if v.ndim != 1 or v.size == 0:
        raise SimilarityError(f"{what} must be a non-empty 1-D vector, got shape {v.shape}")
    if not np.isfinite(v).all():
        raise SimilarityError(f"{what} has NaN or infinite coordinates; recompute it")
    return v


def _rows(x, dim: int, what: str) -> np.ndarray:
    """Candidates as an (n, dim) array (not copied when it already is one)."""
    m = _numbers(x, what, dtype=None)
    if m.ndim == 1 and m.size == dim:
        m = m[None, :]
    if m.ndim != 2 or m.shape[1] != dim:
        raise SimilarityError(
            f"{what} must be an (n, {dim}) matrix, one row per candidate with the target's "
            f"{dim} coordinates, got shape {m.shape}"
        )
    return m


def _blocks(n: int, row_size: int):
    """Slices over n rows, each block holding about `_BLOCK_ELEMENTS` numbers."""
    step = max(1, _BLOCK_ELEMENTS // max(1, row_size))
    for start in range(0, n, step):
        yield slice(start, min(n, start + step))


def _unit(m: np.ndarray) -> np.ndarray:
    """Rows (last axis) scaled to unit length; zero rows stay zero."""
    norms = np.linalg.norm(m, axis=-1, keepdims=True)
    return np.divide(m, norms, out=np.zeros_like(m), where=norms > 0)


def _block(m: np.ndarray, s: slice) -> np.ndarray:
    """Rows `s` of the candidates as floats: float32 stays float32 (no copy), else float64."""
    b = m[s]
    return b if b.dtype in (np.float32, np.float64) else b.astype(np.float64)


def _row_norms(b: np.ndarray, what: str) -> np.ndarray:
    """Row lengths, summed in float64; refuses NaN or infinite coordinates."""
    norms = np.sqrt(np.einsum("...j,...j->...", b, b, dtype=np.float64))
    if not np.isfinite(norms).all():
        raise SimilarityError(f"{what} have NaN or infinite coordinates; recompute them")
    return norms


def _row_cosines(rows: np.ndarray, v: np.ndarray, what: str = "candidates") -> np.ndarray:
    """Cosine of each row of `rows` with `v` (0 where either is zero), in `rows`' precision."""
    num = (rows @ v.astype(rows.dtype, copy=False)).astype(np.float64)
    den = _row_norms(rows, what) * np.linalg.norm(v)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def _unit_rows(b: np.ndarray, what: str = "candidates") -> np.ndarray:
    """Rows of a candidate block scaled to unit length (zero rows stay zero), checked finite."""
    norms = _row_norms(b, what)[..., None].astype(b.dtype)
    return np.divide(b, norms, out=np.zeros_like(b), where=norms > 0)


# ---------------------------------------------------------------------------------------
# cosine-like similarities (batched form; the pair form is the batch of one)


def _cosine_scores(target, candidates) -> np.ndarray:
    t = _vector(target, "target")
    c = _rows(candidates, t.size, "candidates")
    out = np.empty(len(c))
    for s in _blocks(len(c), t.size):
        out[s] = _row_cosines(_block(c, s), t)
    return np.clip(out, -1.0, 1.0)


def reference_centre(vectors) -> np.ndarray:
    """The centre for `centred-cosine`: the mean of the reference vectors scaled to unit length.

    ``c = (1/m) sum_i v_i / |v_i|``. Compute it once per space (and kind) from a *fixed*
    reference set, for example the catalogue's data-set embeddings or the pool models'
    embeddings, and keep it with the space. Then the score of a pair depends on the pair
    and the centre only: storing or deleting an unrelated vector cannot change it, which
    "the mean of whatever is in the store" would. Rows are scaled to unit length first
    because cosine ignores norms and embedding norms differ by orders of magnitude
    between tasks; otherwise the largest vector would be the centre. At least two
    reference vectors are needed: centring on one vector maps that vector to zero.
    """
    m = _numbers(vectors, "reference vectors")
    if m.ndim != 2 or m.shape[0] < 2 or m.shape[1] == 0:
        raise SimilarityError(
            "reference vectors must be an (m, dim) matrix with at least 2 rows, "
            f"got shape {m.shape}; a centre from one vector would cancel that vector"
        )
    if not np.isfinite(m).all():
        raise SimilarityError("reference vectors have NaN or infinite coordinates")
    if (np.linalg.norm(m, axis=1) == 0).any():
        raise SimilarityError("reference vectors include a zero vector, which has no direction")
    return _unit(m).mean(axis=0)


def _centred_scores(target, candidates, *, centre, candidate_centre=None) -> np.ndarray:
    t = _vector(target, "target")
    ct = _vector(centre, "centre")
    cc = ct if candidate_centre is None else _vector(candidate_centre, "candidate_centre")
    if ct.size != t.size or cc.size != t.size:
        raise SimilarityError(
            f"centres have {ct.size} and {cc.size} coordinates but the target has {t.size}; "
            "use the centre computed in the target's space (reference_centre)"
        )
    c = _rows(candidates, t.size, "candidates")
    tc = _unit(t) - ct
    # with u = b/|b| (0 for b = 0): (u - cc).tc = u.tc - cc.tc and
    # |u - cc|^2 = |u|^2 - 2 u.cc + |cc|^2, so a block costs one product, no centred copy;
    # |u - cc| >= 1 - |cc| > 0 unless all reference vectors point the same way
    cc_tc, cc_cc = float(cc @ tc), float(cc @ cc)
    out = np.empty(len(c))
    for s in _blocks(len(c), t.size):
        b = _block(c, s)
        norms = _row_norms(b, "candidates")
        inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        dots = (b @ np.stack([tc, cc], axis=1).astype(b.dtype)).astype(np.float64)
        u_tc, u_cc = dots[:, 0] * inv, dots[:, 1] * inv
        sq = np.maximum((norms > 0) - 2 * u_cc + cc_cc, 0.0)
        den = np.sqrt(sq) * np.linalg.norm(tc)
        out[s] = np.divide(u_tc - cc_tc, den, out=np.zeros_like(den), where=den > 0)
    return np.clip(out, -1.0, 1.0)


def _non_negative(v: np.ndarray, what: str) -> np.ndarray:
    if (v < 0).any():
        raise SimilarityError(
            f"{what} has negative coordinates; task2vec compares non-negative Fisher "
            "information (diagonal or per-layer means), not a signed projection of it"
        )
    return v


def _task2vec_scores(target, candidates) -> np.ndarray:
    t = _non_negative(_vector(target, "target"), "target")
    c = _rows(candidates, t.size, "candidates")
    out = np.empty(len(c))
    for s in _blocks(len(c), t.size):
        b = _block(c, s).astype(np.float64, copy=False)
        _row_norms(b, "candidates")
        _non_negative(b, "candidates")
        total = b + t
        # where both are 0 the coordinate says nothing: 0 on both sides (exact, no eps)
        u = np.divide(np.broadcast_to(t, b.shape), total, out=np.zeros_like(b), where=total > 0)
        v = np.divide(b, total, out=np.zeros_like(b), where=total > 0)
        num = (u * v).sum(axis=1)
        den = np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1)
        out[s] = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    return np.clip(out, 0.0, 1.0)


# ---------------------------------------------------------------------------------------
# per-component reciprocal-rank fusion


def _component_slices(components, dim: int) -> list[slice]:
    items = list(components.values()) if isinstance(components, Mapping) else list(components)
    if not items:
        raise SimilarityError("components is empty: give at least one (start, stop) block")
    slices, covered = [], np.zeros(dim, dtype=bool)
    for item in items:
        try:
            start, stop = (int(x) for x in item)
        except (TypeError, ValueError):
            raise SimilarityError(
                f"component {item!r} is not a (start, stop) pair of coordinate indices"
            ) from None
        if not 0 <= start < stop <= dim:
            raise SimilarityError(
                f"component ({start}, {stop}) is not a block of the {dim} coordinates; "
                "need 0 <= start < stop <= dim"
            )
        if covered[start:stop].any():
            raise SimilarityError(f"component ({start}, {stop}) overlaps another component")
        covered[start:stop] = True
        slices.append(slice(start, stop))
    return slices


def _rrf_component_scores(target, candidates, *, components, k: float = 60.0) -> np.ndarray:
    # imported here: fute.evaluation loads scipy.stats (a second), and the CLI lists this
    # registry's names at start-up
    from fute.evaluation.priors import reciprocal_rank_fusion

    t = _vector(target, "target")
    c = _rows(candidates, t.size, "candidates")
    per_component = [_cosine_scores(t[s], c[:, s]) for s in _component_slices(components, t.size)]
    return reciprocal_rank_fusion(per_component, k=k)


# ---------------------------------------------------------------------------------------
# MaxSim over positions


def _positions(x, dim: int | None, what: str) -> np.ndarray:
    m = _numbers(x, what)
    if dim is not None and m.ndim == 1:
        if dim < 1 or m.size % dim:
            raise SimilarityError(
                f"{what} has {m.size} coordinates, not a whole number of positions of dim={dim}"
            )
        m = m.reshape(-1, dim)
    if m.ndim != 2 or 0 in m.shape:
        raise SimilarityError(
            f"{what} must be a (positions, dim) matrix (or a flat vector with dim=...), "
            f"got shape {m.shape}"
        )
    if not np.isfinite(m).all():
        raise SimilarityError(f"{what} has NaN or infinite coordinates; recompute it")
    return m


def _maxsim_block(t: np.ndarray, c: np.ndarray, symmetric: bool) -> np.ndarray:
    """MaxSim of unit target rows (m, d) with unit candidate blocks (n, m', d)."""
    sims = np.einsum("id,njd->nij", t, c)  # (candidates, target positions, theirs)
    forward = sims.max(axis=2).mean(axis=1)
    return (forward + sims.max(axis=1).mean(axis=1)) / 2 if symmetric else forward


def _maxsim_scores(
    target, candidates, *, dim: int | None = None, symmetric: bool = True
) -> np.ndarray:
    """Candidates: a (n, positions, dim) array, a sequence of (positions_j, dim) matrices,
    or with `dim` an (n, positions * dim) matrix of flattened ones. `symmetric=False`
    gives the one-way ColBERT score, the mean over the target's positions only."""
    t = _unit(_positions(target, dim, "target"))
    d = t.shape[1]
    c = candidates
    if isinstance(c, np.ndarray) and c.ndim == 2 and dim is not None and c.shape[1] % dim == 0:
        c = c.reshape(len(c), -1, dim)
    if isinstance(c, np.ndarray) and c.ndim == 3 and c.shape[1] > 0 and c.shape[2] == d:
        out = np.empty(len(c))
        for s in _blocks(len(c), c.shape[1] * d):
            out[s] = _maxsim_block(t, _unit_rows(_block(c, s)), symmetric)
        return np.clip(out, -1.0, 1.0)
    out = np.empty(len(c))
    for j, cand in enumerate(c):
        m = _unit(_positions(cand, dim, f"candidate {j}"))
        if m.shape[1] != d:
            raise SimilarityError(
                f"candidate {j} has positions of dim {m.shape[1]}, the target's have {d}"
            )
        out[j] = _maxsim_block(t, m[None], symmetric)[0]
    return np.clip(out, -1.0, 1.0)


# ---------------------------------------------------------------------------------------
# behaviour: answers on a shared pool


def _answers(x, labels, what: str) -> tuple[np.ndarray, list[str]]:
    m = _numbers(x, what)
    names = [normalise_label(n) for n in labels]
    if m.ndim != 2 or m.shape[1] != len(names):
        raise SimilarityError(
            f"{what} must be a (pool items, labels) matrix with one column per label name "
            f"{names}, got shape {m.shape}"
        )
    if m.shape[0] < 2:
        raise SimilarityError(f"{what} needs answers on at least 2 pool items to correlate")
    if len(set(names)) != len(names):
        raise SimilarityError(f"{what}: label names {names} repeat after normalisation")
    if not np.isfinite(m).all():
        raise SimilarityError(f"{what} has NaN or infinite probabilities")
    return m, names


def _correlations(x, xn, y, yn, min_std: float) -> float:
    """Mean Pearson correlation over the shared labels; NaN when none is shared."""
    if x.shape[0] != y.shape[0]:
        raise SimilarityError(
            f"answers cover {x.shape[0]} and {y.shape[0]} pool items; "
            "both models must answer the same pool"
        )
    shared = [name for name in xn if name in yn]
    if not shared:
        return float("nan")
    corrs = []
    for name in shared:
        u, v = x[:, xn.index(name)], y[:, yn.index(name)]
        su, sv = u.std(), v.std()
        if su <= min_std or sv <= min_std:
            corrs.append(0.0)
        else:
            corrs.append(((u - u.mean()) * (v - v.mean())).mean() / (su * sv))
    return float(np.clip(np.mean(corrs), -1.0, 1.0))


def behaviour(
    a, b, *, labels: Sequence[str], candidate_labels: Sequence[str], min_std: float = 1e-6
) -> float:
    """Agreement of two models' answers on one pool: ``mean_l corr(a[:, l], b[:, l])``.

    `a` and `b` are (pool items x labels) probability matrices on the *same* pool items in
    the same order; `labels` and `candidate_labels` name their columns. The mean runs over
    the label names the two share (normalised, no merges), and each term is the Pearson
    correlation across pool items of that label's probability. A label whose probability
    has standard deviation at most `min_std` on either side contributes 0: a model that
    answers the same on every item says nothing about which items carry the label, so a
    constant model scores 0, and float noise on a constant cannot make it score high. The
    result lies in [-1, 1]; -1 means the two models swap the label's items. No shared
    label raises `SimilarityError` (the batched form can give NaN instead).
    """
    x, xn = _answers(a, labels, "target answers")
    y, yn = _answers(b, candidate_labels, "candidate answers")
    score = _correlations(x, xn, y, yn, min_std)
    if np.isnan(score):
        raise SimilarityError(
            f"the answers share no label name ({xn} vs {yn}); behaviour compares the same labels"
        )
    return score


def _behaviour_scores(
    target,
    candidates,
    *,
    labels: Sequence[str],
    candidate_labels,
    min_std: float = 1e-6,
    on_disjoint: Literal["raise", "nan"] = "raise",
) -> np.ndarray:
    if on_disjoint not in ("raise", "nan"):
        raise SimilarityError(f"on_disjoint must be 'raise' or 'nan', got {on_disjoint!r}")
    if len(candidate_labels) and isinstance(candidate_labels[0], str):
        candidate_labels = [candidate_labels] * len(candidates)  # one label list for all
    if len(candidate_labels) != len(candidates):
        raise SimilarityError(
            f"{len(candidates)} candidates but {len(candidate_labels)} label lists; "
            "give one list of label names per candidate, or one list shared by all"
        )
    x, xn = _answers(target, labels, "target answers")
    out = np.empty(len(candidates))
    for j, (cand, names) in enumerate(zip(candidates, candidate_labels, strict=True)):
        y, yn = _answers(cand, names, f"candidate {j} answers")
        out[j] = _correlations(x, xn, y, yn, min_std)
        if np.isnan(out[j]) and on_disjoint == "raise":
            raise SimilarityError(
                f"candidate {j} shares no label name with the target ({yn} vs {xn}); "
                "pass on_disjoint='nan' to score it NaN instead"
            )
    return out


# ---------------------------------------------------------------------------------------
# the registry


@dataclass(frozen=True)
class Similarity:
    """A named similarity: call it on one pair, or `.scores` on a target and its candidates.

    `formula` and `source` are one line each, for `--help` and reports; `options` lists the
    keyword arguments it takes (`required`: those without a default). `pairwise` is False
    for a score defined only over a candidate set (rank fusion).
    """

    name: str
    formula: str
    source: str
    batch: Callable[..., np.ndarray]
    pair: Callable[..., float] | None = None
    pairwise: bool = True

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
        return float(self.batch(a, _numbers(b, "b", dtype=None)[None], **options)[0])


SIMILARITIES: dict[str, Similarity] = {
    s.name: s
    for s in (
        Similarity(
            "cosine",
            "a.b / (|a| |b|)",
            "the FUTE paper's similarity (Wang et al., Findings of ACL 2024)",
            _cosine_scores,
        ),
        Similarity(
            "centred-cosine",
            "cos(a/|a| - c_a, b/|b| - c_b), centres from a fixed reference set",
            "mean-centring against anisotropy (e.g. Mu and Viswanath, ICLR 2018)",
            _centred_scores,
        ),
        Similarity(
            "task2vec",
            "cos(a/(a+b), b/(a+b)) coordinate-wise, a, b >= 0",
            "Achille et al., ICCV 2019 (Task2Vec), task_similarity.py of aws-cv-task2vec",
            _task2vec_scores,
        ),
        Similarity(
            "rrf-components",
            "sum_c 1/(k + rank_c(b)), rank_c by cosine on component c",
            "Cormack et al., SIGIR 2009 (RRF); per-component ranks as in Vu et al., EMNLP 2020",
            _rrf_component_scores,
            pairwise=False,
        ),
        Similarity(
            "maxsim",
            "mean_i max_j cos(a_i, b_j) over positions (symmetrised by default)",
            "Khattab and Zaharia, SIGIR 2020 (ColBERT); prefixes: Lin et al. 2024",
            _maxsim_scores,
        ),
        Similarity(
            "behaviour",
            "mean over shared labels l of corr_items(p_a(l), p_b(l))",
            "this project (issue 12): answers of both sides on the space's pool",
            _behaviour_scores,
            pair=behaviour,
        ),
    )
}


def get_similarity(name: str) -> Similarity:
    """The similarity registered as `name` (raises `SimilarityError` listing the known names)."""
    try:
        return SIMILARITIES[name]
    except (KeyError, TypeError):
        known = ", ".join(SIMILARITIES)
        raise SimilarityError(f"unknown similarity {name!r}; choose one of: {known}") from None
