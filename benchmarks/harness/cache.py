"""A disk cache for the expensive steps of a benchmark (LLM perplexities, fine-tuning
accuracies, embeddings), under ``$FUTE_CACHE/bench/<kind>/`` and keyed by a hash of
everything a value depends on, so a killed run resumes and a second run is cheap. LLM
answers are cached by `fute.models.answers.cached_predict` itself.

A key is the sha256 of the JSON of what makes the value: a result carried to another
machine (`benchmarks.harness.carry`) is found again there under the same name.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from fute.core.paths import cache_subdir


def cache_key(*parts: Any) -> str:
    """sha256 of the JSON of `parts`: equal inputs, equal key; anything changed, new key."""
    blob = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def bench_cache(kind: str) -> Path:
    """The cache folder of one kind of benchmark artefact, e.g. ``bench/perplexity``."""
    return cache_subdir(f"bench/{kind}")


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)
    os.replace(tmp, path)


def cached_json_path(kind: str, key: str) -> Path:
    """Where `cached_json(kind, key, ...)` keeps its value (it exists once computed)."""
    return bench_cache(kind) / f"{key[:40]}.json"


def cached_json(kind: str, key: str, compute: Callable[[], Any]) -> Any:
    """`compute()` once; its JSON-able result is kept in the bench cache under `key`."""
    path = cached_json_path(kind, key)
    if path.is_file():
        return json.loads(path.read_text())
    value = compute()
    _atomic_write(path, lambda p: p.write_text(json.dumps(value)))
    return value


def _save_npy(value: np.ndarray) -> Callable[[Path], None]:
    def write(p: Path) -> None:
        with open(p, "wb") as f:
            np.save(f, value, allow_pickle=False)

    return write


def cached_array(kind: str, key: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """As `cached_json`, for one numpy array (kept as .npy)."""
    path = bench_cache(kind) / f"{key[:40]}.npy"
    if path.is_file():
        return np.load(path, allow_pickle=False)
    value = np.asarray(compute())
    _atomic_write(path, _save_npy(value))
    return value


def cached_embedding(key: str, compute: Callable[[], Any]):
    """A `TaskEmbedding`, cached as its vector (.npy), its other fields (.json) and its
    extras (``.extras.npz``, plain arrays, never pickled; absent for an embedding without
    extras or one cached before extras were kept)."""
    from fute.core.embedding import TaskEmbedding

    folder = bench_cache("embeddings")
    vec_path, meta_path = folder / f"{key[:40]}.npy", folder / f"{key[:40]}.json"
    extras_path = folder / f"{key[:40]}.extras.npz"
    if vec_path.is_file() and meta_path.is_file():
        info = json.loads(meta_path.read_text())
        extras = {}
        if extras_path.is_file():
            with np.load(extras_path, allow_pickle=False) as z:
                extras = {name: z[name] for name in z.files}
        return TaskEmbedding(
            np.load(vec_path),
            info["space_key"],
            info["kind"],
            info["name"],
            info["meta"],
            extras=extras,
        )
    emb = compute()
    extras = {name: np.asarray(v) for name, v in (getattr(emb, "extras", None) or {}).items()}
    if extras:  # written before the vector: a vector on disk means its extras are there too

        def write_extras(p: Path) -> None:
            with open(p, "wb") as f:
                np.savez(f, **extras)

        _atomic_write(extras_path, write_extras)
    info = {"space_key": emb.space_key, "kind": emb.kind, "name": emb.name, "meta": emb.meta}
    _atomic_write(meta_path, lambda p: p.write_text(json.dumps(info, default=str)))
    _atomic_write(vec_path, _save_npy(np.asarray(emb.vector)))
    return emb
