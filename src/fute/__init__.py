"""fute: unified task embeddings for data sets, models and prompted LLMs.

First call, one line::

    import fute
    e = fute.dataset_embedding("sentiment-imdb")

`import fute` stays light: the engine (torch, transformers) loads on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fute._version import __version__

__all__ = [
    "Space",
    "Surrogate",
    "TaskEmbedding",
    "dataset_embedding",
    "embed_batch",
    "model_embedding",
    "recommend",
    "__version__",
]

if TYPE_CHECKING:
    from fute.core.embedding import TaskEmbedding
    from fute.engine.surrogate import Surrogate
    from fute.space import Space

_LAZY = {
    "Space": "fute.space",
    "Surrogate": "fute.engine.surrogate",
    "TaskEmbedding": "fute.core.embedding",
    "embed_batch": "fute.batch",  # fute.embed_batch(jobs, executor="local" | "ray")
    "recommend": "fute.ranking.recommend",  # fute.recommend(dataset, kind=...)
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'fute' has no attribute {name!r}")


def dataset_embedding(
    data: Any,
    method: str = "fisher",
    seed: int = 0,
    surrogate: Any = None,
    name: str | None = None,
    **kw: Any,
) -> TaskEmbedding:
    """The dataset task embedding of `data` (an `Examples`, catalogue name or file path).

    Keyword arguments go to `Space` (hyper-parameters, `pool_size`, `progress`).
    """
    from fute.space import Space

    return Space(surrogate, method=method, seed=seed, **kw).dataset_embedding(data, name=name)


def model_embedding(
    model: Any,
    method: str = "fisher",
    seed: int = 0,
    surrogate: Any = None,
    name: str | None = None,
    exclude: tuple[str, ...] = (),
    **kw: Any,
) -> TaskEmbedding:
    """The model task embedding of a black-box `model` (see `fute.models.protocol`)."""
    from fute.space import Space

    return Space(surrogate, method=method, seed=seed, **kw).model_embedding(
        model, name=name, exclude=exclude
    )
