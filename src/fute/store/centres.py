"""The centres of `centred-cosine` that a store keeps: one per space and kind.

The centre of a kind in a space is the mean of the unit vectors of every stored embedding of
that kind in the space (zero vectors left out; fewer than two: no centre). The store keeps it
up to date **when it writes**: every transaction that adds, replaces or deletes embeddings
refreshes the centres of the (space, kind) pairs it touched, in the same transaction, so a
centre always matches the rows stored with it and reading never writes. A refresh adds and
subtracts the unit vectors that changed (`CentreChange`); the whole mean is recomputed from
the rows where that cannot be trusted: no centre yet, one made by an older fute (other
`RULE`), a row count that differs from the one the centre recorded (an older fute wrote
meanwhile), or a replaced or deleted vector that cannot be read. `fute store centre --reset`
(`Store.remake_centres`) recomputes them all.

This module holds the arithmetic; the SQL is `fute.store.sqlite`'s.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

#: what `meta["rule"]` says of a centre this fute keeps up to date
RULE = "mean of the unit vectors of every embedding of its kind in the space, kept at each write"


def unit(vector) -> np.ndarray | None:
    """The vector scaled to length 1 (float64, flat); None for a zero or non-finite one."""
    v = np.asarray(vector, dtype=np.float64).ravel()
    norm = np.linalg.norm(v)
    return None if norm == 0 or not np.isfinite(norm) else v / norm


@dataclass
class CentreChange:
    """What one write transaction did to the embeddings of one (space, kind)."""

    rows: int = 0  # rows added minus rows deleted
    total: np.ndarray | None = None  # sum of the unit vectors added minus those removed
    n: int = 0  # non-zero vectors added minus removed
    unknown: bool = False  # a removed vector could not be read: recompute from the rows

    def add(self, vector, sign: int = 1) -> None:
        """Count a vector written (`sign` 1) or removed (-1)."""
        u = unit(vector)
        if u is None:
            return
        if self.total is not None and self.total.shape != u.shape:
            self.unknown = True  # vectors of two sizes: let the recompute say what it can
            return
        self.total = sign * u if self.total is None else self.total + sign * u
        self.n += sign

    def applied(
        self, mean: np.ndarray | None, meta: dict, rows_now: int
    ) -> tuple[np.ndarray, int] | None:
        """(sum of unit vectors, how many) after this change, from the centre kept before
        (`mean`, `meta`); None where only a recompute from the rows can be trusted."""
        if self.unknown or meta.get("rule") != RULE or meta.get("rows") != rows_now - self.rows:
            return None
        n_before = int(meta.get("n", 0))
        if mean is None or n_before < 2:
            return None  # no centre before (fewer than 2): the rows are few, read them
        total = mean * n_before
        if self.total is not None:
            if self.total.shape != total.shape:
                return None
            total = total + self.total
        return total, n_before + self.n


def unit_mean(vectors: Iterable[np.ndarray]) -> tuple[np.ndarray | None, int]:
    """The mean of the non-zero vectors scaled to unit length (float64), and how many
    (None, 0 for none, or for vectors of different sizes)."""
    change = CentreChange()
    for v in vectors:
        change.add(v)
    if change.total is None or change.unknown:
        return None, 0
    return change.total / change.n, change.n


def provenance(kind: str, n: int, rows: int) -> dict:
    """What a kept centre records: the rule, how many vectors it averages and how many rows
    of its kind the space held (every one of them, damaged ones left out), when and by
    which fute."""
    from fute._version import __version__

    return {
        "rule": RULE,
        "kind": kind,
        "n": n,
        "rows": rows,
        "made": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "fute": __version__,
    }
