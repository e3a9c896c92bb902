"""The embedding store: one SQLite file of task embeddings and their metadata.

Why SQLite: one file a user can copy, safe for several processes writing at once (WAL
journal + busy timeout), and atomic writes for free (each `add` is one transaction, so a
run that fails or is killed mid-way leaves the store exactly as it was).

One row per (kind, name, space_key). Vectors are stored compactly (float16 or float32,
zlib-compressed, with dtype and shape), because a Fisher embedding over a whole encoder has
~10M entries. They sit in their own table (`vectors`, schema 3), so listing 100,000 rows
reads only the small `embeddings` table and never walks a vector's overflow pages (stores
of schema 1 and 2 kept the vector inside the row; they are read as they are and migrated on
the first write). Each vector carries a checksum of its stored bytes: a damaged row is
reported by name and skipped by the readers of many rows (rank, export, report) instead of
turning into NaN similarities. Schema 4 adds an embedding's named *extras* (`fute.core.extras`:
what similarities other than cosine read) in their own table, each with its own checksum,
read only when asked for (a damaged one is named and left out, the embedding stays usable),
and the per-space centres of `centred-cosine`, which every write refreshes in its own
transaction (`fute.store.centres`). Every write bumps a generation counter in `store_info` in
its own transaction, which is how derived files (`fute.store.vector_index`) know they are stale.

Readers (`Store(path, readonly=True)`) open the file read-only and never create, migrate or
switch its journal, so a store on a read-only disk or shared folder can be listed and ranked.
A write that fails (disk full, I/O error) leaves the store as it was and keeps the finished
embeddings in the cache's `pending/` folder, from where `fute store import FILE` stores them.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sqlite3
import time
import uuid
import warnings
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from fute.core.embedding import TaskEmbedding
from fute.core.errors import StoreError
from fute.core.extras import ExtraError, check_extras, decode_extra, encode_extra
from fute.core.jsonio import json_default
from fute.core.kinds import KINDS, Kind
from fute.core.paths import cache_subdir, default_store_path
from fute.store.centres import CentreChange, provenance
from fute.store.exports import atomic_write, export_npz, export_parquet, read_npz, write_npz

# 2: per-row vector checksum; 3: vectors in their own table, a generation counter;
# 4: named extras per embedding and per-space centres, each with a checksum
# (stores of versions 1 to 3 are migrated on the first write)
SCHEMA_VERSION = 4
STORED_DTYPES = ("float16", "float32")
BUSY_TIMEOUT_MS = 60_000
#: below this many free bytes, an SQLite "disk I/O error" is reported as a full disk
LOW_DISK_BYTES = 1 << 20
PENDING_DIR = "pending"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    space_key TEXT NOT NULL,
    dtype TEXT NOT NULL,
    shape TEXT NOT NULL,
    dim INTEGER NOT NULL,
    meta TEXT NOT NULL,
    created REAL NOT NULL,
    checksum TEXT,
    UNIQUE (kind, name, space_key)
);
CREATE INDEX IF NOT EXISTS embeddings_space ON embeddings (space_key);
CREATE TABLE IF NOT EXISTS vectors (id INTEGER PRIMARY KEY, vector BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS store_info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS embeddings_delete AFTER DELETE ON embeddings
BEGIN DELETE FROM vectors WHERE id = old.id; END;
CREATE TABLE IF NOT EXISTS extras (
    id INTEGER NOT NULL,
    name TEXT NOT NULL,
    data BLOB NOT NULL,
    checksum TEXT NOT NULL,
    PRIMARY KEY (id, name)
);
CREATE TRIGGER IF NOT EXISTS embeddings_delete_extras AFTER DELETE ON embeddings
BEGIN DELETE FROM extras WHERE id = old.id; END;
CREATE TABLE IF NOT EXISTS centres (
    space_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    vector BLOB NOT NULL,
    checksum TEXT NOT NULL,
    meta TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (space_key, kind)
);
"""

# What a replacement reports when it differs: (path in meta, words for the user).
_COMPARED = (
    (("data", "content_sha256"), "data hash"),
    (("data", "n"), "n"),
    (("model", "identity"), "model"),
    (("prompt", "hash"), "prompt hash"),
    (("model", "answers_sha256"), "answers"),
    (("pool", "n"), "pool size"),
    (("pool", "content_sha256"), "pool"),
    (("versions", "fute"), "fute version"),
)


class StoreWarning(UserWarning):
    """Something a reader of the store should know: a damaged row skipped, a row replaced."""


class DamagedEmbeddingError(StoreError):
    """A stored row whose vector cannot be trusted (checksum, encoding or values).

    `row` is (id, name, why); `skip_note` the line a reader of many rows says when it
    leaves the row out."""

    row: tuple[int, str, str] = ()
    skip_note: str = ""

    @classmethod
    def of_row(cls, id_: int, name: str, kind: str, why: str) -> DamagedEmbeddingError:
        """The error of the stored row #`id_` (`kind` `name`), damaged because `why`."""
        exc = cls(
            f"the stored {kind} {name!r} (#{id_}) is damaged ({why}); "
            f"delete it with `fute store delete '#{id_}'` and embed it again"
        )
        exc.row = (id_, name, why)
        exc.skip_note = (
            f"left out {kind} {name!r} (#{id_}): its stored vector is damaged ({why}); "
            f"delete it with `fute store delete '#{id_}'` and embed it again"
        )
        return exc


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

    from fute._version import __version__

    versions = {"fute": __version__, "numpy": np.__version__, "python": platform.python_version()}
    try:
        import torch

        versions["torch"] = torch.__version__
    except ImportError:  # pragma: no cover - torch is a hard dependency
        pass
    return versions


