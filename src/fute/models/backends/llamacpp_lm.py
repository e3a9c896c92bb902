"""GGUF models through llama-cpp-python (optional: ``pip install 'fute[llamacpp]'``).

The context is evaluated once; each multi-token answer word continues from the context's
KV cache (llama.cpp drops the cache past `n_tokens` on the next `eval`). `logits_all=True`
is required: without it llama-cpp-python leaves the scores at zero. `n_batch=1` evaluates
token by token, a slow way round llama.cpp builds whose batched CPU kernels crash.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fute.core.errors import ModelError
from fute.models.backends.base import Message, log_softmax, render_chat_template
from fute.models.specs import register_backend


def _import_llama():
    try:
        from llama_cpp import Llama
    except ImportError:
        raise ModelError(
            "the llama.cpp backend needs llama-cpp-python: pip install 'fute[llamacpp]'"
        ) from None
    return Llama


class LlamaCppLM:
    def __init__(
        self,
        model_path: str | os.PathLike,
        *,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        n_batch: int = 512,
        name: str | None = None,
    ) -> None:
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise ModelError(f"no GGUF file at {self.model_path}")
        self.name = name or self.model_path.stem
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.n_batch = n_batch
        self._llm = None
        self._sha = None

    def __repr__(self) -> str:
        return f"LlamaCppLM({str(self.model_path)!r})"

    @property
    def llm(self):
        if self._llm is None:
            Llama = _import_llama()
            self._llm = Llama(
                model_path=str(self.model_path),
                n_ctx=self.n_ctx,
                n_threads=self.n_threads,
                n_batch=self.n_batch,
                n_ubatch=self.n_batch,
                logits_all=True,
                verbose=False,
            )
        return self._llm

    def identity(self) -> str:
        if self._sha is None:
            h = hashlib.sha256()
            with open(self.model_path, "rb") as f:
                for block in iter(lambda: f.read(1 << 22), b""):
                    h.update(block)
            self._sha = h.hexdigest()
        return f"llama.cpp:{self.name}:{self._sha}"

    def chat_template(self) -> str:
        template = self.llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise ModelError(
                f"{self.model_path.name} has no chat template; use a prompt with chat=false"
            )
        return template

    def chat_prompt(self, messages: Sequence[Message]) -> str:
        meta = self.llm.metadata
        special = {}
        for key in ("bos", "eos"):
            tid = meta.get(f"tokenizer.ggml.{key}_token_id")
            if tid is not None:
                special[f"{key}_token"] = self.llm.detokenize([int(tid)], special=True).decode(
                    "utf-8", "replace"
                )
        return render_chat_template(self.chat_template(), messages, **special)

    def encode(self, text: str, *, context: bool) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=context, special=True)

    def score(self, contexts: Sequence[str], continuations: Sequence[str]) -> np.ndarray:
        llm = self.llm
        cont = [self.encode(c, context=False) for c in continuations]
        out = np.zeros((len(contexts), len(continuations)))
        for i, text in enumerate(contexts):
            ctx = self.encode(text, context=True)
            if len(ctx) + max(map(len, cont)) > self.n_ctx:
                raise ModelError(f"input {i} is {len(ctx)} tokens, over n_ctx={self.n_ctx}")
            llm.reset()
            llm.eval(ctx)
            first = log_softmax(llm.scores[len(ctx) - 1])
            for j, ids in enumerate(cont):
                out[i, j] = first[ids[0]]
                if len(ids) > 1:
                    llm.n_tokens = len(ctx)  # rewind to the end of the context
                    llm.eval(ids[:-1])
                    lp = log_softmax(llm.scores[len(ctx) : len(ctx) + len(ids) - 1])
                    out[i, j] += lp[np.arange(len(ids) - 1), ids[1:]].sum()
        return out


# the spec of this backend (`fute.models.loading.load_backend`)
register_backend("gguf:", lambda rest, spec: LlamaCppLM(rest), "gguf:PATH", order=30)
