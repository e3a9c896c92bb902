"""The files a store writes and reads besides its database: `.npz` / `.parquet` exports and
the `.npz` of embeddings kept after a failed write (the same layout, read by `read_npz`).

Every file appears whole or not at all (`atomic_write`: a temporary file, then a rename).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from fute.core.embedding import TaskEmbedding
from fute.core.errors import StoreError
from fute.core.jsonio import json_default


def atomic_write(out: Path, write: Callable[[Path], None], *, overwrite: bool) -> None:
    """Call `write(tmp)` on a temporary file next to `out`, then rename it to `out`.

    Failures (a folder that cannot be written, a full disk) become one StoreError, and
    neither a partial file nor a changed `out` is left behind.
    """
    if out.is_dir():
        raise StoreError(f"{out} is a folder; give a file name such as {out / 'embeddings.npz'}")
    if out.exists() and not overwrite:
        raise StoreError(f"{out} already exists; pass --force to replace it or choose another name")
    tmp = None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial")
        os.close(fd)
        tmp = Path(name)
        write(tmp)
        os.replace(tmp, out)
        tmp = None
    except OSError as exc:
        raise StoreError(
            f"cannot write {out}: {exc.strerror or exc}; choose a place you can write to"
        ) from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def write_npz(items: list[tuple], out: Path) -> None:
    """The `.npz` layout of exports and kept embeddings: per space, one array of vectors
    (`vectors_<i>`, or `vectors_<i>_<j>` when dimensions differ) whose rows follow `ids_<i>`;
    `index` holds the records (kind, name, space_key, meta, and the names of their extras)
    as JSON; extra X of record id N is the array `extra_N__X`. Items are (record, vector)
    or (record, vector, extras)."""
    arrays: dict[str, np.ndarray] = {}
    index = []
    by_space: dict[str, list[tuple[dict, np.ndarray]]] = {}
    for rec, vec, *rest in items:
        extras = rest[0] if rest else {}
        if extras:
            rec = {**rec, "extras": sorted(extras)}
            for name, arr in extras.items():
                arrays[f"extra_{rec['id']}__{name}"] = np.asarray(arr)
        by_space.setdefault(rec["space_key"], []).append((rec, np.asarray(vec).ravel()))
    for i, (space, group) in enumerate(sorted(by_space.items())):
        if len({v.size for _, v in group}) == 1:
            arrays[f"vectors_{i}"] = np.stack([v for _, v in group])
        else:  # one space should have one dimension; keep ragged rows apart rather than fail
            for j, (_, v) in enumerate(group):
                arrays[f"vectors_{i}_{j}"] = v
        arrays[f"ids_{i}"] = np.array([r["id"] for r, _ in group], dtype=np.int64)
        index.append({"space_key": space, "array": f"vectors_{i}", "ids": f"ids_{i}"})
    records = [r for group in by_space.values() for r, _ in group]
    arrays["index"] = np.array(
        json.dumps({"spaces": index, "records": records}, default=json_default)
    )
    with open(out, "wb") as fh:
        np.savez_compressed(fh, **arrays)


def read_npz(path: str | os.PathLike) -> list[TaskEmbedding]:
    """The embeddings of an `.npz` written by `Store.export` or kept after a failed write."""
    import zipfile

    path = Path(path).expanduser()
    if not path.is_file():
        raise StoreError(f"no file {path}; give an .npz written by `fute store export`")
    out = []
    try:
        with np.load(path, allow_pickle=False) as z:
            index = json.loads(str(z["index"]))
            records = {int(r["id"]): r for r in index["records"]}
            for entry in index["spaces"]:
                ids = [int(i) for i in z[entry["ids"]]]
                if entry["array"] in z.files:
                    vectors = list(z[entry["array"]])
                else:  # ragged: one array per row
                    vectors = [z[f"{entry['array']}_{j}"] for j in range(len(ids))]
                for rid, vector in zip(ids, vectors, strict=True):
                    r = records[rid]
                    meta = {k: v for k, v in (r.get("meta") or {}).items() if k != "store_id"}
                    vector = np.asarray(vector, dtype=np.float32)
                    extras = {x: z[f"extra_{rid}__{x}"] for x in r.get("extras") or ()}
                    out.append(
                        TaskEmbedding(vector, r["space_key"], r["kind"], r["name"], meta, extras)
                    )
    except (OSError, EOFError, KeyError, ValueError, TypeError, zipfile.BadZipFile) as exc:
        raise StoreError(
            f"cannot read {path}: not an .npz written by `fute store export` or kept after a "
            f"failed write ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        ) from None
    return out


def export_npz(store: Any, records: list, out: Path) -> None:
    """`records` (`StoredRecord`s) of `store` (a `Store`) as an `.npz` (`write_npz`)."""
    by_id = {r.id: r for r in records}
    items = []
    for space in sorted({r.space_key for r in records}):
        ids = [r.id for r in records if r.space_key == space]
        # damaged rows are reported and left out
        for e in store.load(space_key=space, ids=ids, extras=True):
            items.append((by_id[e.meta["store_id"]].to_dict(), np.asarray(e.vector), e.extras))
    if not items:
        raise StoreError(f"nothing to export from {store.path}: every selected row is damaged")
    write_npz(items, out)


def export_parquet(store: Any, records: list, out: Path) -> None:
    """`records` of `store` as Parquet: one row per embedding, its vector a list column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    try:
        for r in records:  # one row at a time: never all vectors in memory
            loaded = store.load(ids=[r.id])  # damaged rows are reported and left out
            if not loaded:
                continue
            table = pa.table(
                {
                    "id": [r.id],
                    "kind": [r.kind],
                    "name": [r.name],
                    "space_key": [r.space_key],
                    "dim": [r.dim],
                    "created": [r.created],
                    "meta": [json.dumps(r.meta, default=json_default)],
                    "vector": pa.array(
                        [np.asarray(loaded[0].vector, dtype=np.float32).ravel()],
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
    if writer is None:
        raise StoreError(f"nothing to export from {store.path}: every selected row is damaged")
