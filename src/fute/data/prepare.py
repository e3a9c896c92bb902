"""`fute data prepare`: fetch, verify and build data sets and the pool in few passes.

Members of one archive are extracted together first (one streaming pass over the
358 MB BIG-bench sdist instead of one per task); then each data set is built. Anything
already complete is skipped, so a second run downloads and writes nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from tqdm import tqdm

from fute.data.catalog import dataset_dir, get_entry, list_datasets, prepare_dataset
from fute.data.extract import extract_members
from fute.data.pool import prepare_pool
from fute.data.storage import is_complete


def prepare(
    names: Iterable[str] = (),
    cache: str | os.PathLike | None = None,
    pool: bool | None = None,
    quiet: bool = False,
) -> list[str]:
    """Prepare the named data sets (all when none is named) and, by default when no name
    is given, the pool. Returns the names that were built in this call."""
    names = list(names)
    entries = [get_entry(n) for n in names] if names else list_datasets()
    with_pool = (not names) if pool is None else pool
    todo = [e for e in entries if not is_complete(dataset_dir(e.name, cache))]
    by_archive: dict[str, set[str]] = {}
    for e in todo:
        by_archive.setdefault(e.archive, set()).update(e.members)
    for archive_id, members in sorted(by_archive.items()):
        extract_members(archive_id, members, cache, quiet=quiet)
    for e in tqdm(todo, desc="data sets", unit="set", disable=quiet or not todo):
        prepare_dataset(e, cache, quiet=quiet)
    if with_pool:
        prepare_pool(
            cache,
            quiet=quiet,
            progress=lambda xs: tqdm(xs, desc="pool sources", unit="src", disable=quiet),
        )
    return [e.name for e in todo]
