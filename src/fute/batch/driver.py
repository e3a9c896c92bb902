"""Embedding batches: many data sets, models and prompted LLMs in one space, locally or on Ray.

    import fute
    result = fute.embed_batch("jobs.yaml")                                  # this process
    result = fute.embed_batch("jobs.yaml", executor="ray", address="auto")  # a Ray cluster
    print(result.summary())

The jobs (a jobs file, see `fute.batch.jobs`, or what such a file holds) are checked first;
jobs whose (kind, name) is already stored in the batch's space are skipped, so a rerun only
does what is missing. Each remaining job is one call of `embed_job` on a worker: the
worker returns ``(vector, meta, extras)`` and never touches the store; this process (the driver)
is the only writer and stores each embedding as soon as it arrives. A job that fails is
reported with a one-line error and the others go on.

Same results everywhere: a worker runs each embedding on exactly `threads` torch threads
(default 1; a Ray task asks for as many CPUs), because the thread count changes float
rounding in the last bits of a Fisher vector. With the same threads, the same batch gives
bit-identical vectors in this process and on any Ray worker of the same software (the
Fisher pass's compiled kernel or its torch path, recorded in ``meta["training"]``, must be
the same too: a node without a C compiler uses the torch path).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from fute.batch.jobs import BatchFileError, Job, make_batch, read_jobs_file
from fute.batch.worker import DEFAULT_THREADS, _model, embed_job
from fute.core.errors import FuteError
from fute.core.progress import progress_bar

EXECUTORS = ("local", "ray")


@dataclass
class JobOutcome:
    """What became of one job: ``done`` (stored as `id`), ``skipped`` or ``failed``."""

    job: Job
    status: str
    error: str = ""
    id: int | None = None
    seconds: float | None = None

    def to_dict(self) -> dict:
        return {
            "kind": self.job.kind,
            "name": self.job.name,
            "job": self.job.where,
            "status": self.status,
            "error": self.error or None,
            "id": self.id,
            "seconds": self.seconds,
        }


@dataclass
class BatchResult:
    """The outcome of every job, in the jobs file's order, and the space they are in."""

    space_key: str
    executor: str
    outcomes: list[JobOutcome] = field(default_factory=list)
    seconds: float = 0.0

    def _with(self, status: str) -> list[JobOutcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def done(self) -> list[JobOutcome]:
        return self._with("done")

    @property
    def skipped(self) -> list[JobOutcome]:
        return self._with("skipped")

    @property
    def failed(self) -> list[JobOutcome]:
        return self._with("failed")

    def summary(self) -> str:
        """``3 done, 1 skipped, 1 failed in 42.0 s (ray)`` and one line per failed job."""
        lines = [
            f"{len(self.done)} done, {len(self.skipped)} skipped, {len(self.failed)} failed "
            f"in {self.seconds:.1f} s ({self.executor})"
        ]
        lines += [f"failed {o.job.label} ({o.job.where}): {o.error}" for o in self.failed]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "space_key": self.space_key,
            "executor": self.executor,
            "done": len(self.done),
            "skipped": len(self.skipped),
            "failed": len(self.failed),
            "seconds": self.seconds,
            "jobs": [o.to_dict() for o in self.outcomes],
        }


