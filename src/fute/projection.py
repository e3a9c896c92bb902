"""A seeded sparse random projection for vectors with millions of entries.

A dense Gaussian map from MiniLM's 11M Fisher entries to 4096 dimensions would hold 45
billion numbers; it cannot even be stored. A sparse sign projection (a count sketch with
`hashes` buckets per input coordinate) needs none: input coordinate j is added, with a
random sign and weight 1/sqrt(hashes), into `hashes` output buckets drawn from the seed.
Inner products are preserved in expectation and with variance ~1/dim; the buckets are
regenerated chunk by chunk from the seed, so memory stays O(chunk + dim) and the map is the
same on every machine (numpy's PCG64 stream is stable).

How well it keeps the *ranking* of cosine similarities between real task embeddings is
measured in benchmarks/bench_projection.py.
"""

from __future__ import annotations

import hashlib

import numpy as np

from fute.errors import FuteError

_CHUNK = 1 << 20


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
            rng = np.random.default_rng(self._chunk_seed(start))
            buckets = rng.integers(0, self.dim, size=(self.hashes, part.size))
            signs = rng.integers(0, 2, size=(self.hashes, part.size)) * 2.0 - 1.0
            for h in range(self.hashes):
                out += np.bincount(buckets[h], weights=part * signs[h] * scale, minlength=self.dim)
        return out.astype(np.float32)

    def describe(self) -> dict:
        return {
            "kind": "sparse-sign",
            "n": self.n,
            "dim": self.dim,
            "hashes": self.hashes,
            "seed": self.seed,
        }
