"""Small views of a method's full embedding that the signed projection would lose.

* `fisher_unit_means`: Task2Vec's per-filter means, here per *unit*: the Fisher diagonal of
  every parameter of one module that belongs to one output neuron (a linear layer's weight
  row and bias), one feature (a layer norm's weight and bias) or one embedding row, averaged.
  Non-negative, as the `task2vec` similarity needs, and about 26k numbers for MiniLM.
* `component_sketch`: each component (a layer) projected on its own by the space's seeded
  sparse projection, so its boundaries survive: what `rrf-components` ranks by.

Both are deterministic functions of the full vector and the seed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from fute.engine.methods.training import derived_seed

#: coordinates of each component's sketch
COMPONENT_DIM = 512

_LAYER = re.compile(r"(?:^|\.)layer\.(\d+)\.")


def component_of(param_name: str) -> str:
    """The component (layer) a parameter belongs to: ``layer.3``, or its first name part."""
    found = _LAYER.search(param_name)
    return f"layer.{found.group(1)}" if found else param_name.split(".", 1)[0]


def fisher_unit_means(
    vector: np.ndarray, layout: Sequence[tuple[str, tuple[int, ...]]]
) -> np.ndarray:
    """Per-unit means of a Fisher diagonal laid out as `layout` ((name, shape) per parameter).

    The parameters of one module (``...query.weight`` and ``...query.bias``) whose first
    dimension agrees are grouped, and each unit (index along that dimension) gets the mean
    of all its entries, as Task2Vec averages the Fisher of each filter. Units follow the
    parameters' order.
    """
    vector = np.asarray(vector, dtype=np.float64).ravel()
    sums: dict[tuple[str, int], np.ndarray] = {}
    counts: dict[tuple[str, int], int] = {}
    order: list[tuple[str, int]] = []
    start = 0
    for name, shape in layout:
        size = int(np.prod(shape)) if len(shape) else 1
        block = vector[start : start + size]
        start += size
        units = shape[0] if len(shape) else 1
        per_unit = block.reshape(units, -1)
        key = (name.rsplit(".", 1)[0], units)
        if key not in sums:
            order.append(key)
            sums[key] = np.zeros(units)
            counts[key] = 0
        sums[key] += per_unit.sum(axis=1)
        counts[key] += per_unit.shape[1]
    if start != vector.size:
        raise ValueError(f"layout covers {start} entries, the vector has {vector.size}")
    return np.concatenate([sums[k] / counts[k] for k in order]).astype(np.float32)


def component_sketch(
    blocks: Sequence[tuple[str, np.ndarray]], seed: int, dim: int = COMPONENT_DIM
) -> dict[str, np.ndarray]:
    """Each (name, values) block projected to `dim` numbers by its own seeded projection
    (`fute.engine.projection.SparseProjection`; a block no longer than `dim` is kept as it is).

    Returns the extras ``components`` (the sketches, concatenated), ``component_bounds``
    ((C, 2) start and stop of each) and ``component_names``.
    """
    from fute.core.extras import COMPONENT_BOUNDS, COMPONENT_NAMES, COMPONENTS
    from fute.engine.projection import SparseProjection

    parts, bounds, names, start = [], [], [], 0
    for name, values in blocks:
        values = np.asarray(values).ravel()
        if values.size > dim:
            proj = SparseProjection(values.size, dim, derived_seed(seed, "component", name))
            values = proj(values)
        parts.append(values.astype(np.float32))
        bounds.append((start, start + values.size))
        names.append(name)
        start += values.size
    return {
        COMPONENTS: np.concatenate(parts),
        COMPONENT_BOUNDS: np.array(bounds, dtype=np.int64),
        COMPONENT_NAMES: np.array(names),
    }


def grouped_blocks(
    vector: np.ndarray, layout: Sequence[tuple[str, tuple[int, ...]]]
) -> list[tuple[str, np.ndarray]]:
    """The vector cut into its components (`component_of` each parameter), in order."""
    vector = np.asarray(vector).ravel()
    groups: dict[str, list[np.ndarray]] = {}
    start = 0
    for name, shape in layout:
        size = int(np.prod(shape)) if len(shape) else 1
        groups.setdefault(component_of(name), []).append(vector[start : start + size])
        start += size
    return [(name, np.concatenate(parts)) for name, parts in groups.items()]
