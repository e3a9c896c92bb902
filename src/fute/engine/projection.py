"""A seeded sparse random projection for vectors with millions of entries.

A dense Gaussian map from MiniLM's 11M Fisher entries to 4096 dimensions would hold 45
billion numbers; it cannot even be stored. A sparse sign projection (a count sketch with
`hashes` buckets per input coordinate) needs none: input coordinate j is added, with a
random sign and weight 1/sqrt(hashes), into `hashes` output buckets drawn from the seed.
Inner products are preserved in expectation and with variance ~1/dim; the buckets are
regenerated chunk by chunk from the seed, so memory stays O(chunk + dim) and the map is the
same on every machine (numpy's PCG64 stream is stable).

How well it keeps the *ranking* of cosine similarities between real task embeddings is
measured in benchmarks/projection.py.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict

import numpy as np

from fute.core.errors import FuteError

_CHUNK = 1 << 20
# Drawing the buckets and signs is most of a projection's time (~0.25 s per 11M entries on
# one core, against ~0.05 s for the sums), and one space projects every embedding with the
# same maps: keep the drawn tables of recent maps, up to this many MB (FUTE_PROJECTION_CACHE_MB;
# 0 turns it off). Results are the same bits either way: the tables are the seed's.
_CACHE_MB = 512
_TABLES: OrderedDict[tuple, tuple[np.ndarray, np.ndarray]] = OrderedDict()


class SparseProjection:
    """y = P x with P (dim x n) sparse: `hashes` entries of +-1/sqrt(hashes) per column."""

    def __init__(self, n: int, dim: int = 4096, seed: int = 0, hashes: int = 4) -> None:
        if n <= 0 or dim <= 0 or hashes <= 0:
            raise FuteError(
                f"projection needs positive sizes, got n={n}, dim={dim}, hashes={hashes}"
            )
        self.n, self.dim, self.seed, self.hashes = int(n), int(dim), int(seed), int(hashes)

    def _chunk_seed(self, start: int) -> int:
        tag = f"fute-projection:{self.seed}:{self.n}:{self.dim}:{self.hashes}:{start}"
        return int.from_bytes(hashlib.sha256(tag.encode()).digest()[:8], "little")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Project one vector of length n (any float dtype) to float32 of length dim."""
        x = np.asarray(x).reshape(-1)
        if x.size != self.n:
            raise FuteError(f"projection expects vectors of length {self.n}, got {x.size}")
        out = np.zeros(self.dim, dtype=np.float64)
        scale = 1.0 / np.sqrt(self.hashes)
        for start in range(0, self.n, _CHUNK):
            part = x[start : start + _CHUNK].astype(np.float64)
            buckets, signs = self._tables(start, part.size)
            for h in range(self.hashes):
                out += np.bincount(buckets[h], weights=part * signs[h] * scale, minlength=self.dim)
        return out.astype(np.float32)

    def _tables(self, start: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Output bucket and sign (+-1, int8) of each hash for coordinates start..start+size."""
        key = (self.n, self.dim, self.seed, self.hashes, start)
        found = _TABLES.get(key)
        if found is not None:
            _TABLES.move_to_end(key)
            return found
        rng = np.random.default_rng(self._chunk_seed(start))
        buckets = rng.integers(0, self.dim, size=(self.hashes, size))
        signs = (rng.integers(0, 2, size=(self.hashes, size)) * 2 - 1).astype(np.int8)
        small = buckets.astype(np.int16 if self.dim <= np.iinfo(np.int16).max else np.int32)
        limit = float(os.environ.get("FUTE_PROJECTION_CACHE_MB", _CACHE_MB)) * (1 << 20)
        if small.nbytes + signs.nbytes <= limit:
            _TABLES[key] = (small, signs)
            while sum(b.nbytes + s.nbytes for b, s in _TABLES.values()) > limit:
                _TABLES.popitem(last=False)
        return buckets, signs

    def describe(self) -> dict:
        return {
            "kind": "sparse-sign",
            "n": self.n,
            "dim": self.dim,
            "hashes": self.hashes,
            "seed": self.seed,
        }