def checksum(blob: bytes) -> str:
    """Checksum of a stored vector blob, prefixed with its algorithm."""
    return f"crc32:{zlib.crc32(blob):08x}"


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
    """Unpack a stored vector; raises `DamagedEmbeddingError` when its bytes are unusable."""
    codec, body = bytes(blob[:1]), blob[1:]
    if codec not in (b"z", b"r"):
        raise DamagedEmbeddingError("unknown encoding: damaged, or written by a newer fute")
    try:
        raw = zlib.decompress(body) if codec == b"z" else body
        dims = json.loads(shape)
        arr = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).reshape(dims)
    except (zlib.error, ValueError, TypeError) as exc:
        raise DamagedEmbeddingError(f"cannot decode it: {exc}") from None
    if not np.isfinite(arr).all():
        raise DamagedEmbeddingError("it holds NaN or infinite values")
    return arr.astype(np.float32)


class Store:
    """Task embeddings on disk, keyed by (kind, name, space_key).

    `Store()` opens the default store under the cache (`fute.core.paths.default_store_path()`);
    `Store(path)` any other file, created on first use (`create=False` refuses a missing
    file instead). `Store(path, readonly=True)` only reads: it refuses a missing file and
    never writes to the file or its folder.

    `notify(message)` receives what a user should know but that is no error: a row replaced
    by `add` (with what differed) and a damaged row skipped by `load` or `export`. It
    defaults to a `StoreWarning`; the CLI prints one `warning:` line instead.
    """

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        vector_dtype: str = "float32",
        *,
        readonly: bool = False,
        create: bool = True,
        notify: Callable[[str], None] | None = None,
    ):
        self.path = Path(path).expanduser() if path is not None else default_store_path()
        if vector_dtype not in STORED_DTYPES:
            raise StoreError(
                f"vector_dtype must be one of {list(STORED_DTYPES)}, got {vector_dtype!r}"
            )
        self.vector_dtype = vector_dtype
        self.readonly = readonly
        self.notify = notify or _warn
        self.skipped: list[tuple[int, str, str]] = []  # (id, name, why) of damaged rows skipped
        self.skipped_extras: list[tuple[int, str, str]] = []  # (id, extra, why) left out
        self._checked: tuple | None = None  # file state at the last whole-table check
        if self.path.is_dir():
            raise StoreError(
                f"store path {self.path} is a folder; give a file path such as {self.path / 'store.sqlite'}"
            )
        if (readonly or not create) and not self.path.exists():
            raise StoreError(
                f"no store at {self.path}; check the --store path (or FUTE_STORE), or create "
                "a store by embedding something with `fute embed` or `fute demo`"
            )
        if readonly:
            self._columns = self._check_tables()
            self._tables = self._table_names()
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the folder of store {self.path}: {exc.strerror or exc}"
            ) from None
        new = not self.path.exists()
        try:
            with self._connect() as con:
                try:
                    if not _is_current(con):
                        con.execute("BEGIN IMMEDIATE")
                        try:
                            _create_or_migrate(con)
                            con.execute("COMMIT")
                        finally:
                            _rollback(con)
                except sqlite3.DatabaseError as exc:
                    raise self._error("cannot initialise", exc) from None
        except StoreError:
            if new:  # nothing was stored yet: leave no half-made files behind
                for suffix in ("", "-wal", "-shm", "-journal"):
                    Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            raise
        self._columns = {"checksum"}
        self._tables = {"extras", "centres"}

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r}{', readonly=True' if self.readonly else ''})"

    # -- connection ------------------------------------------------------------------

    def _error(self, what: str, exc: Exception) -> StoreError:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "malformed" in msg:
            return StoreError(
                f"store {self.path} is damaged (SQLite: {msg}); restore it from a copy, "
                f"or save what is readable with `sqlite3 {self.path} .recover`"
            )
        if "not a database" in msg or "file is encrypted" in msg:
            return StoreError(
                f"{self.path} is not a fute store (not a valid SQLite file: {msg}); "
                "pass another --store path or move the file away"
            )
        if "no such table" in msg:
            return StoreError(
                f"{self.path} is an SQLite file but not a fute store ({msg}); "
                "pass another --store path"
            )
        unwritable = not os.access(self.path.parent, os.W_OK) or (
            self.path.exists() and not os.access(self.path, os.W_OK)
        )
        if "readonly" in msg or "read-only" in msg or ("unable to open" in msg and unwritable):
            return StoreError(
                f"{what} store {self.path}: the file or its folder is read-only; "
                "pass a --store path you can write to"
            )
        free = _free_bytes(self.path.parent)
        if "disk is full" in msg or ("disk I/O error" in msg and free < LOW_DISK_BYTES):
            return StoreError(
                f"{what} store {self.path}: the disk (or folder) is full, "
                f"{free:,} bytes free; free some space or pass a --store path elsewhere"
            )
        return StoreError(f"{what} store {self.path}: {msg}")

    def _check_tables(self) -> set[str]:
        """Read-only open: check the file is a fute store; return the optional columns it has."""
        with self._connect() as con:
            try:
                cols = _columns(con)
            except sqlite3.DatabaseError as exc:
                raise self._error("cannot open", exc) from None
        if not cols:
            raise StoreError(
                f"{self.path} is not a fute store (it has no embeddings table); "
                "pass another --store path"
            )
        return cols & {"checksum", "vector"}  # "vector": a schema-1/2 row holds its vector

    def _table_names(self) -> set[str]:
        """Which of the schema-4 tables a store read as it is has (older ones have none)."""
        rows = self._query("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {r[0] for r in rows} & {"extras", "centres"}

    def _open_readonly(self) -> sqlite3.Connection:
        """A connection that cannot change the store.

        Where the file and its folder are writable, a plain connection with `query_only`:
        SQLite then tidies its WAL side files on close as usual. Elsewhere SQLite's `mode=ro`,
        and for a WAL store in a folder nobody can write to (no shared-memory file can be
        made there, and no writer can be at work either) `immutable=1`.
        """
        timeout = BUSY_TIMEOUT_MS / 1000
        if os.access(self.path, os.W_OK) and os.access(self.path.parent, os.W_OK):
            con = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
            con.execute("PRAGMA query_only = ON")
            return con
        uri = self.path.resolve().as_uri()
        con = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=timeout, isolation_level=None)
        try:
            con.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
            return con
        except sqlite3.OperationalError:
            con.close()
            if os.access(self.path.parent, os.W_OK):
                raise
        return sqlite3.connect(
            f"{uri}?mode=ro&immutable=1", uri=True, timeout=timeout, isolation_level=None
        )

    def _configure(self, con: sqlite3.Connection) -> None:
        """Settings of a writing connection (tests add limits here to simulate a full disk)."""
        con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = con.execute("PRAGMA journal_mode = WAL").fetchone()
        if mode is None:
            raise sqlite3.DatabaseError("file is not a database")
        con.execute("PRAGMA synchronous = NORMAL")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            if self.readonly:
                con = self._open_readonly()
            else:
                con = sqlite3.connect(
                    self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None
                )
        except sqlite3.Error as exc:
            raise self._error("cannot open", exc) from None
        try:
            if not self.readonly:
                try:
                    self._configure(con)
                except sqlite3.DatabaseError as exc:
                    raise self._error("cannot open", exc) from None
            yield con
        finally:
            con.close()

    @contextmanager
    def _transaction(self, what: str) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken immediately so concurrent writers queue up, not fail.

        Any SQLite failure inside (disk full, I/O error) rolls back and becomes one
        StoreError; SQLite may already have rolled back itself, which is not a second error.
        """
        if self.readonly:
            raise StoreError(f"store {self.path} was opened read-only; cannot {what} it")
        with self._connect() as con:
            try:
                con.execute("BEGIN IMMEDIATE")
                yield con
                con.execute(
                    "UPDATE store_info SET value = CAST(value AS INTEGER) + 1"
                    " WHERE key = 'generation'"
                )
                con.execute("COMMIT")
            except sqlite3.Error as exc:
                _rollback(con)
                raise self._error(f"cannot {what}", exc) from None
            except BaseException:
                _rollback(con)
                raise

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """A connection inside one read transaction: its queries see one state of the store,
        whatever other processes commit meanwhile."""
        with self._connect() as con:
            try:
                con.execute("BEGIN")
            except sqlite3.Error as exc:
                raise self._error("cannot read", exc) from None
            try:
                yield con
            finally:
                _rollback(con)

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
            meta_json = json.dumps(meta, default=json_default, sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise StoreError(f"metadata of {e.name!r} is not JSON-serialisable: {exc}") from None
        dim = int(np.asarray(e.vector).size)
        extras = []
        for name, arr in sorted(e.extras.items()):
            data = encode_extra(arr)
            extras.append((name, data, checksum(data)))
        return (
            e.kind,
            e.name,
            e.space_key,
            dt,
            shape,
            dim,
            blob,
            meta_json,
            created,
            checksum(blob),
            extras,
        )

    def _put(
        self,
        con: sqlite3.Connection,
        row: tuple,
        notes: list[str],
        changes: dict[tuple[str, str], CentreChange] | None = None,
    ) -> int:
        """Insert a row, or update the row of the same (kind, name, space) in place (same id);
        the row's extras are replaced by the new ones. `changes` collects what the write does
        to the centre of its (space, kind) (`fute.store.centres`)."""
        row, extras = row[:10], row[10]
        old = con.execute(
            "SELECT id, meta, checksum FROM embeddings WHERE kind = ? AND name = ? AND space_key = ?",
            row[:3],
        ).fetchone()
        small, blob = (*row[:6], *row[7:]), row[6]
        if changes is not None:
            change = changes.setdefault((row[2], row[0]), CentreChange())
            change.add(decode_vector(blob, row[3], row[4]))
            if old is None:
                change.rows += 1
            else:
                self._remove_from_centre(con, (old[0], row[0], row[1], row[2]), change)
        if old is None:
            cur = con.execute(
                "INSERT INTO embeddings"
                " (kind, name, space_key, dtype, shape, dim, meta, created, checksum)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                small,
            )
            con.execute("INSERT INTO vectors (id, vector) VALUES (?, ?)", (cur.lastrowid, blob))
            row_id = int(cur.lastrowid)
        else:
            con.execute(
                "UPDATE embeddings SET dtype = ?, shape = ?, dim = ?, meta = ?,"
                " created = ?, checksum = ? WHERE id = ?",
                (*small[3:], old[0]),
            )
            con.execute("INSERT OR REPLACE INTO vectors (id, vector) VALUES (?, ?)", (old[0], blob))
            con.execute("DELETE FROM extras WHERE id = ?", (old[0],))
            notes.append(_replacement_note(row, old))
            row_id = int(old[0])
        con.executemany(
            "INSERT INTO extras (id, name, data, checksum) VALUES (?, ?, ?, ?)",
            [(row_id, *x) for x in extras],
        )
        return row_id

    def add(self, embedding: TaskEmbedding, *, dtype: str | None = None) -> int:
        """Store `embedding`, replacing any row with the same (kind, name, space_key); return its id.

        A replaced row keeps its id, and `notify` says what differed. The replacement is one
        transaction: readers see the old row or the new one, never neither, and a crash in
        between leaves the old row. When the write fails, the embedding is kept in the
        cache's `pending/` folder and the error says how to store it from there.
        """
        return self._write([embedding], [self._row(embedding, dtype)])[0]

    def add_many(self, embeddings: Iterable[TaskEmbedding]) -> list[int]:
        """Store several embeddings in one transaction: all of them, or none."""
        embeddings = list(embeddings)
        return self._write(embeddings, [self._row(e) for e in embeddings])

    def _write(self, embeddings: list[TaskEmbedding], rows: list[tuple]) -> list[int]:
        notes: list[str] = []
        try:
            with self._transaction("write to") as con:
                changes: dict[tuple[str, str], CentreChange] = {}
                ids = [self._put(con, row, notes, changes) for row in rows]
                self._refresh_centres(con, changes)
        except StoreError as exc:
            if self.readonly:
                raise
            raise StoreError(f"{exc}{self._keep_pending(embeddings)}") from None
        for note in notes:
            self.notify(note)
        return ids

    def _keep_pending(self, embeddings: list[TaskEmbedding]) -> str:
        """Save embeddings a failed write could not store; return what to tell the user."""
        if not embeddings:
            return ""
        label = embeddings[0].name if len(embeddings) == 1 else f"{len(embeddings)}-embeddings"
        stamp = time.strftime("%Y%m%d-%H%M%S")
        try:
            folder = cache_subdir(PENDING_DIR)
            path = folder / f"{_safe_name(label)}-{stamp}-{os.getpid()}.npz"
            items = [
                (_pending_record(i + 1, e), np.asarray(e.vector), e.extras)
                for i, e in enumerate(embeddings)
            ]
            atomic_write(path, lambda tmp: write_npz(items, tmp), overwrite=False)
        except (OSError, StoreError) as exc:
            why = getattr(exc, "strerror", None) or str(exc)
            return (
                f"; the computed embedding could not be kept either ({why}); "
                "free some space and run the command again"
            )
        what = "embedding was" if len(embeddings) == 1 else f"{len(embeddings)} embeddings were"
        store = shlex.quote(str(self.path.absolute()))
        cmd = f"fute store import {shlex.quote(str(path))} --store {store}"
        return f"; the computed {what} kept in {path}: fix the cause, then run `{cmd}`"

    def resolve(self, ref: int | str) -> int | str:
        """What a reference a user typed means: an int is an id; ``#N`` is the id N, unless
        an embedding stored before such names were refused is named ``#N`` (then the name,
        when no row has the id N, and an error naming both rows when one has); any other
        text is a name. No reference ever reaches a row other than the one it names."""
        if isinstance(ref, (int, Name)) or not looks_like_id(ref.strip()):
            return ref
        text = ref.strip()
        with self._snapshot() as con:
            named = con.execute(
                "SELECT id, kind FROM embeddings WHERE name = ? ORDER BY id", (text,)
            ).fetchall()
            by_id = con.execute(
                "SELECT id, name, kind FROM embeddings WHERE id = ?", (int(text[1:]),)
            ).fetchone()
        if not named:
            return int(text[1:])
        if by_id is None or [r[0] for r in named] == [by_id[0]]:
            return text
        raise StoreError(
            f"{text!r} is ambiguous: the name of {named[0][1]} #{named[0][0]} and the id of "
            f"{by_id[2]} {by_id[1]!r}; say --id {text[1:]} for the id or --name {text!r} for "
            "the name"
        )

    def delete(
        self, ref: int | str, *, kind: str | None = None, space_key: str | None = None
    ) -> int:
        """Delete by id (int or ``#N``) or by name (optionally narrowed by kind / space);
        return rows deleted."""
        ref = self.resolve(ref)
        where, params = _where(ref, kind, space_key)
        with self._transaction("delete from") as con:
            changes: dict[tuple[str, str], CentreChange] = {}
            for head in self._heads(con, where, params):
                change = changes.setdefault((head[3], head[1]), CentreChange())
                self._remove_from_centre(con, head, change)
                change.rows -= 1
            n = con.execute(f"DELETE FROM embeddings WHERE {where}", params).rowcount
            self._refresh_centres(con, changes)
            return n

    def import_file(self, path: str | os.PathLike) -> list[int]:
        """Store every embedding of an `.npz` written by `export` or kept after a failed write.

        One transaction: all of them or none. Returns their ids.
        """
        embeddings = read_npz(path)
        return self._write([], [self._row(e) for e in embeddings])

    # -- reading ---------------------------------------------------------------------

    def list(
        self,
        *,
        kind: str | None = None,
        space_key: str | None = None,
        name: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[StoredRecord]:
        """Records (without vectors), newest last; optionally filtered, and paged with
        `limit` / `offset` (`count` gives the total)."""
        if kind is not None and kind not in KINDS:
            raise StoreError(f"unknown kind {kind!r}; use one of {[k.value for k in Kind]}")
        clauses, params = [], []
        for col, val in (("kind", kind), ("space_key", space_key), ("name", name)):
            if val is not None:
                clauses.append(f"{col} = ?")
                params.append(val)
        where = " AND ".join(clauses) or "1"
        sql = (
            "SELECT id, kind, name, space_key, dim, dtype, meta, created FROM embeddings"
            f" WHERE {where} ORDER BY id"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
        with self._snapshot() as con:
            state = self._file_state()
            if state != self._checked:  # once per state of the file: pages of a listing
                try:
                    _check_rows(con)
                except sqlite3.Error as exc:
                    raise self._error("cannot read", exc) from None
                self._checked = state
            try:
                rows = con.execute(sql, tuple(params)).fetchall()
            except sqlite3.Error as exc:
                if not _is_damage(exc):
                    raise self._error("cannot read", exc) from None
                rows = self._list_row_by_row(con, where, tuple(params))
        return [StoredRecord(r[0], r[1], r[2], r[3], r[4], r[5], _meta(r[6]), r[7]) for r in rows]

    def _file_state(self) -> tuple:
        """Size and time of the file and its WAL: what changes when anything is written."""
        state = []
        for p in (self.path, self.path.with_name(self.path.name + "-wal")):
            try:
                st = p.stat()
                state.append((st.st_size, st.st_mtime_ns, st.st_ino))
            except OSError:
                state.append(None)
        return tuple(state)

    def _list_row_by_row(self, con: sqlite3.Connection, where: str, params: tuple) -> list:
        """The listing when some row cannot be read whole: its metadata and time sit behind
        its vector in the file, so a damaged vector hides them; that row is listed (with
        `meta["damaged"]`) and reported, the others as usual."""
        try:
            heads = con.execute(
                f"SELECT id, kind, name, space_key, dim, dtype FROM embeddings WHERE {where}"
                " ORDER BY id",
                params,
            ).fetchall()
        except sqlite3.Error as exc:
            raise self._error("cannot read", exc) from None
        rows = []
        for head in heads:
            try:
                rest = con.execute(
                    "SELECT meta, created FROM embeddings WHERE id = ?", (head[0],)
                ).fetchone()
            except sqlite3.Error as exc:
                if not _is_damage(exc):
                    raise self._error("cannot read", exc) from None
                why = f"SQLite: {str(exc).splitlines()[0][:80]}"
                rest = (json.dumps({"damaged": why}), 0.0)
                self.report_damage(
                    DamagedEmbeddingError.of_row(head[0], head[2], head[1], why), left_out=False
                )
            rows.append((*head, *rest))
        return rows

    def report_damage(self, exc: DamagedEmbeddingError, left_out: bool = True) -> None:
        """Say once per row that it is damaged, and remember it in `skipped`."""
        if exc.row[0] not in {s[0] for s in self.skipped}:
            self.skipped.append(exc.row)
            self.notify(exc.skip_note if left_out else str(exc))

    def __len__(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM embeddings")[0][0])

    def count(self, *, kind: str | None = None, space_key: str | None = None) -> int:
        """Number of stored embeddings, optionally of one kind and / or one space."""
        clauses, params = ["1"], []
        for col, val in (("kind", kind), ("space_key", space_key)):
            if val is not None:
                clauses.append(f"{col} = ?")
                params.append(val)
        sql = f"SELECT COUNT(*) FROM embeddings WHERE {' AND '.join(clauses)}"
        return int(self._query(sql, tuple(params))[0][0])

    def summary(self) -> list[tuple[str, str, int, int]]:
        """(space_key, kind, count, first id) per space and kind, without reading rows."""
        rows = self._query(
            "SELECT space_key, kind, COUNT(*), MIN(id) FROM embeddings"
            " GROUP BY space_key, kind ORDER BY space_key, kind"
        )
        return [(k, kind, int(n), int(i)) for k, kind, n, i in rows]

    def generation(self) -> tuple[str, int] | None:
        """(store uuid, write generation): changes with every write to the store.

        None for a store of schema 1 or 2 read as it is: it keeps no generation, so
        nothing derived from it can be checked for staleness.
        """
        with self.snapshot() as snap:
            return snap.generation()

    @contextmanager
    def snapshot(self) -> Iterator[StoreSnapshot]:
        """One read transaction (`StoreSnapshot`): what it reads is one state of the store,
        whatever other processes commit meanwhile. What derived files (the vector index)
        read a store through."""
        with self._snapshot() as con:
            yield StoreSnapshot(self, con)

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
        self,
        ref: int | str,
        *,
        kind: str | None = None,
        space_key: str | None = None,
        extras: bool | Iterable[str] = True,
    ) -> TaskEmbedding:
        """One embedding by id or name; an ambiguous name (several kinds/spaces) is an error.

        A damaged row raises `DamagedEmbeddingError`, which names it. `extras`: read all of
        its extras (True), none (False) or the named ones; a damaged extra is named through
        `notify` and left out.
        """
        ref = self.resolve(ref)
        where, params = _where(ref, kind, space_key)
        with self._snapshot() as con:
            heads = self._heads(con, where, params)
            if not heads:
                hint = "; see `fute store list`"
                raise StoreError(
                    f"no embedding {ref!r}{_narrowing(kind, space_key)} in {self.path}{hint}"
                )
            if len(heads) > 1:
                options = ", ".join(f"#{h[0]} {h[1]} in {h[3]}" for h in heads[:5])
                raise StoreError(
                    f"{ref!r} names {len(heads)} embeddings ({options}); pass an id, --kind or --space"
                )
            return self._read(con, heads[0], extras=extras)

    def load(
        self,
        *,
        kind: str | None = None,
        space_key: str | None = None,
        ids: Iterable[int] | None = None,
        extras: bool | Iterable[str] = False,
    ) -> list[TaskEmbedding]:
        """Embeddings with their vectors (filtered: prefer one space at a time for big vectors).

        Damaged rows are skipped: each is reported through `notify` and kept in `skipped`.
        `extras`: none (False, the default), all (True) or the named ones; a damaged extra
        is reported and left out of its embedding.
        """
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
        out = []
        with self._snapshot() as con:
            for head in self._heads(con, where, tuple(params)):
                try:
                    out.append(self._read(con, head, extras=extras))
                except DamagedEmbeddingError as exc:
                    self.report_damage(exc)
        return out

    def _heads(self, con: sqlite3.Connection, where: str, params: tuple) -> list[tuple]:
        """(id, kind, name, space_key) of the matching rows, without reading any vector."""
        try:
            return con.execute(
                f"SELECT id, kind, name, space_key FROM embeddings WHERE {where} ORDER BY id",
                params,
            ).fetchall()
        except sqlite3.Error as exc:
            raise self._error("cannot read", exc) from None

    def _read(
        self, con: sqlite3.Connection, head: tuple, extras: bool | Iterable[str] = False
    ) -> TaskEmbedding:
        """One row with its vector, one query per row: a damaged page spoils only its row.

        `extras` (True: all, or names) are read after the vector; see `_read_extras`."""
        check = "e.checksum" if "checksum" in self._columns else "NULL"
        if "vector" in self._columns:  # schema 1 / 2: the vector inside the row
            sql = f"SELECT dtype, shape, vector, meta, {check} FROM embeddings e WHERE id = ?"
        else:
            sql = (
                f"SELECT e.dtype, e.shape, v.vector, e.meta, {check} FROM embeddings e"
                " LEFT JOIN vectors v ON v.id = e.id WHERE e.id = ?"
            )
        try:
            row = con.execute(sql, (head[0],)).fetchone()
        except sqlite3.Error as exc:
            if not _is_damage(exc):
                raise self._error("cannot read", exc) from None
            why = f"SQLite: {str(exc).splitlines()[0][:80]}"
            raise DamagedEmbeddingError.of_row(head[0], head[2], head[1], why) from None
        if row is None:  # deleted by another process since the listing
            raise StoreError(f"embedding #{head[0]} was deleted from {self.path} meanwhile")
        e = _row_to_embedding((*head[:4], *row))
        if extras is not False and "extras" in self._tables:
            e.extras = self._read_extras(con, head, None if extras is True else list(extras))
        return e

    def _read_extras(
        self, con: sqlite3.Connection, head: tuple, names: list[str] | None
    ) -> dict[str, np.ndarray]:
        """The extras of one row (all, or `names`); a damaged one is reported and left out."""
        sql, params = "SELECT name, data, checksum FROM extras WHERE id = ?", [head[0]]
        if names is not None:
            if not names:
                return {}
            sql += f" AND name IN ({','.join('?' * len(names))})"
            params.extend(names)
        out: dict[str, np.ndarray] = {}
        try:
            rows = con.execute(sql + " ORDER BY name", params).fetchall()
        except sqlite3.Error as exc:
            if not _is_damage(exc):
                raise self._error("cannot read", exc) from None
            rows = []
            self._report_extra(head, "*", f"SQLite: {str(exc).splitlines()[0][:80]}")
        for name, data, check in rows:
            try:
                if checksum(data) != check:
                    raise ExtraError("its bytes do not match their checksum")
                out[name] = decode_extra(data)
            except ExtraError as exc:
                self._report_extra(head, name, str(exc))
        return out

    def _report_extra(self, head: tuple, name: str, why: str) -> None:
        """Say once that an extra is damaged and left out; remember it in `skipped_extras`."""
        id_, kind, ename = head[0], head[1], head[2]
        if (id_, name) in {(s[0], s[1]) for s in self.skipped_extras}:
            return
        self.skipped_extras.append((id_, name, why))
        what = "its extras" if name == "*" else f"its extra {name!r}"
        self.notify(
            f"left out {what} of {kind} {ename!r} (#{id_}): damaged ({why}); the similarities "
            f"that need it skip this embedding until you embed {ename!r} again"
        )

    # -- centres of `centred-cosine` (fute.ranking.centres) ------------------------------------

    def centre(self, space_key: str, kind: str) -> tuple[np.ndarray, dict] | None:
        """The frozen centre of `kind` in a space and its provenance, or None.

        A damaged one raises `DamagedEmbeddingError`: scores made with another centre would
        silently differ from the ones made before.
        """
        if "centres" not in self._tables:
            return None
        with self._connect() as con:
            try:
                return self._centre_in(con, space_key, kind)
            except sqlite3.Error as exc:
                raise self._error("cannot read", exc) from None

    @staticmethod
    def _centre_in(con, space_key: str, kind: str) -> tuple[np.ndarray, dict] | None:
        row = con.execute(
            "SELECT vector, checksum, meta FROM centres WHERE space_key = ? AND kind = ?",
            (space_key, kind),
        ).fetchone()
        if row is None:
            return None
        blob, check, meta = row
        try:
            if checksum(blob) != check:
                raise ExtraError("its bytes do not match their checksum")
            return decode_extra(blob).astype(np.float64), _meta(meta)
        except ExtraError as exc:
            raise DamagedEmbeddingError(
                f"the frozen {kind} centre of space {space_key} is damaged ({exc}); remake it "
                f"with `fute store centre --reset --space {space_key}`"
            ) from None

    def centres(self, space_key: str | None = None) -> list[dict]:
        """Provenance of the frozen centres (space_key, kind, created, meta), no vectors."""
        if "centres" not in self._tables:
            return []
        sql = "SELECT space_key, kind, created, meta FROM centres"
        rows = self._query(
            sql + (" WHERE space_key = ?" if space_key else "") + " ORDER BY space_key, kind",
            (space_key,) if space_key else (),
        )
        return [
            {"space_key": k, "kind": kd, "created": c, "meta": _meta(m)} for k, kd, c, m in rows
        ]

    def remake_centres(self, space_key: str | None = None, kind: str | None = None) -> int:
        """Recompute the centres (of one space and / or kind, or all) from the rows stored
        now, in one transaction (what `fute store centre --reset` does: a store written by
        an older fute gets its centres); returns how many of them it keeps (a kind with
        fewer than two embeddings in a space has none)."""
        with self._transaction("write to") as con:
            pairs = set(self._centre_pairs(con, "embeddings", space_key, kind))
            pairs |= set(self._centre_pairs(con, "centres", space_key, kind))
            changes = {pair: CentreChange(unknown=True) for pair in pairs}
            return self._refresh_centres(con, changes)

    @staticmethod
    def _centre_pairs(con, table: str, space_key: str | None, kind: str | None) -> list[tuple]:
        clauses, params = ["1"], []
        for col, val in (("space_key", space_key), ("kind", kind)):
            if val is not None:
                clauses.append(f"{col} = ?")
                params.append(val)
        sql = f"SELECT DISTINCT space_key, kind FROM {table} WHERE {' AND '.join(clauses)}"
        return con.execute(sql, tuple(params)).fetchall()

    def _remove_from_centre(self, con, head: tuple, change: CentreChange) -> None:
        """Count a stored vector about to be replaced or deleted out of its centre."""
        try:
            change.add(self._read(con, head).vector, sign=-1)
        except StoreError:  # damaged: was it in the centre? only a recompute can tell
            change.unknown = True

    def _refresh_centres(self, con, changes: dict[tuple[str, str], CentreChange]) -> int:
        """Bring the centre of each changed (space, kind) up to date inside the write's
        transaction (`fute.store.centres`); returns how many of them are kept."""
        kept = 0
        for (space_key, kind), change in sorted(changes.items()):
            rows = con.execute(  # counted on the (kind, name, space) index: no row is read
                "SELECT COUNT(*) FROM embeddings WHERE kind = ? AND space_key = ?",
                (kind, space_key),
            ).fetchone()[0]
            try:
                before = self._centre_in(con, space_key, kind)
            except DamagedEmbeddingError:
                before = None
            state = change.applied(*before, rows) if before is not None else None
            if state is None:  # recompute from every row of the (space, kind)
                state = CentreChange()
                for head in self._heads(con, "kind = ? AND space_key = ?", (kind, space_key)):
                    with suppress(StoreError):  # damaged rows are left out, as from a ranking
                        state.add(self._read(con, head).vector)
                state = (state.total, state.n) if not state.unknown else (None, 0)
            total, n = state
            if total is None or n < 2:
                con.execute(
                    "DELETE FROM centres WHERE space_key = ? AND kind = ?", (space_key, kind)
                )
                continue
            meta = provenance(kind, n, rows)
            data = encode_extra(np.asarray(total / n, dtype=np.float64))
            con.execute(
                "INSERT OR REPLACE INTO centres (space_key, kind, vector, checksum, meta, created)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (space_key, kind, data, checksum(data), json.dumps(meta), time.time()),
            )
            kept += 1
        return kept

    # -- export ----------------------------------------------------------------------

    def export(
        self,
        out: str | os.PathLike,
        *,
        space_key: str | None = None,
        fmt: str | None = None,
        overwrite: bool = True,
    ) -> Path:
        """Write the store (or one space) to `.npz` (NumPy) or `.parquet`; return the path.

        NumPy: one array per space (`vectors_<i>`, rows in `ids_<i>` order) plus a JSON
        `index`; Parquet: one row per embedding with its vector as a list column. The file
        appears whole or not at all (written to a temporary file, then renamed); damaged
        rows are left out and reported through `notify`. `overwrite=False` refuses an
        existing file.
        """
        out = Path(out).expanduser()
        fmt = fmt or out.suffix.lstrip(".").lower()
        if fmt not in ("npz", "parquet"):
            raise StoreError(f"cannot export to {out.name!r}: use a .npz or .parquet file name")
        records = self.list(space_key=space_key)
        if not records:
            raise StoreError(f"nothing to export from {self.path}{_narrowing(None, space_key)}")
        if fmt == "npz":
            atomic_write(out, lambda tmp: export_npz(self, records, tmp), overwrite=overwrite)
        else:
            atomic_write(out, lambda tmp: export_parquet(self, records, tmp), overwrite=overwrite)
        return out


class RowHead(NamedTuple):
    """A stored row without its vector or metadata (`StoreSnapshot.heads`): `checksum` and
    `created` change whenever the row is replaced."""

    id: int
    kind: str
    name: str
    space_key: str
    checksum: str | None
    created: float


class StoreSnapshot:
    """The rows of a store as one read transaction saw them (`Store.snapshot()`).

    `heads(space_key)` streams the rows of a space without their vectors, `embedding(head)`
    reads one row's vector (a damaged row raises `DamagedEmbeddingError`, which the caller
    may hand to `Store.report_damage`), `generation()` the store's write generation then.
    """

    def __init__(self, store: Store, con: sqlite3.Connection) -> None:
        self.store, self._con = store, con

    def generation(self) -> tuple[str, int] | None:
        """(store uuid, write generation) in this snapshot; None for a schema-1/2 store."""
        if "vector" in self.store._columns:
            return None
        try:
            rows = dict(
                self._con.execute(
                    "SELECT key, value FROM store_info WHERE key IN ('uuid', 'generation')"
                ).fetchall()
            )
        except sqlite3.Error as exc:
            raise self.store._error("cannot read", exc) from None
        if "uuid" not in rows or "generation" not in rows:
            return None
        return rows["uuid"], int(rows["generation"])

    def heads(self, space_key: str) -> Iterator[RowHead]:
        """The rows of a space in id order, read as they are iterated (no vectors)."""
        check = "checksum" if "checksum" in self.store._columns else "NULL"
        try:
            cursor = self._con.execute(
                f"SELECT id, kind, name, space_key, {check}, created FROM embeddings"
                " WHERE space_key = ? ORDER BY id",
                (space_key,),
            )
            for row in cursor:
                yield RowHead(*row)
        except sqlite3.Error as exc:
            raise self.store._error("cannot read", exc) from None

    def embedding(self, head: RowHead, extras: bool | Iterable[str] = False) -> TaskEmbedding:
        """The embedding of one row; `DamagedEmbeddingError` when its vector is damaged."""
        return self.store._read(self._con, head, extras=extras)


# -- helpers -------------------------------------------------------------------------


def _check_embedding(e: TaskEmbedding) -> None:
    if not isinstance(e, TaskEmbedding):
        raise StoreError(f"can only store TaskEmbedding objects, got {type(e).__name__}")
    if e.kind not in KINDS:
        raise StoreError(
            f"embedding {e.name!r} has unknown kind {e.kind!r}; use one of {[k.value for k in Kind]}"
        )
    if not e.name or not e.space_key:
        raise StoreError("an embedding needs a name and a space_key to be stored")
    check_name(e.name)
    if np.asarray(e.vector).size == 0:
        raise StoreError(f"embedding {e.name!r} has an empty vector")
    try:
        check_extras(e.extras, e.name)
    except ExtraError as exc:
        raise StoreError(f"{exc}; not storing it") from None


class Name(str):
    """A reference that is a name even when it reads ``#N`` (`fute store ... --name`)."""


