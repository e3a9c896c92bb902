"""Extras: the named arrays kept with an embedding beside its vector, for other similarities.

The vector of a space is one signed projection; some similarities (docs/similarity.md) need
what the projection throws away. A method or the space keeps these in
`TaskEmbedding.extras`, the store keeps each one with its own checksum, and ranking reads
the ones its similarity needs:

=====================  ==========================================  =========================
name                   what                                         used by
=====================  ==========================================  =========================
``fisher_units``       non-negative Fisher means per unit (one per  ``task2vec``
                       output neuron / feature / embedding row)
``components``         per-component (layer) signed sketches,       ``rrf-components``
                       concatenated
``component_bounds``   (C, 2) start and stop of each component      ``rrf-components``
``component_names``    (C,) the components' names                   (reading)
``prefix_positions``   (layers, positions, 2 x hidden) trained      ``maxsim``
                       prefix, key and value of a position side by
                       side
``pool_answers``       (pool items, labels) soft answers on the     ``behaviour``
                       space's pool
``answer_labels``      (labels,) the answers' label names           ``behaviour``
``pool_items``         (pool items,) uint64 ids of the pool inputs  ``behaviour``
=====================  ==========================================  =========================

An extra is encoded as NumPy's ``.npy`` bytes (dtype and shape included, never pickled),
zlib-compressed when that pays, like a vector.
"""

from __future__ import annotations

import hashlib
import io
import zlib

import numpy as np

FISHER_UNITS = "fisher_units"
COMPONENTS = "components"
COMPONENT_BOUNDS = "component_bounds"
COMPONENT_NAMES = "component_names"
PREFIX_POSITIONS = "prefix_positions"
POOL_ANSWERS = "pool_answers"
ANSWER_LABELS = "answer_labels"
POOL_ITEMS = "pool_items"

#: which methods make each extra (what to tell a user whose embedding lacks one)
MADE_BY: dict[str, tuple[str, ...]] = {
    FISHER_UNITS: ("fisher",),
    COMPONENTS: ("fisher", "prefix"),
    COMPONENT_BOUNDS: ("fisher", "prefix"),
    PREFIX_POSITIONS: ("prefix",),
    POOL_ANSWERS: ("fisher", "prefix"),
    ANSWER_LABELS: ("fisher", "prefix"),
    POOL_ITEMS: ("fisher", "prefix"),
}


class ExtraError(ValueError):
    """An extra that cannot be stored (wrong type, NaN) or read back (damaged bytes)."""


def check_extras(extras: dict, owner: str = "embedding") -> dict[str, np.ndarray]:
    """Extras as a dict of plain arrays (numbers or text), or `ExtraError` naming the bad one."""
    if not isinstance(extras, dict):
        raise ExtraError(f"extras of {owner!r} must be a dict of named arrays")
    out = {}
    for name, value in extras.items():
        if not isinstance(name, str) or not name or not name.replace("_", "").isalnum():
            raise ExtraError(f"extra name {name!r} of {owner!r}: use letters, digits and _")
        arr = np.asarray(value)
        if arr.dtype.kind not in "biufU":
            raise ExtraError(
                f"extra {name!r} of {owner!r} holds values of type {arr.dtype}; "
                "only numbers and text are kept"
            )
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise ExtraError(f"extra {name!r} of {owner!r} holds NaN or infinite values")
        out[name] = arr
    return out


def encode_extra(arr: np.ndarray) -> bytes:
    """`.npy` bytes of one extra, behind b"z" (zlib) or b"r" (raw), as vectors are stored."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
    raw = buf.getvalue()
    sample = raw[: 1 << 18]
    pays = len(zlib.compress(sample, 1)) < 0.75 * len(sample)
    return b"z" + zlib.compress(raw, 1) if pays else b"r" + raw


def decode_extra(blob: bytes) -> np.ndarray:
    """The array of `encode_extra`; `ExtraError` when the bytes are unusable."""
    codec, body = bytes(blob[:1]), bytes(blob[1:])
    if codec not in (b"z", b"r"):
        raise ExtraError("unknown encoding: damaged, or written by a newer fute")
    try:
        raw = zlib.decompress(body) if codec == b"z" else body
        arr = np.load(io.BytesIO(raw), allow_pickle=False)
    except (zlib.error, ValueError, OSError, EOFError) as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ExtraError(f"cannot decode it: {why}") from None
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ExtraError("it holds NaN or infinite values")
    return arr


def pool_item_ids(texts, text_pairs=None) -> np.ndarray:
    """One uint64 id per pool input (sha256 of text and pair), to line up two answer matrices
    made on pool samples that differ (another size, sources excluded)."""
    pairs = text_pairs if text_pairs is not None else [None] * len(texts)
    ids = np.empty(len(texts), dtype=np.uint64)
    for i, (t, p) in enumerate(zip(texts, pairs, strict=True)):
        digest = hashlib.sha256(repr((str(t), None if p is None else str(p))).encode()).digest()
        ids[i] = int.from_bytes(digest[:8], "little")
    return ids
