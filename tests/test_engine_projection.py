"""The sparse random projection: seeded, linear, and faithful to inner products."""

import numpy as np
import pytest

from fute.core.errors import FuteError
from fute.engine.projection import SparseProjection


def test_projection_is_seeded_and_linear():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=5000), rng.normal(size=5000)
    p = SparseProjection(5000, 256, seed=1)
    assert p(x).tobytes() == SparseProjection(5000, 256, seed=1)(x).tobytes()
    assert p(x).tobytes() != SparseProjection(5000, 256, seed=2)(x).tobytes()
    np.testing.assert_allclose(p(2 * x + y), 2 * p(x) + p(y), rtol=1e-5, atol=1e-4)


def test_projection_keeps_cosines_of_heavy_tailed_vectors():
    """Fisher-like vectors (few large entries, shared support) keep their cosines."""
    rng = np.random.default_rng(0)
    n = 200_000
    base = rng.lognormal(sigma=2.0, size=n)
    vectors = [base * rng.lognormal(sigma=s, size=n) for s in np.linspace(0.2, 2.0, 12)]
    p = SparseProjection(n, 2048, seed=0)
    proj = [p(v) for v in vectors]

    def cos(a, b):
        return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))

    full = [cos(vectors[i], vectors[j]) for i in range(12) for j in range(i + 1, 12)]
    small = [cos(proj[i], proj[j]) for i in range(12) for j in range(i + 1, 12)]
    from scipy.stats import spearmanr

    assert spearmanr(full, small).statistic > 0.95
    assert np.max(np.abs(np.array(full) - np.array(small))) < 0.1


def test_projection_checks_the_length():
    with pytest.raises(FuteError, match="length 10"):
        SparseProjection(10, 4)(np.ones(11))


def _drawn_each_time(proj: SparseProjection, x: np.ndarray) -> np.ndarray:
    """The map as documented, its tables drawn from the seed on every call (no cache)."""
    out = np.zeros(proj.dim)
    for start in range(0, proj.n, 1 << 20):
        part = x[start : start + (1 << 20)].astype(np.float64)
        rng = np.random.default_rng(proj._chunk_seed(start))
        buckets = rng.integers(0, proj.dim, size=(proj.hashes, part.size))
        signs = rng.integers(0, 2, size=(proj.hashes, part.size)) * 2.0 - 1.0
        for h in range(proj.hashes):
            w = part * signs[h] * (1.0 / np.sqrt(proj.hashes))
            out += np.bincount(buckets[h], weights=w, minlength=proj.dim)
    return out.astype(np.float32)


def test_kept_tables_give_the_same_bits_as_drawing_them(monkeypatch):
    from fute.engine import projection

    x = np.random.default_rng(5).standard_normal(2_500_000).astype(np.float32)
    want = _drawn_each_time(SparseProjection(x.size, 512, seed=3), x)
    projection._TABLES.clear()
    first = SparseProjection(x.size, 512, seed=3)(x)  # draws and keeps
    assert len(projection._TABLES) == 3  # one per chunk of 2**20 coordinates
    again = SparseProjection(x.size, 512, seed=3)(x)  # a new object reuses them
    monkeypatch.setenv("FUTE_PROJECTION_CACHE_MB", "0")
    projection._TABLES.clear()
    uncached = SparseProjection(x.size, 512, seed=3)(x)
    assert not projection._TABLES
    for got in (first, again, uncached):
        assert got.tobytes() == want.tobytes()
    monkeypatch.setenv("FUTE_PROJECTION_CACHE_MB", "6")  # room for the last, short chunk only
    SparseProjection(x.size, 512, seed=3)(x)
    assert len(projection._TABLES) == 1
