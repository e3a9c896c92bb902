"""The batch wing: many embeddings of one space, in this process or on a Ray cluster.

`jobs` reads and checks a jobs file, `worker.embed_job` computes one embedding (what a
worker runs), `driver.embed_batch` skips what is stored, runs the rest (`ray_executor` for
``executor="ray"``) and is the only store writer.

    from fute.batch import embed_batch     # also fute.embed_batch
"""

from fute.batch.driver import (
    EXECUTORS,
    BatchResult,
    JobOutcome,
    embed_batch,
    one_line,
    print_outcome,
)
from fute.batch.worker import DEFAULT_THREADS, embed_job

__all__ = [
    "DEFAULT_THREADS",
    "EXECUTORS",
    "BatchResult",
    "JobOutcome",
    "embed_batch",
    "embed_job",
    "one_line",
    "print_outcome",
]
