"""The embedding store: one SQLite file of task embeddings and their metadata.

Why SQLite: one file a user can copy, safe for several processes writing at once (WAL
journal + busy timeout), and atomic writes for free (each `add` is one transaction, so a
run that fails or is killed mid-way leaves the store exactly as it was).

One row per (kind, name, space_key). Vectors are stored compactly (float16 or float32,
zlib-compressed, with dtype and shape), because a Fisher embedding over a whole encoder has
~10M entries; listing reads only the small columns, never the vectors.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fute.embedding import KINDS, TaskEmbedding
from fute.errors import StoreError
from fute.paths import default_store_path

SCHEMA_VERSION = 1
STORED_DTYPES = ("float16", "float32")
BUSY_TIMEOUT_MS = 60_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    space_key TEXT NOT NULL,
    dtype TEXT NOT NULL,
    shape TEXT NOT NULL,
    dim INTEGER NOT NULL,
    vector BLOB NOT NULL,
    meta TEXT NOT NULL,
    created REAL NOT NULL,
    UNIQUE (kind, name, space_key)
);
CREATE INDEX IF NOT EXISTS embeddings_space ON embeddings (space_key);
CREATE TABLE IF NOT EXISTS store_info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class StoredRecord:
    """What `Store.list` returns: everything about an embedding except its vector."""

    id: int
    kind: str
    name: str
    space_key: str
    dim: int
    dtype: str
    meta: dict
    created: float

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "space_key": self.space_key,
            "dim": self.dim,
            "dtype": self.dtype,
            "created": self.created,
            "meta": self.meta,
        }


def provenance_versions() -> dict:
    """Versions that decide whether two vectors are reproducible; recorded with every row."""
    import platform

    from fute import __version__

    versions = {"fute": __version__, "numpy": np.__version__, "python": platform.python_version()}
    try:
        import torch

        versions["torch"] = torch.__version__
    except ImportError:  # pragma: no cover - torch is a hard dependency
        pass
    return versions


def encode_vector(vector: np.ndarray, dtype: str = "float32") -> tuple[bytes, str, str]:
    """Pack a vector to (blob, dtype, shape-json).

    The blob is zlib-compressed only when a sample shows it pays (sparse or repetitive
    vectors); dense float noise barely compresses and would cost seconds per 10M entries.
    The first byte says which: b"z" (zlib) or b"r" (raw little-endian).
    """
    if dtype not in STORED_DTYPES:
        raise StoreError(f"cannot store vectors as {dtype!r}; use one of {list(STORED_DTYPES)}")
    with np.errstate(over="ignore", invalid="ignore"):  # overflow shows up as inf, refused below
        arr = np.ascontiguousarray(np.asarray(vector), dtype=np.dtype(dtype).newbyteorder("<"))
    if not np.isfinite(arr).all():
        raise StoreError(
            "vector holds NaN or infinite values (or overflows float16); not storing it"
        )
    raw = arr.tobytes()
    sample = raw[: 1 << 18]
    pays = len(zlib.compress(sample, 1)) < 0.75 * len(sample)
    blob = b"z" + zlib.compress(raw, 1) if pays else b"r" + raw
    return blob, dtype, json.dumps(list(arr.shape))


def decode_vector(blob: bytes, dtype: str, shape: str) -> np.ndarray:
    codec, body = blob[:1], blob[1:]
    if codec not in (b"z", b"r"):
        raise StoreError(
            "a stored vector has an unknown encoding; was the store written by a newer fute?"
        )
    raw = zlib.decompress(body) if codec == b"z" else body
    arr = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).reshape(json.loads(shape))
    return arr.astype(np.float32)


class Store:
    """Task embeddings on disk, keyed by (kind, name, space_key).

    `Store()` opens the default store under the cache (`fute.paths.default_store_path()`);
    `Store(path)` any other file, created on first use.
    """

    def __init__(self, path: str | os.PathLike | None = None, vector_dtype: str = "float32"):
        self.path = Path(path).expanduser() if path is not None else default_store_path()
        if vector_dtype not in STORED_DTYPES:
            raise StoreError(
                f"vector_dtype must be one of {list(STORED_DTYPES)}, got {vector_dtype!r}"
            )
        self.vector_dtype = vector_dtype
        if self.path.is_dir():
            raise StoreError(
                f"store path {self.path} is a folder; give a file path such as {self.path / 'store.sqlite'}"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            try:
                con.executescript(_SCHEMA)
                con.execute(
                    "INSERT OR IGNORE INTO store_info (key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
                con.commit()
            except sqlite3.DatabaseError as exc:
                raise self._error("cannot initialise", exc) from None

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    # -- connection ------------------------------------------------------------------

    def _error(self, what: str, exc: Exception) -> StoreError:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "not a database" in msg or "malformed" in msg or "file is encrypted" in msg:
            return StoreError(
                f"{self.path} is not a fute store (not a valid SQLite file: {msg}); "
                "pass another --store path or move the file away"
            )
        return StoreError(f"{what} store {self.path}: {msg}")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            con = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        except sqlite3.Error as exc:
            raise self._error("cannot open", exc) from None
        try:
            try:
                con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                mode = con.execute("PRAGMA journal_mode = WAL").fetchone()
                if mode is None:
                    raise sqlite3.DatabaseError("file is not a database")
                con.execute("PRAGMA synchronous = NORMAL")
            except sqlite3.DatabaseError as exc:
                raise self._error("cannot open", exc) from None
            yield con
        finally:
            con.close()

    @contextmanager
    def _transaction(self, what: str) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken immediately so concurrent writers queue up, not fail."""
        with self._connect() as con:
            try:
                con.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise self._error(f"cannot {what} in", exc) from None
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            try:
                con.execute("COMMIT")
            except sqlite3.Error as exc:
                con.execute("ROLLBACK")
                raise self._error(f"cannot {what} in", exc) from None

    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._connect() as con:
            try:
                return con.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise self._error("cannot read", exc) from None

    # -- writing ---------------------------------------------------------------------

    def _row(self, e: TaskEmbedding, dtype: str | None = None) -> tuple:
        """Validate and encode one embedding (all before any transaction starts)."""
        _check_embedding(e)
        blob, dt, shape = encode_vector(e.vector, dtype or self.vector_dtype)
        created = time.time()
        meta = {"versions": provenance_versions(), "created": created, **e.meta}
        meta.pop("store_id", None)  # an id read back from a store is not part of the data
        try:
            meta_json = json.dumps(meta, default=_json_default, sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise StoreError(f"metadata of {e.name!r} is not JSON-serialisable: {exc}") from None
        dim = int(np.asarray(e.vector).size)
        return (e.kind, e.name, e.space_key, dt, shape, dim, blob, meta_json, created)

    @staticmethod
    def _replace(con: sqlite3.Connection, row: tuple) -> int:
        con.execute("DELETE FROM embeddings WHERE kind = ? AND name = ? AND space_key = ?", row[:3])
        cur = con.execute(
            "INSERT INTO embeddings (kind, name, space_key, dtype, shape, dim, vector, meta, created)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            row,
        )
        return int(cur.lastrowid)

    def add(self, embedding: TaskEmbedding, *, dtype: str | None = None) -> int:
        """Store `embedding`, replacing any row with the same (kind, name, space_key); return its id.

        The replacement is one transaction: readers see the old row or the new one, never
        neither, and a crash in between leaves the old row.
        """
        row = self._row(embedding, dtype)
        with self._transaction("write") as con:
            return self._replace(con, row)

    def add_many(self, embeddings: Iterable[TaskEmbedding]) -> list[int]:
        """Store several embeddings in one transaction: all of them, or none."""
        rows = [self._row(e) for e in embeddings]
        with self._transaction("write") as con:
            return [self._replace(con, row) for row in rows]

    def delete(
        self, ref: int | str, *, kind: str | None = None, space_key: str | None = None
    ) -> int:
        """Delete by id or by name (optionally narrowed by kind / space); return rows deleted."""
        where, params = _where(ref, kind, space_key)
        with self._transaction("delete from") as con:
            return con.execute(f"DELETE FROM embeddings WHERE {where}", params).rowcount

    # -- reading ---------------------------------------------------------------------

    def list(
        self, *, kind: str | None = None, space_key: str | None = None, name: str | None = None
    ) -> list[StoredRecord]:
        """Records (without vectors), newest last; optionally filtered."""
        if kind is not None and kind not in KINDS:
            raise StoreError(f"unknown kind {kind!r}; use one of {list(KINDS)}")
        clauses, params = [], []
        for col, val in (("kind", kind), ("space_key", space_key), ("name", name)):
            if val is not None:
                clauses.append(f"{col} = ?")
                params.append(val)
        where = " AND ".join(clauses) or "1"
        rows = self._query(
            "SELECT id, kind, name, space_key, dim, dtype, meta, created FROM embeddings"
            f" WHERE {where} ORDER BY id",
            tuple(params),
        )
        return [
            StoredRecord(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), r[7]) for r in rows
        ]

    def __len__(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM embeddings")[0][0])

    def spaces(self) -> dict[str, int]:
        """Space keys in the store with their number of embeddings."""
        rows = self._query(
            "SELECT space_key, COUNT(*) FROM embeddings GROUP BY space_key ORDER BY 1"
        )
        return {k: int(n) for k, n in rows}

    def contains(self, kind: str, name: str, space_key: str) -> bool:
        """Whether an embedding is already stored (what the demo checks to skip work)."""
        rows = self._query(
            "SELECT 1 FROM embeddings WHERE kind = ? AND name = ? AND space_key = ?",
            (kind, name, space_key),
        )
        return bool(rows)

    def get(
        self, ref: int | str, *, kind: str | None = None, space_key: str | None = None
    ) -> TaskEmbedding:
        """One embedding by id or name; an ambiguous name (several kinds/spaces) is an error."""
        where, params = _where(ref, kind, space_key)
        rows = self._query(
            "SELECT id, kind, name, space_key, dtype, shape, vector, meta FROM embeddings"
            f" WHERE {where} ORDER BY id",
            params,
        )
        if not rows:
            hint = "; see `fute store list`"
            raise StoreError(
                f"no embedding {ref!r}{_narrowing(kind, space_key)} in {self.path}{hint}"
            )
        if len(rows) > 1:
            options = ", ".join(f"#{r[0]} {r[1]} in {r[3]}" for r in rows[:5])
            raise StoreError(
                f"{ref!r} names {len(rows)} embeddings ({options}); pass an id, --kind or --space"
            )
        return _row_to_embedding(rows[0])

    def load(
        self,
        *,
        kind: str | None = None,
        space_key: str | None = None,
        ids: Iterable[int] | None = None,
    ) -> list[TaskEmbedding]:
        """Embeddings with their vectors (filtered: prefer one space at a time for big vectors)."""
        clauses, params = [], []
        for col, val in (("kind", kind), ("space_key", space_key)):
            if val is not None:
                clauses.append(f"{col} = ?")
                params.append(val)
        if ids is not None:
            ids = [int(i) for i in ids]
            if not ids:
                return []
            clauses.append(f"id IN ({','.join('?' * len(ids))})")
            params.extend(ids)
        where = " AND ".join(clauses) or "1"
        rows = self._query(
            "SELECT id, kind, name, space_key, dtype, shape, vector, meta FROM embeddings"
            f" WHERE {where} ORDER BY id",
            tuple(params),
        )
        return [_row_to_embedding(r) for r in rows]

    # -- export ----------------------------------------------------------------------

    def export(
        self, out: str | os.PathLike, *, space_key: str | None = None, fmt: str | None = None
    ) -> Path:
        """Write the store (or one space) to `.npz` (NumPy) or `.parquet`; return the path.

        NumPy: one array per space (`vectors_<i>`, rows in `ids_<i>` order) plus a JSON
        `index`; Parquet: one row per embedding with its vector as a list column.
        """
        out = Path(out).expanduser()
        fmt = fmt or out.suffix.lstrip(".").lower()
        if fmt not in ("npz", "parquet"):
            raise StoreError(f"cannot export to {out.name!r}: use a .npz or .parquet file name")
        out.parent.mkdir(parents=True, exist_ok=True)
        records = self.list(space_key=space_key)
        if not records:
            raise StoreError(f"nothing to export from {self.path}{_narrowing(None, space_key)}")
        tmp = out.with_name(out.name + ".partial")
        if fmt == "npz":
            _export_npz(self, records, tmp)
        else:
            _export_parquet(self, records, tmp)
        os.replace(tmp, out)
        return out


# -- helpers -------------------------------------------------------------------------


def _check_embedding(e: TaskEmbedding) -> None:
    if not isinstance(e, TaskEmbedding):
        raise StoreError(f"can only store TaskEmbedding objects, got {type(e).__name__}")
    if e.kind not in KINDS:
        raise StoreError(
            f"embedding {e.name!r} has unknown kind {e.kind!r}; use one of {list(KINDS)}"
        )
    if not e.name or not e.space_key:
        raise StoreError("an embedding needs a name and a space_key to be stored")
    if np.asarray(e.vector).size == 0:
        raise StoreError(f"embedding {e.name!r} has an empty vector")


def _where(ref: int | str, kind: str | None, space_key: str | None) -> tuple[str, tuple]:
    if isinstance(ref, int) or (isinstance(ref, str) and ref.startswith("#") and ref[1:].isdigit()):
        return "id = ?", (int(str(ref).lstrip("#")),)
    clauses, params = ["name = ?"], [ref]
    for col, val in (("kind", kind), ("space_key", space_key)):
        if val is not None:
            clauses.append(f"{col} = ?")
            params.append(val)
    return " AND ".join(clauses), tuple(params)


def _narrowing(kind: str | None, space_key: str | None) -> str:
    parts = [f"kind {kind}" if kind else "", f"space {space_key}" if space_key else ""]
    parts = [p for p in parts if p]
    return f" ({', '.join(parts)})" if parts else ""


def _row_to_embedding(row: tuple) -> TaskEmbedding:
    id_, kind, name, space_key, dtype, shape, blob, meta = row
    meta = json.loads(meta)
    meta["store_id"] = id_
    return TaskEmbedding(decode_vector(blob, dtype, shape), space_key, kind, name, meta)


def _json_default(obj: object) -> object:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, set | tuple):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def _export_npz(store: Store, records: list[StoredRecord], out: Path) -> None:
    arrays: dict[str, np.ndarray] = {}
    index = []
    by_space: dict[str, list[StoredRecord]] = {}
    for r in records:
        by_space.setdefault(r.space_key, []).append(r)
    for i, (space, recs) in enumerate(sorted(by_space.items())):
        embs = store.load(space_key=space, ids=[r.id for r in recs])
        dims = {int(np.asarray(e.vector).size) for e in embs}
        if len(dims) == 1:
            arrays[f"vectors_{i}"] = np.stack([np.asarray(e.vector).ravel() for e in embs])
        else:  # one space should have one dimension; keep ragged rows apart rather than fail
            for j, e in enumerate(embs):
                arrays[f"vectors_{i}_{j}"] = np.asarray(e.vector).ravel()
        arrays[f"ids_{i}"] = np.array([e.meta["store_id"] for e in embs], dtype=np.int64)
        index.append({"space_key": space, "array": f"vectors_{i}", "ids": f"ids_{i}"})
    meta = [r.to_dict() for r in records]
    arrays["index"] = np.array(
        json.dumps({"spaces": index, "records": meta}, default=_json_default)
    )
    with open(out, "wb") as fh:
        np.savez_compressed(fh, **arrays)


def _export_parquet(store: Store, records: list[StoredRecord], out: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    try:
        for r in records:  # one row at a time: never all vectors in memory
            e = store.get(r.id)
            table = pa.table(
                {
                    "id": [r.id],
                    "kind": [r.kind],
                    "name": [r.name],
                    "space_key": [r.space_key],
                    "dim": [r.dim],
                    "created": [r.created],
                    "meta": [json.dumps(r.meta, default=_json_default)],
                    "vector": pa.array(
                        [np.asarray(e.vector, dtype=np.float32).ravel()],
                        type=pa.list_(pa.float32()),
                    ),
                }
            )
            if writer is None:
                writer = pq.ParquetWriter(out, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
