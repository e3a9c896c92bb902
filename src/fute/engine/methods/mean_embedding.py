"""``mean-embedding``: the mean sentence embedding of a data set's inputs (a baseline).

It answers "do these data sets *look* alike?" and ignores the labels entirely, which is
exactly why it is a useful baseline for the trained methods: where fisher or prefix beat
it, the labels (the task) carried information the inputs alone did not. For the same
reason it cannot describe a model: every model is asked about the same pool inputs, so all
model embeddings would be identical; `Space.model_embedding` refuses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from fute.engine.methods.base import PER_EMBEDDING_SETTINGS, Method, MethodResult, positive
from fute.engine.methods.training import batches
from fute.engine.surrogate import Surrogate, mean_pool


@dataclass(frozen=True)
class MeanEmbeddingParams:
    """- ``max_examples=1000``: seeded sample size, as for the trained methods.
    - ``max_length=128``: no training here, so the paper's length is affordable.
    - ``batch_size=64``: inference only.
    - ``normalize=True``: unit-normalise each sentence vector before averaging (how MiniLM's
      sentence embeddings are meant to be compared), so long inputs do not dominate.

    ``max_examples`` and ``batch_size`` are per-embedding settings (how much data, and
    batching, which does not change the mean): not part of the space key."""

    PER_EMBEDDING: ClassVar[tuple[str, ...]] = PER_EMBEDDING_SETTINGS["mean-embedding"]

    max_examples: int = 1000
    max_length: int = 128
    batch_size: int = 64
    normalize: bool = True

    def check(self) -> None:
        for name in ("max_examples", "max_length", "batch_size"):
            positive(name, getattr(self, name))


class MeanEmbeddingMethod(Method):
    name = "mean-embedding"
    Params = MeanEmbeddingParams
    uses_labels = False

    def embed(
        self, surrogate: Surrogate, examples, seed: int, progress: bool | None = None
    ) -> MethodResult:
        from tqdm.auto import tqdm

        p = self.params
        data, items = self.prepare(surrogate, examples, seed)
        total = torch.zeros(surrogate.hidden_size, dtype=torch.float64)
        encoder = surrogate.encoder
        with (
            torch.no_grad(),
            tqdm(
                total=len(items),
                desc="mean-embedding",
                unit="ex",
                disable=(not progress) if progress is not None else None,
                leave=False,
            ) as bar,
        ):
            for idx in batches(len(items), p.batch_size, None):
                batch = surrogate.collate([items[i] for i in idx])
                vec = mean_pool(
                    encoder(**batch.model_inputs()).last_hidden_state, batch.attention_mask
                )
                if p.normalize:
                    vec = torch.nn.functional.normalize(vec, dim=-1)
                total += vec.sum(0).double()
                bar.update(len(idx))
        vector = (total / len(items)).numpy().astype(np.float32)
        return MethodResult(
            vector=vector, info={"n_examples": len(data), "full_dim": int(vector.size)}
        )