def looks_like_id(text: str) -> bool:
    """``#12``: how the store writes an id, so never a new embedding's name."""
    return text.startswith("#") and text[1:].isdigit()


def check_name(name: str) -> None:
    """Refuse a name that cannot be told apart from an id, or that is blank."""
    if not str(name).strip():
        raise StoreError("an embedding's name cannot be empty")
    if looks_like_id(str(name).strip()):
        raise StoreError(
            f"the name {name!r} looks like a store id (#N, as `fute store list` shows ids); "
            "choose another name"
        )


def _where(ref: int | str, kind: str | None, space_key: str | None) -> tuple[str, tuple]:
    """An int is an id, a str a name (`Store.resolve` turns a ``#N`` text into one of them)."""
    if isinstance(ref, int):
        return "id = ?", (ref,)
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
    id_, kind, name, space_key, dtype, shape, blob, meta, check = row
    try:
        if blob is None:
            raise DamagedEmbeddingError("its vector is missing from the vectors table")
        if check is not None and checksum(blob) != check:
            raise DamagedEmbeddingError("its bytes do not match their checksum")
        vector = decode_vector(blob, dtype, shape)
        meta = json.loads(meta)
    except DamagedEmbeddingError as exc:
        raise DamagedEmbeddingError.of_row(id_, name, kind, str(exc)) from None
    except ValueError as exc:
        raise DamagedEmbeddingError.of_row(
            id_, name, kind, f"its metadata is not valid JSON: {exc}"
        ) from None
    meta["store_id"] = id_
    return TaskEmbedding(vector, space_key, kind, name, meta)


