"""The data files of the package, read once: catalogue entries, pool sources, file specs.

- ``catalog/*.toml``: ``[[dataset]]`` entries (one per labelled set) and the ``[files.ID]``
  they read;
- ``pool.toml``: the pool's ``version``, its ``[[source]]`` entries and their files;
- ``archives.toml``: the registry archives that sources point into (`fute.data.archives`).

A file may be declared in several of these (a set and a pool source reading the same
file); every declaration must give the same hash. Everything is checked when loaded, so a
typo in a data file is one error naming the file, not a failure deep inside a reader.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from fute.core.errors import DataError
from fute.data.files import FileSpec, merge_specs, parse_file_spec
from fute.data.tomlfile import load_toml

CATALOG_DIR = "catalog"
POOL_FILE = "pool.toml"


def _resources():
    return resources.files("fute.data")


@lru_cache(maxsize=1)
def raw_tables() -> dict:
    """{"datasets": [(file name, entry)], "pool": {...}, "files": {id: FileSpec}}."""
    root = _resources()
    files: dict[str, FileSpec] = {}
    datasets = []
    folder = root.joinpath(CATALOG_DIR)
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".toml"))
    for name in names:
        where = f"{CATALOG_DIR}/{name}"
        table = load_toml(folder.joinpath(name), where)
        _unknown(table, {"dataset", "files"}, where)
        datasets += [(where, d) for d in table.get("dataset", [])]
        for fid, raw in table.get("files", {}).items():
            merge_specs(files, parse_file_spec(fid, raw, where))
    pool = load_toml(root.joinpath(POOL_FILE), POOL_FILE)
    _unknown(pool, {"version", "source", "files", "about"}, POOL_FILE)
    for fid, raw in pool.get("files", {}).items():
        merge_specs(files, parse_file_spec(fid, raw, POOL_FILE))
    return {"datasets": datasets, "pool": pool, "files": files}


def _unknown(table: dict, allowed: set[str], where: str) -> None:
    extra = set(table) - allowed
    if extra:
        raise DataError(f"{where}: unknown top-level keys {sorted(extra)}")


def file_specs() -> dict[str, FileSpec]:
    return raw_tables()["files"]


def file_spec(file_id: str, where: str = "") -> FileSpec:
    try:
        return file_specs()[file_id]
    except KeyError:
        raise DataError(f"{where or 'data files'}: no file {file_id!r} is declared") from None
