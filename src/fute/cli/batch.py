"""`fute embed batch JOBS`: a file of data sets, models and LLM prompts, embedded in one space.

Examples::

    fute embed batch jobs.yaml                                   # in this process
    fute embed batch jobs.yaml --executor ray --address auto     # on a running Ray cluster

Jobs already stored in the batch's space are skipped, so rerunning the same command after
a failure or an interruption computes only what is missing. Each ended job prints one line
on stderr as it ends; the summary (done / skipped / failed) comes last. Exit status 2 when
a job failed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from fute.cli.output import JsonOption, StoreOption, emit_json, err, open_store


def embed_batch_command(
    jobs: Path = typer.Argument(
        ..., help="Jobs file (.yaml or .jsonl): space, datasets, models, llms; see README."
    ),
    executor: str = typer.Option(
        "local", "--executor", help="Where the embeddings are computed: local or ray."
    ),
    address: str = typer.Option(
        None,
        "--address",
        help="Ray cluster address (host:port or auto; default: RAY_ADDRESS or a new local "
        "Ray). --executor ray only.",
    ),
    threads: int = typer.Option(
        1,
        "--threads",
        min=1,
        help="Torch threads per embedding (CPUs per Ray task). Keep it the same to get "
        "bit-identical vectors across runs.",
    ),
    max_retries: int = typer.Option(
        3, "--max-retries", min=0, help="Ray: reruns of a task whose worker process died."
    ),
    store: Path = StoreOption,
    as_json: bool = JsonOption,
) -> None:
    """Embed a batch of data sets, models and LLM prompts (a YAML or JSONL jobs file)."""
    from fute.batch import embed_batch, print_outcome
    from fute.batch.jobs import read_jobs_file
    from fute.core.errors import FuteError

    if executor not in ("local", "ray"):
        raise FuteError(f"--executor must be local or ray, got {executor!r}")
    if address is not None and executor != "ray":
        raise FuteError("--address applies to --executor ray only; add --executor ray")
    batch = read_jobs_file(jobs)  # a mistake in the file fails before the store is opened
    st = open_store(store)
    result = embed_batch(
        batch,
        executor=executor,
        address=address,
        store=st,
        threads=threads,
        max_retries=max_retries,
        on_outcome=None if as_json else print_outcome,
    )
    if as_json:
        emit_json(result.to_dict())
    else:
        err.print(result.summary().splitlines()[0], highlight=False)
    if result.failed:
        n = len(result.failed)
        sys.stderr.write(
            f"error: {n} of {len(result.outcomes)} jobs failed (see above); rerun the same "
            "command to retry only the missing ones\n"
        )
        raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    app.command("batch")(embed_batch_command)
