"""What the formulas of the similarities share: their inputs checked as arrays of numbers
(one-line `SimilarityError`s), and candidate matrices worked through in blocks of rows.

Float32 candidates are scored in float32 (no copy), anything else in float64; a block holds
about `_BLOCK_ELEMENTS` numbers, so 100k candidates never cost a full copy.
"""

from __future__ import annotations

import numpy as np

from fute.core.errors import FuteError

#: elements of a candidate block copied at once (float64: 32 MiB)
_BLOCK_ELEMENTS = 1 << 22


class SimilarityError(FuteError):
    """A similarity was asked for by an unknown name, or given arrays it cannot compare."""


def numbers(x, what: str, dtype=np.float64) -> np.ndarray:
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


def vector(x, what: str) -> np.ndarray:
    v = numbers(x, what)
    if v.ndim != 1 or v.size == 0:
        raise SimilarityError(f"{what} must be a non-empty 1-D vector, got shape {v.shape}")
    if not np.isfinite(v).all():
        raise SimilarityError(f"{what} has NaN or infinite coordinates; recompute it")
    return v


def rows(x, dim: int, what: str) -> np.ndarray:
    """Candidates as an (n, dim) array (not copied when it already is one)."""
    m = numbers(x, what, dtype=None)
    if m.ndim == 1 and m.size == dim:
        m = m[None, :]
    if m.ndim != 2 or m.shape[1] != dim:
        raise SimilarityError(
            f"{what} must be an (n, {dim}) matrix, one row per candidate with the target's "
            f"{dim} coordinates, got shape {m.shape}"
        )
    return m


def blocks(n: int, row_size: int):
    """Slices over n rows, each block holding about `_BLOCK_ELEMENTS` numbers."""
    step = max(1, _BLOCK_ELEMENTS // max(1, row_size))
    for start in range(0, n, step):
        yield slice(start, min(n, start + step))


def unit(m: np.ndarray) -> np.ndarray:
    """Rows (last axis) scaled to unit length; zero rows stay zero."""
    norms = np.linalg.norm(m, axis=-1, keepdims=True)
    return np.divide(m, norms, out=np.zeros_like(m), where=norms > 0)


def block(m: np.ndarray, s: slice) -> np.ndarray:
    """Rows `s` of the candidates as floats: float32 stays float32 (no copy), else float64."""
    b = m[s]
    return b if b.dtype in (np.float32, np.float64) else b.astype(np.float64)


def row_norms(b: np.ndarray, what: str) -> np.ndarray:
    """Row lengths, summed in float64; refuses NaN or infinite coordinates."""
    norms = np.sqrt(np.einsum("...j,...j->...", b, b, dtype=np.float64))
    if not np.isfinite(norms).all():
        raise SimilarityError(f"{what} have NaN or infinite coordinates; recompute them")
    return norms


def row_cosines(rows: np.ndarray, v: np.ndarray, what: str = "candidates") -> np.ndarray:
    """Cosine of each row of `rows` with `v` (0 where either is zero), in `rows`' precision."""
    num = (rows @ v.astype(rows.dtype, copy=False)).astype(np.float64)
    den = row_norms(rows, what) * np.linalg.norm(v)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def unit_rows(b: np.ndarray, what: str = "candidates") -> np.ndarray:
    """Rows of a candidate block scaled to unit length (zero rows stay zero), checked finite."""
    norms = row_norms(b, what)[..., None].astype(b.dtype)
    return np.divide(b, norms, out=np.zeros_like(b), where=norms > 0)
