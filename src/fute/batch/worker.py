"""What a batch worker runs: one job's embedding, computed and returned, never stored.

`embed_job` is the same call in this process (`executor="local"`) and in a Ray task
(`fute.batch.ray_executor`); the driver (`fute.batch.driver`) stores what it returns.
"""

from __future__ import annotations

import os
from typing import Any

from fute.batch.jobs import Job
from fute.core.kinds import Kind

DEFAULT_THREADS = 1
_MODELS: dict[str, Any] = {}  # per process: LM backends and classifiers, loaded once


def _model(job: Job):
    """The job's model; backends and classifiers are loaded once per process."""
    from fute.models.loading import load_backend, load_model
    from fute.models.prompted import PromptedLM

    if job.kind == Kind.PROMPTED_LM:
        key = f"lm {job.source}"
        if key not in _MODELS:
            _MODELS[key] = load_backend(job.source)
        return PromptedLM(_MODELS[key], job.prompt)
    key = f"model {job.source}"
    if key not in _MODELS:
        _MODELS[key] = load_model(job.source)
    return _MODELS[key]


def embed_job(space_args: dict, job: Job, threads: int = DEFAULT_THREADS) -> tuple[Any, dict, dict]:
    """Compute one job's embedding; returns ``(vector, meta, extras)`` and writes nothing.

    This is what a Ray task runs. The surrogate is memoised per process
    (`fute.space.load_surrogate`), so a worker process loads it once for all its jobs.
    Torch runs on exactly `threads` threads while embedding (restored afterwards).
    """
    import torch

    from fute.space import Space

    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        space = Space(**space_args, progress=False)
        if job.settings:
            space = space.with_settings(**job.settings)
        if job.kind == "dataset":
            from fute.data.loaders import load_data

            data = load_data(job.source, **job.options)
            emb = space.dataset_embedding(data, name=job.name)
        else:
            emb = space.model_embedding(
                _model(job), name=job.name, kind=job.kind, exclude=job.exclude
            )
    finally:
        torch.set_num_threads(before)
    meta = {**emb.meta, "batch": {"threads": int(threads), "pid": os.getpid()}}
    return emb.vector, meta, emb.extras
