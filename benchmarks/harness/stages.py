"""The stages of a run: each one's wall time, printed as it starts and ends (the progress
log of a benchmark) and recorded in its result."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Stages:
    """Wall time of each named stage of a run (seconds), to show where the time goes."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def __call__(self, name: str):
        start = time.perf_counter()
        print(f"[{time.strftime('%H:%M:%S')}] {name} ...", flush=True)
        try:
            yield
        finally:
            took = time.perf_counter() - start
            self.seconds[name] = round(self.seconds.get(name, 0.0) + took, 2)
            print(f"[{time.strftime('%H:%M:%S')}] {name}: {took:.1f} s", flush=True)


def quiet_libraries() -> None:
    """No per-load progress bars from transformers: the stage log is the progress report."""
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:
        pass