def _meta(text: str) -> dict:
    try:
        meta = json.loads(text)
    except ValueError:
        return {"damaged": "metadata is not valid JSON"}
    return meta if isinstance(meta, dict) else {"damaged": "metadata is not a JSON object"}


def _check_rows(con: sqlite3.Connection) -> None:
    """Count the rows through the table and through its unique index (cheap: no vectors are
    read). A damaged page makes SQLite fail here or makes the counts disagree, where a plain
    listing could silently show fewer rows or none."""
    n_table = con.execute("SELECT COUNT(*) FROM embeddings NOT INDEXED").fetchone()[0]
    for column, index in (
        ("name", "sqlite_autoindex_embeddings_1"),
        ("space_key", "embeddings_space"),
    ):
        sql = f"SELECT COUNT({column}) FROM embeddings INDEXED BY {index}"
        n_index = con.execute(sql).fetchone()[0]
        if n_index != n_table:
            raise sqlite3.DatabaseError(
                f"database disk image is malformed ({n_table} rows in the table, "
                f"{n_index} in the index {index})"
            )


def _is_damage(exc: sqlite3.Error) -> bool:
    """Errors that come from damaged bytes in the file (not a lock, a full disk, ...)."""
    msg = str(exc)
    return "malformed" in msg or "Could not decode" in msg


