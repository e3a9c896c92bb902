"""JSON of what fute records (metadata with NumPy values and paths): one strict encoder."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def json_default(obj: object) -> object:
    """`json.dumps(..., default=json_default)`: NumPy scalars and arrays, paths, sets and
    tuples as JSON; anything else is a TypeError (never a silent `str`)."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, set | tuple):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")
