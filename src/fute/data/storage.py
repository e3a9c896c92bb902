"""The one on-disk format of a prepared data set: a folder of Parquet splits + meta.json.

    datasets/<name>/train.parquet   columns: text, [text_pair], label
    datasets/<name>/dev.parquet
    datasets/<name>/test.parquet
    datasets/<name>/meta.json       catalogue entry, sizes, provenance, format version and
                                    the sha256 of each split file (checked on every read)

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

from fute.core.errors import DataError
from fute.data.files import sha256_file

FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)  # format 1 folders (no split hashes) stay readable
SPLITS = ("train", "dev", "test")


def is_complete(folder: Path) -> bool:
    meta = folder / "meta.json"
    if not meta.is_file():
        return False
    try:
        return json.loads(meta.read_text("utf-8")).get("format") in READABLE_FORMATS
    except (OSError, ValueError):
        return False


def write_dataset(folder: Path, splits: dict[str, dict[str, list]], meta: dict) -> None:
    """Write all splits and meta.json into a temp folder, then rename it to `folder`."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        hashes = {}
        for split, columns in splits.items():
            pq.write_table(pa.table(columns), tmp / f"{split}.parquet")
            hashes[split] = sha256_file(tmp / f"{split}.parquet")
        (tmp / "meta.json").write_text(
            json.dumps({**meta, "split_sha256": hashes, "format": FORMAT_VERSION}, indent=1) + "\n"
        )
        if folder.exists():  # a stale or older-format copy
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_split(folder: Path, split: str) -> dict[str, list]:
    """The columns of one split; its sha256 is checked against meta.json first, so a
    truncated or edited file raises DataError instead of giving wrong rows."""
    path = folder / f"{split}.parquet"
    if not path.is_file():
        have = sorted(p.stem for p in folder.glob("*.parquet"))
        raise DataError(f"{folder.name} has no split {split!r}; choose one of {have}")
    want = read_meta(folder).get("split_sha256", {}).get(split)
    if want and sha256_file(path) != want:
        raise DataError(f"{path.name} of {folder.name} does not match its sha256 in meta.json")
    try:
        return pq.read_table(path).to_pydict()
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise DataError(f"{path.name} of {folder.name} cannot be read ({exc})") from None


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
