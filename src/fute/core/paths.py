"""Where fute keeps its cache: `FUTE_CACHE` or `~/.cache/fute`."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    """The cache root; `override` (a CLI flag) wins over `FUTE_CACHE`, which wins over the default."""
    root = override or os.environ.get("FUTE_CACHE") or Path.home() / ".cache" / "fute"
    path = Path(root).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_subdir(name: str, override: str | os.PathLike | None = None) -> Path:
    path = cache_dir(override) / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_store_path(override: str | os.PathLike | None = None) -> Path:
    return cache_dir(override) / "store.sqlite"
