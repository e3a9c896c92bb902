"""The rich progress bar on stderr that fute's long jobs share (bars, counts, elapsed time).

Shown on a terminal, or anywhere with ``FUTE_PROGRESS=1``; stdout stays free for ``--json``.
"""

from __future__ import annotations

import os

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)


def progress_bar(
    show: bool | None = None, transient: bool = True, console: Console | None = None
) -> Progress:
    """A progress display on `console` (default: a new stderr console); `show=None` decides
    by the terminal and ``FUTE_PROGRESS``."""
    console = console or Console(stderr=True, highlight=False)
    if show is None:
        show = console.is_terminal or os.environ.get("FUTE_PROGRESS") == "1"
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=transient,
        disable=not show,
    )
