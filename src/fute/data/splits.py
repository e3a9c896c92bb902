"""Deterministic train / dev / test splits for sources that ship without them.

Rows with the same input go to the same split (grouped by input text), so a duplicated
sentence never sits in both train and test. The split depends only on the rows and the
seed, never on the machine or the order the rows were read in.
"""

from __future__ import annotations

import hashlib

import numpy as np

SPLIT_SEED = 0
FRACTIONS = {"train": 0.8, "dev": 0.1, "test": 0.1}


def split_indices(
    keys: list[str], seed: int = SPLIT_SEED, fractions: dict[str, float] = FRACTIONS
) -> dict[str, list[int]]:
    """Map each split name to sorted row indices. `keys` identify rows (the input text)."""
    groups = sorted({_digest(k) for k in keys})
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(groups))
    bounds = np.cumsum([0.0, *fractions.values()]) * len(groups)
    rank = {groups[g]: pos for pos, g in enumerate(order)}
    names = list(fractions)
    out: dict[str, list[int]] = {n: [] for n in names}
    for i, k in enumerate(keys):
        pos = rank[_digest(k)]
        j = int(np.searchsorted(bounds, pos, side="right")) - 1
        out[names[min(j, len(names) - 1)]].append(i)
    return out


def _digest(key: str) -> str:
    return hashlib.sha1(key.encode("utf-8")).hexdigest()
