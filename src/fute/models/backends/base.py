"""What a language-model backend must do for fute: score continuations, render chat prompts.

A prompted LLM only needs one number per (context, answer word): the log-likelihood of the
word's tokens right after the context. Every backend computes exactly that, in batches and
without generating, so the same prompt gives the same probabilities through transformers,
llama.cpp or an OpenAI-compatible server (up to numerical noise and quantisation).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import jinja2
import numpy as np

Message = dict[str, str]


@runtime_checkable
class LMBackend(Protocol):
    name: str

    def identity(self) -> str:
        """Changes whenever the backend's scores may change (model weights, quantisation)."""
        ...

    def score(self, contexts: Sequence[str], continuations: Sequence[str]) -> np.ndarray:
        """(len(contexts), len(continuations)) summed log-probabilities of each continuation's
        tokens given each context. Context and continuation are tokenised separately, so a
        continuation such as " positive" keeps its own tokens whatever the context ends with."""
        ...

    def chat_prompt(self, messages: Sequence[Message]) -> str:
        """The model's chat template applied to `messages`, ready for the assistant's answer."""
        ...


def render_chat_template(template: str, messages: Sequence[Message], **special: str) -> str:
    """Render a Hugging Face style chat template (Jinja2) the way tokenizers do.

    Used by the backends that hold only the template string (GGUF metadata, a user-given
    template for an HTTP server), so that all backends build the same prompt text.
    """
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)

    def raise_exception(message: str) -> None:
        raise jinja2.TemplateError(message)

    env.globals["raise_exception"] = raise_exception
    return env.from_string(template).render(
        messages=list(messages), add_generation_prompt=True, **special
    )


def log_softmax(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    m = logits.max(axis=-1, keepdims=True)
    return logits - m - np.log(np.exp(logits - m).sum(axis=-1, keepdims=True))
