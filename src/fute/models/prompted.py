"""An LLM steered by a prompt, as a black-box classifier.

p(label | x) comes from the LM's log-likelihood of each verbalizer word right after the
filled prompt: the words of one label are combined with log-sum-exp (the probability that
the LM says *any* of them), then the labels are normalised with a softmax. Words of
several tokens are scored over all their tokens. Nothing is generated.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fute.models.backends.base import LMBackend
from fute.models.prompts import Prompt, load_prompt
from fute.models.protocol import Input


class PromptedLM:
    """`backend` (an `LMBackend`) + `prompt` (a `Prompt`, an id or a JSON path)."""

    def __init__(self, backend: LMBackend, prompt: Prompt | str, *, batch_size: int = 16) -> None:
        self.backend = backend
        self.prompt = load_prompt(prompt)
        self.batch_size = batch_size

    @property
    def labels(self) -> tuple[str, ...]:
        return self.prompt.labels

    @property
    def arity(self) -> int:
        return self.prompt.arity

    @property
    def name(self) -> str:
        return f"{self.backend.name}+{self.prompt.id}"

    def __repr__(self) -> str:
        return f"PromptedLM({self.backend!r}, {self.prompt.id!r})"

    def identity(self) -> str:
        return f"prompted-lm:{self.backend.identity()}:{self.prompt.hash()}"

    def context(self, x: Input) -> str:
        """The exact text the LM sees before the answer word."""
        if self.prompt.chat:
            return self.backend.chat_prompt(self.prompt.messages(x))
        return self.prompt.render(x)

    def answer_words(self) -> list[str]:
        """Every distinct continuation scored, answer prefix included."""
        words = [self.prompt.prefix + w for ws in self.prompt.verbalizer.values() for w in ws]
        return list(dict.fromkeys(words))

    def label_logprobs(self, inputs: Sequence[Input]) -> np.ndarray:
        """Unnormalised log p(label) per input: log-sum-exp over the label's words."""
        words = self.answer_words()
        column = {w: j for j, w in enumerate(words)}
        scores = self.backend.score([self.context(x) for x in inputs], words)
        out = np.empty((len(inputs), len(self.labels)))
        for k, ws in enumerate(self.prompt.verbalizer.values()):
            cols = [column[self.prompt.prefix + w] for w in ws]
            out[:, k] = np.logaddexp.reduce(scores[:, cols], axis=1)
        return out

    def predict_proba(self, inputs: Sequence[Input]) -> np.ndarray:
        lp = self.label_logprobs(inputs)
        lp -= lp.max(axis=1, keepdims=True)
        p = np.exp(lp)
        return p / p.sum(axis=1, keepdims=True)
