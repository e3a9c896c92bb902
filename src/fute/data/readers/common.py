"""What every reader shares: the `Rows` it returns, the cleaning it ends with, and the
registry that names it.

A reader turns the verified local files of one catalogue entry into rows. It is called as
``reader(paths, **args)``: ``paths`` are the local paths of the entry's ``files`` in the
order the catalogue lists them (a file, or a folder for a ``tree`` file), ``args`` the
entry's ``args`` table. Readers are registered by name with ``@reader("name")`` and the
catalogue refers to them by that name. Pool readers (``@pool_reader``) return a list of
``(text, text_pair or None)`` items instead of rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fute.data.text import clean

READERS: dict[str, Callable[..., Rows]] = {}
POOL_READERS: dict[str, Callable[..., list[tuple[str, str | None]]]] = {}


@dataclass
class Rows:
    """Parallel columns; `split` is set when the source ships its own splits."""

    texts: list[str]
    labels: list[str]
    pairs: list[str] | None = None
    split: list[str] | None = None

    def __len__(self) -> int:
        return len(self.texts)


def reader(name: str) -> Callable:
    """Register a labelled-set reader under `name` (the catalogue's ``reader = ...``)."""

    def register(fn: Callable[..., Rows]) -> Callable[..., Rows]:
        if name in READERS:
            raise ValueError(f"reader {name!r} is registered twice")
        READERS[name] = fn
        return fn

    return register


def pool_reader(name: str) -> Callable:
    """Register a pool reader under `name` (pool.toml's ``reader = ...``)."""

    def register(fn: Callable[..., list[tuple[str, str | None]]]) -> Callable:
        if name in POOL_READERS:
            raise ValueError(f"pool reader {name!r} is registered twice")
        POOL_READERS[name] = fn
        return fn

    return register


def finish(texts, labels, pairs=None, split=None) -> Rows:
    """Drop rows with an empty input or no label; clean whitespace."""
    keep = []
    for i, (t, y) in enumerate(zip(texts, labels, strict=True)):
        if y is None or not clean(t) or (pairs is not None and not clean(pairs[i])):
            continue
        keep.append(i)
    return Rows(
        texts=[clean(texts[i]) for i in keep],
        labels=[str(labels[i]) for i in keep],
        pairs=[clean(pairs[i]) for i in keep] if pairs is not None else None,
        split=[split[i] for i in keep] if split is not None else None,
    )


Paths = list[Path]