def _is_current(con: sqlite3.Connection) -> bool:
    """Whether the file already has this schema version (then opening writes nothing)."""
    try:
        (version,) = con.execute(
            "SELECT value FROM store_info WHERE key = 'schema_version'"
        ).fetchone() or ("",)
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return False
        raise
    return version == str(SCHEMA_VERSION) and "vector" not in _columns(con)


def _create_or_migrate(con: sqlite3.Connection) -> None:
    """Create the tables, or bring a schema-1/2 store to this version (inside a transaction).

    Version 1 lacks the checksum column; versions 1 and 2 keep each vector inside its row,
    where it is moved to the `vectors` table (same ids; the column is then dropped).
    """
    for statement in _SCHEMA.split(";\n"):
        if statement.strip():
            con.execute(statement if "TRIGGER" not in statement else statement + ";")
    cols = _columns(con)
    if "checksum" not in cols:  # a version-1 store: add the column
        con.execute("ALTER TABLE embeddings ADD COLUMN checksum TEXT")
    if "vector" in cols:  # versions 1 and 2: vectors move to their own table
        con.execute("INSERT OR REPLACE INTO vectors (id, vector) SELECT id, vector FROM embeddings")
        con.execute("ALTER TABLE embeddings DROP COLUMN vector")
    con.execute(
        "INSERT OR REPLACE INTO store_info (key, value) VALUES ('schema_version', ?)",
        (str(SCHEMA_VERSION),),
    )
    con.execute("INSERT OR IGNORE INTO store_info (key, value) VALUES ('generation', '0')")
    con.execute(
        "INSERT OR IGNORE INTO store_info (key, value) VALUES ('uuid', ?)", (uuid.uuid4().hex,)
    )


