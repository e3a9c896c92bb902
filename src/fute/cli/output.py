"""What the product commands share: the store option, JSON output, rich console and progress.

Human-readable output and progress go to stderr-safe rich consoles; `--json` prints one JSON
document on stdout and nothing else there, so `fute ... --json | jq` always works.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress

from fute.core.errors import FuteError
from fute.core.kinds import Kind
from fute.core.progress import progress_bar

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)

StoreOption = typer.Option(
    None,
    "--store",
    envvar="FUTE_STORE",
    help="SQLite store file (default: <cache>/store.sqlite).",
    show_default=False,
)
JsonOption = typer.Option(False, "--json", help="Print one JSON document on stdout.")


def open_store(path: Path | None, *, readonly: bool = False, create: bool = True):
    """The store at `path` (default: the cache's). Commands that only read pass
    `readonly=True`: the file is opened read-only and a missing one is refused, not created;
    `create=False` refuses a missing store but may write to an existing one."""
    from fute.store import Store

    return Store(path, readonly=readonly, create=create, notify=warn)


def space_key_of(st, space: str | None) -> str | None:
    """A `--space` value as a full key: a short id (`fisher-s0-3fa2c1`) is looked up."""
    from fute.space import short_key

    if space is None:
        return None
    matches = [k for k in st.spaces() if short_key(k) == space.strip()]
    return matches[0] if len(matches) == 1 else space


def warn(message: str) -> None:
    """One `warning:` line on stderr (a replaced row, a damaged row left out)."""
    sys.stderr.write(f"warning: {message}\n")
    sys.stderr.flush()


def kind_of(value: str | None, option: str = "--kind") -> Kind | None:
    """The kind a CLI word names (`Kind.parse`: `prompt` is `prompted-lm`); an unknown word
    is a one-line error naming the option."""
    if value is None:
        return None
    try:
        return Kind.parse(value)
    except ValueError:
        words = ", ".join(k.word for k in Kind)
        raise FuteError(f"{option} must be one of {words} (got {value!r})") from None


def emit_json(obj: object) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=_json_default) + "\n")
    sys.stdout.flush()


def _json_default(obj: object) -> object:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return str(obj)


def progress(transient: bool = True) -> Progress:
    """A rich progress display on stderr (bars, counts, elapsed time)."""
    return progress_bar(transient=transient, console=err)


@contextmanager
def working(message: str) -> Iterator[None]:
    """A spinner for one long library call whose inner steps we cannot count."""
    if err.is_terminal:
        with err.status(message):
            yield
    else:
        yield
