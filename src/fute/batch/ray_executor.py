"""The Ray executor of `fute.embed_batch`: one Ray task per embedding.

Each job becomes one task of `fute.batch.worker.embed_job` asking for `threads` CPUs. Ray reuses a
worker process for many tasks, and the surrogate and model backends are memoised per
process, so each worker process loads them once. The driver waits on the tasks
(`ray.wait`) and hands each result to the store as soon as it arrives. A task whose worker
process or node dies is run again by Ray (`max_retries`); an error raised by the job itself
is not retried, it fails that job only.

Workers load data sets and the pool from their own fute cache (catalogue names) or from
the given path (files), so a data file must be readable at the same path on every node
(a shared file system), and every node needs the same fute, torch and surrogate.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from fute.batch.jobs import Job
from fute.batch.worker import embed_job
from fute.core.errors import FuteError


def import_ray():
    """The `ray` module, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise FuteError(
            "the ray executor needs Ray, which is not installed; pip install 'fute[ray]' "
            "(or use --executor local)"
        ) from None
    return ray


def _connect(ray, address: str | None) -> bool:
    """Connect to the cluster (or Ray's default); True when this call started the session."""
    if ray.is_initialized():
        return False
    try:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f" at {address}" if address else ""
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise FuteError(
            f"cannot connect to a Ray cluster{where}: {first}; start one with `ray start "
            "--head` or give its address (host:port or auto)"
        ) from None
    return True


def _cause(exc: BaseException) -> BaseException:
    """The job's own exception inside Ray's wrapper, or Ray's error (a worker that died)."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc


def run_on_ray(
    space_args: dict,
    jobs: list[Job],
    threads: int,
    *,
    address: str | None = None,
    max_retries: int = 3,
) -> Iterator[tuple[Job, Any]]:
    """Yield (job, (vector, meta, extras) or the exception) for each job as its task ends."""
    ray = import_ray()
    started = _connect(ray, address)
    try:
        task = ray.remote(embed_job).options(
            num_cpus=threads, max_retries=max_retries, retry_exceptions=False
        )
        pending = {task.remote(space_args, job, threads): job for job in jobs}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                job = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except Exception as exc:  # the job's error, or its worker died too often
                    result = _cause(exc)
                yield job, result
    finally:
        if started:
            ray.shutdown()
