"""Which data can be had, and why not: the static check of a file's sources and the
remembered reason of the last failed fetch (shown by `fute data list` and `fute data pool`).

A file is *available* when its verified copy is cached, a data mirror is configured, or one
of its registry archives is still served. A file that only an upstream URL can give is
marked unavailable with that reason (the URL is still tried when the data is asked for,
so an online machine gets it). Failures are remembered per data set or pool source in
``<cache>/<kind>/.unavailable.json`` and cleared when the item is built.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from fute.core.paths import cache_subdir
from fute.data.archives import get_archive
from fute.data.files import MIRROR_ENV, FileSpec, local_path


def file_status(spec: FileSpec, cache=None) -> tuple[bool, str]:
    """(available, why not) without touching the network."""
    if local_path(spec, cache).exists() or os.environ.get(MIRROR_ENV, "").strip():
        return True, ""
    if spec.registry_sources():
        return True, ""
    withdrawn = [get_archive(s.archive) for s in spec.sources if s.archive]
    urls = [s.url for s in spec.sources if s.url]
    why = "; ".join(f"{a.package}=={a.version} withdrawn from {a.registry}" for a in withdrawn)
    if urls:
        host = urls[0].split("/")[2] if "://" in urls[0] else urls[0]
        why = (why + "; " if why else "") + f"only upstream ({host}), tried when asked for"
    return False, why or "no source declared"


def _failures_file(kind: str, cache) -> Path:
    return cache_subdir(kind, cache) / ".unavailable.json"


def _read(kind: str, cache) -> dict[str, str]:
    path = _failures_file(kind, cache)
    try:
        return json.loads(path.read_text("utf-8")) if path.is_file() else {}
    except (OSError, ValueError):
        return {}


def _write(kind: str, cache, data: dict[str, str]) -> None:
    path = _failures_file(kind, cache)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".unavailable.", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def record_failure(kind: str, name: str, reason: str, cache=None) -> None:
    data = _read(kind, cache)
    data[name] = reason
    _write(kind, cache, data)


def clear_failure(kind: str, name: str, cache=None) -> None:
    data = _read(kind, cache)
    if data.pop(name, None) is not None:
        _write(kind, cache, data)


def recorded_failure(kind: str, name: str, cache=None) -> str | None:
    return _read(kind, cache).get(name)