def _columns(con: sqlite3.Connection) -> set[str]:
    return {r[1] for r in con.execute("PRAGMA table_info(embeddings)").fetchall()}


def _rollback(con: sqlite3.Connection) -> None:
    """Roll back if a transaction is still open (SQLite ends some failed ones itself)."""
    if con.in_transaction:
        with suppress(sqlite3.Error):
            con.execute("ROLLBACK")


def _warn(message: str) -> None:
    warnings.warn(message, StoreWarning, stacklevel=3)


def _short(value: object) -> str:
    text = str(value)
    return text[:12] if len(text) == 64 and all(c in "0123456789abcdef" for c in text) else text


def _lookup(meta: dict, path: tuple[str, ...]) -> object:
    for key in path:
        if not isinstance(meta, dict):
            return None
        meta = meta.get(key)
    return meta


def _replacement_note(row: tuple, old: tuple) -> str:
    """`replaced dataset 'x' (#3) in space K: data hash a -> b, n 800 -> 64`."""
    kind, name, space_key = row[:3]
    new_meta, old_meta = json.loads(row[7]), _meta(old[1])
    diffs = []
    for path, words in _COMPARED:
        a, b = _lookup(old_meta, path), _lookup(new_meta, path)
        if a != b:
            diffs.append(f"{words} {_short(a) if a is not None else 'unknown'} -> {_short(b)}")
    if old[2] is not None and old[2] != row[9]:
        diffs.append("vector changed")
    what = ", ".join(diffs) if diffs else "same data, model and vector"
    return f"replaced the stored {kind} {name!r} (#{old[0]}) in space {space_key}: {what}"


def _safe_name(text: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_.+@" else "-" for c in text)
    return keep.strip(".-")[:80] or "embedding"


def _pending_record(local_id: int, e: TaskEmbedding) -> dict:
    meta = {k: v for k, v in e.meta.items() if k != "store_id"}
    return {
        "id": local_id,
        "kind": e.kind,
        "name": e.name,
        "space_key": e.space_key,
        "dim": int(np.asarray(e.vector).size),
        "dtype": "float32",
        "created": time.time(),
        "meta": meta,
    }


def _free_bytes(folder: Path) -> int:
    """Bytes free to this user on the disk holding `folder` (a large number if unknown)."""
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return 1 << 62
