"""`fute data prepare`: fetch, verify and build data sets and the pool.

Anything already complete is skipped, so a second run downloads and writes nothing. A set or
pool source whose files cannot be had (an archive withdrawn from its registry, an upstream
server out of reach) does not stop the others: it is skipped with its reason, and the run
ends with one summary line. Naming such a set explicitly is an error.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from tqdm import tqdm

from fute.core.errors import UnavailableError
from fute.data.catalog import dataset_dir, get_entry, list_datasets, prepare_dataset
from fute.data.pool import pool_sources, pool_version, prepare_pool
from fute.data.storage import is_complete


@dataclass
class PrepareReport:
    built: list[str] = field(default_factory=list)
    ready: list[str] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)
    pool_failed: dict[str, str] = field(default_factory=dict)
    pool: bool = False

    def summary(self) -> str:
        line = (
            f"data sets: {len(self.built)} built, {len(self.ready)} already ready, "
            f"{len(self.unavailable)} unavailable"
        )
        if self.unavailable:
            line += f" ({', '.join(sorted(self.unavailable))}; `fute data list` says why)"
        if self.pool:
            n = len(pool_sources())
            line += f"; pool v{pool_version()}: {n - len(self.pool_failed)}/{n} sources ready"
            if self.pool_failed:
                line += f" (unavailable: {', '.join(sorted(self.pool_failed))})"
        return line


def prepare(
    names: Iterable[str] = (),
    cache: str | os.PathLike | None = None,
    pool: bool | None = None,
    quiet: bool = False,
) -> PrepareReport:
    """Prepare the named data sets (all when none is named) and, by default when no name is
    given, the pool. A named set that cannot be had raises DataError; with no names, such
    sets are reported in the result instead."""
    names = list(names)
    entries = [get_entry(n) for n in names] if names else list_datasets()
    with_pool = (not names) if pool is None else pool
    report = PrepareReport(pool=with_pool)
    todo = []
    for e in entries:
        (report.ready if is_complete(dataset_dir(e.name, cache)) else todo).append(e)
    report.ready = [e.name for e in report.ready]
    for e in tqdm(todo, desc="data sets", unit="set", disable=quiet or not todo):
        try:
            prepare_dataset(e, cache, quiet=quiet)
            report.built.append(e.name)
        except UnavailableError as exc:
            if names:
                raise
            report.unavailable[e.name] = str(exc)
    if with_pool:
        report.pool_failed = prepare_pool(
            cache,
            quiet=quiet,
            strict=False,
            progress=lambda xs: tqdm(xs, desc="pool sources", unit="src", disable=quiet),
        )
    return report