def one_line(exc: BaseException) -> str:
    """A job's error as one line: a fute error's message, otherwise its type and message."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    if isinstance(exc, FuteError):
        return first or type(exc).__name__
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


# -- the driver's side ------------------------------------------------------------------------
def _named(jobs: list[Job]) -> tuple[list[Job], list[JobOutcome]]:
    """Give model jobs their default names (the model's, as `fute embed model` stores them).

    Model objects are built without loading weights, so this is cheap; a spec that cannot
    be read fails its job here. Two jobs with the same (kind, name) make a `BatchFileError`.
    """
    from fute.models.protocol import model_name

    named, failed = [], []
    for job in jobs:
        if job.name:
            named.append(job)
            continue
        try:
            named.append(replace(job, name=model_name(_model(job))))
        except Exception as exc:  # a bad spec fails its job only
            failed.append(JobOutcome(replace(job, name=job.source), "failed", one_line(exc)))
    seen: dict[tuple[str, str], Job] = {}
    for job in named:
        first = seen.setdefault((job.kind, job.name), job)
        if first is not job:
            raise BatchFileError(
                f"{job.where}: {job.label} is also {first.where}; give one of them a name"
            )
    return named, failed


def _check_vector(job: Job, vector: Any, meta: dict, space_key: str) -> None:
    import numpy as np

    key = (meta.get("space") or {}).get("key")
    if key != space_key:
        raise FuteError(
            f"the worker computed space {key!r}, not the batch's {space_key!r}; every node "
            "needs the same fute, surrogate and settings"
        )
    if not isinstance(vector, np.ndarray) or vector.ndim != 1 or not np.isfinite(vector).all():
        raise FuteError("the worker returned no finite 1-D vector")


def _local(space_args: dict, jobs: list[Job], threads: int, **_: Any) -> Iterator[tuple[Job, Any]]:
    """Run each job in this process, one after the other."""
    for job in jobs:
        try:
            yield job, embed_job(space_args, job, threads)
        except Exception as exc:  # one job's failure must not stop the others
            yield job, exc


def embed_batch(
    jobs: Any,
    executor: str = "local",
    address: str | None = None,
    store: Any = None,
    *,
    threads: int = DEFAULT_THREADS,
    max_retries: int = 3,
    progress: bool | None = None,
    on_outcome: Callable[[JobOutcome], None] | None = None,
) -> BatchResult:
    """Compute and store every missing embedding of a batch; see the module docstring.

    `jobs`: a jobs file path (YAML or JSONL), what a YAML jobs file holds (a dict), a list
    of JSONL-style entries, or a `Batch`. `executor`: ``local`` (this process) or ``ray``
    (`address`: a Ray address, ``auto``, or None for Ray's default: ``RAY_ADDRESS`` or a new
    local Ray). `store`: a `Store`, a path, or None for the default store. `threads`: torch
    threads per embedding (and CPUs per Ray task). `max_retries`: how often Ray runs a
    task again whose worker died. `on_outcome` is called for each job as it ends.
    """
    from fute.space import Space
    from fute.store import Store

    if executor not in EXECUTORS:
        raise FuteError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise FuteError(f"threads must be a positive integer, got {threads!r}")
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise FuteError(f"max_retries must be a non-negative integer, got {max_retries!r}")
    if address is not None and executor != "ray":
        raise FuteError("address applies to executor='ray' only; drop it or use the ray executor")
    batch = read_jobs_file(jobs) if isinstance(jobs, str | os.PathLike) else make_batch(jobs)
    run = _local
    if executor == "ray":
        from fute.batch.ray_executor import import_ray
        from fute.batch.ray_executor import run_on_ray as run

        import_ray()  # a missing extra fails before any work

    start = time.perf_counter()
    st = store if isinstance(store, Store) else Store(store)
    space_key = Space(**batch.space, progress=False).key
    named, outcomes = _named(batch.jobs)
    todo = []
    for job in named:
        if st.contains(job.kind, job.name, space_key):
            outcomes.append(JobOutcome(job, "skipped"))
        else:
            todo.append(job)
    for outcome in outcomes:
        if on_outcome is not None:
            on_outcome(outcome)
    with progress_bar(show=progress, transient=False) as bar:
        task = bar.add_task(f"embedding {len(todo)} of {len(batch.jobs)}", total=len(batch.jobs))
        bar.advance(task, len(outcomes))
        stream: Iterable = (
            run(batch.space, todo, threads, address=address, max_retries=max_retries)
            if todo
            else ()
        )
        for job, result in stream:
            outcome = _store(st, job, result, space_key)
            outcomes.append(outcome)
            bar.advance(task)
            if on_outcome is not None:
                on_outcome(outcome)
    order = {job.where: i for i, job in enumerate(batch.jobs)}
    outcomes.sort(key=lambda o: order.get(o.job.where, len(order)))
    return BatchResult(space_key, executor, outcomes, round(time.perf_counter() - start, 2))


def _store(st: Any, job: Job, result: Any, space_key: str) -> JobOutcome:
    """Store one finished job's embedding (the driver is the only writer)."""
    from fute.core.embedding import TaskEmbedding

    if isinstance(result, BaseException):
        return JobOutcome(job, "failed", one_line(result))
    vector, meta, *rest = result
    try:
        _check_vector(job, vector, meta, space_key)
        emb = TaskEmbedding(
            vector=vector,
            space_key=space_key,
            kind=job.kind,
            name=job.name,
            meta=meta,
            extras=rest[0] if rest else {},
        )
        row = st.add(emb)
    except FuteError as exc:
        return JobOutcome(job, "failed", one_line(exc))
    return JobOutcome(job, "done", id=row, seconds=meta.get("seconds"))


def print_outcome(outcome: JobOutcome, file=None) -> None:
    """One line per ended job (what the CLI prints as results arrive)."""
    file = file or sys.stderr
    text = {"done": "stored", "skipped": "skipped (already stored)", "failed": "failed"}
    line = f"{text[outcome.status]} {outcome.job.label}"
    if outcome.error:
        line += f": {outcome.error}"
    file.write(line + "\n")
    file.flush()
