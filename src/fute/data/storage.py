"""The one on-disk format of a prepared data set: a folder of Parquet splits + meta.json.

    datasets/<name>/train.parquet   columns: text, [text_pair], label
    datasets/<name>/dev.parquet
    datasets/<name>/test.parquet
    datasets/<name>/meta.json       catalogue entry, sizes, provenance, format version

The folder is built under a temporary name and renamed into place in one step, so a
killed run leaves either a complete data set or none (the rename is atomic on POSIX).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from fute.errors import DataError

FORMAT_VERSION = 1
SPLITS = ("train", "dev", "test")


def is_complete(folder: Path) -> bool:
    meta = folder / "meta.json"
    if not meta.is_file():
        return False
    try:
        return json.loads(meta.read_text("utf-8")).get("format") == FORMAT_VERSION
    except (OSError, ValueError):
        return False


def write_dataset(folder: Path, splits: dict[str, dict[str, list]], meta: dict) -> None:
    """Write all splits and meta.json into a temp folder, then rename it to `folder`."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        for split, columns in splits.items():
            pq.write_table(pa.table(columns), tmp / f"{split}.parquet")
        (tmp / "meta.json").write_text(
            json.dumps({**meta, "format": FORMAT_VERSION}, indent=1) + "\n"
        )
        if folder.exists():  # a stale or older-format copy
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_split(folder: Path, split: str) -> dict[str, list]:
    path = folder / f"{split}.parquet"
    if not path.is_file():
        have = sorted(p.stem for p in folder.glob("*.parquet"))
        raise DataError(f"{folder.name} has no split {split!r}; choose one of {have}")
    return pq.read_table(path).to_pydict()


def read_meta(folder: Path) -> dict:
    return json.loads((folder / "meta.json").read_text("utf-8"))


def write_table_atomic(path: Path, columns: dict[str, list], meta: dict | None = None) -> None:
    """One Parquet file written under a temp name and renamed (for pool sources)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table(columns)
    if meta is not None:
        table = table.replace_schema_metadata({"fute": json.dumps(meta)})
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
