"""OpenAI-compatible completion servers (vLLM, llama.cpp server, Ollama, ...) as a backend.

Scores come from the legacy ``/v1/completions`` endpoint with ``echo=true`` and
``logprobs``: the server returns the log-probability of every prompt token, and the
answer word's tokens are those whose text offset lies at or after the end of the context.
A server that cannot return prompt log-probabilities (Ollama, chat-only APIs) gets a
`ModelError` saying so, never a silent fallback to sampled text.

Chat prompts need the model's chat template as a string (`chat_template=`), because the
completions endpoint takes raw text; pass the template from the model's tokenizer config.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from fute.errors import ModelError
from fute.models.backends.base import Message, render_chat_template

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


class OpenAILM:
    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        concurrency: int = 4,
        chat_template: str | None = None,
        special_tokens: dict[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        if not self.base_url.endswith("/v1"):
            self.base_url += "/v1"
        self.model = model
        self.name = model
        self.api_key = api_key
        self.timeout = timeout
        self.max_retries = max_retries
        self.concurrency = concurrency
        self.chat_template = chat_template
        self.special_tokens = dict(special_tokens or {})

    def __repr__(self) -> str:
        return f"OpenAILM({self.base_url!r}, {self.model!r})"

    def identity(self) -> str:
        # a server does not tell which weights it serves: the model name stands for them
        return f"openai:{self.base_url}#{self.model}"

    def chat_prompt(self, messages: Sequence[Message]) -> str:
        if not self.chat_template:
            raise ModelError(
                f"{self.model}: chat prompts over an HTTP server need chat_template= (the "
                "model's Jinja2 chat template); or use a prompt with chat=false"
            )
        return render_chat_template(self.chat_template, messages, **self.special_tokens)

    def _post(self, path: str, body: dict) -> dict:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = json.dumps(body).encode()
        for attempt in range(self.max_retries + 1):
            request = urllib.request.Request(self.base_url + path, data=data, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return json.loads(response.read())
            except urllib.error.HTTPError as exc:
                detail = exc.read()[:300].decode("utf-8", "replace")
                if exc.code not in RETRY_STATUS or attempt == self.max_retries:
                    raise ModelError(
                        f"{self.base_url}{path} answered HTTP {exc.code}: {detail}"
                    ) from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                if attempt == self.max_retries:
                    raise ModelError(
                        f"cannot reach {self.base_url}{path} after {attempt + 1} tries: "
                        f"{getattr(exc, 'reason', exc)}"
                    ) from None
            time.sleep(min(0.5 * 2**attempt, 8.0))
        raise AssertionError("unreachable")

    def _score_one(self, context: str, continuation: str) -> float:
        body = {
            "model": self.model,
            "prompt": context + continuation,
            "max_tokens": 1,
            "temperature": 0.0,
            "echo": True,
            "logprobs": 1,
        }
        reply = self._post("/completions", body)
        try:
            lp = reply["choices"][0]["logprobs"]
            offsets, values = lp["text_offset"], lp["token_logprobs"]
        except (KeyError, IndexError, TypeError):
            raise ModelError(
                f"{self.base_url} does not return prompt log-probabilities (echo + logprobs on "
                "/v1/completions); use a server that does, e.g. vLLM or llama-cpp-python's server"
            ) from None
        start, end = len(context), len(context) + len(continuation)
        # prompt tokens only: the generated token comes last and starts at or after `end`
        picked = [v for o, v in zip(offsets, values, strict=False) if start <= o < end]
        if not picked or any(v is None for v in picked):
            raise ModelError(f"{self.base_url} returned no log-probabilities for {continuation!r}")
        return float(sum(picked))

    def score(self, contexts: Sequence[str], continuations: Sequence[str]) -> np.ndarray:
        jobs = [(c, w) for c in contexts for w in continuations]
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            values = list(pool.map(lambda job: self._score_one(*job), jobs))
        return np.array(values, dtype=np.float64).reshape(len(contexts), len(continuations))
