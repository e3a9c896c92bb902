"""OpenAI-compatible completion servers (vLLM, llama.cpp server, Ollama, ...) as a backend.

Scores come from the legacy ``/v1/completions`` endpoint with ``echo=true`` and
``logprobs``: the server returns the log-probability of every prompt token, and the
answer word's tokens are those whose text offset lies at or after the end of the context.
A server that cannot return prompt log-probabilities (Ollama, chat-only APIs) gets a
`ModelError` saying so, never a silent fallback to sampled text.

Some servers pair each echoed prompt token with the wrong logits: llama-cpp-python's server
(0.3.x) shifts them by one token whenever the prompt does not start with the model's BOS
token. Before trusting a prompt form, the backend sends one probe (the prompt's context
followed by a counting sequence, whose next tokens any LM predicts) and compares the
server's top-1 predictions with the tokens at the same and at the next position; a shifted
server is a `ModelError`, never wrong numbers.

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
PROBE = " one, two, three, four, five, six, seven, eight, nine, ten, eleven, twelve, thirteen"


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
        self._aligned: dict[str, bool] = {}

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
        reply = self._echo(context + continuation)
        lp = reply["choices"][0]["logprobs"]
        span = self._tail_span(reply, continuation)
        picked = [lp["token_logprobs"][k] for k in span]
        if not picked or any(v is None for v in picked):
            raise ModelError(f"{self.base_url} returned no log-probabilities for {continuation!r}")
        return float(sum(picked))

    def _echo(self, prompt: str) -> dict:
        """The prompt echoed with one log-probability per token (and one generated token)."""
        body = {
            "model": self.model,
            "prompt": prompt,
            "max_tokens": 1,
            "temperature": 0.0,
            "echo": True,
            "logprobs": 1,
        }
        reply = self._post("/completions", body)
        try:
            lp = reply["choices"][0]["logprobs"]
            if not (len(lp["tokens"]) == len(lp["token_logprobs"]) == len(lp["text_offset"])):
                raise KeyError("tokens")
        except (KeyError, IndexError, TypeError):
            raise self._no_logprobs_error() from None
        return reply

    def _tail_span(self, reply: dict, text: str, exact: bool = True) -> range:
        """Indices of the prompt's last tokens, which spell exactly `text` (or end with it).

        Token strings are used rather than `text_offset`: servers count offsets in their own
        detokenised text, from which special tokens such as <|im_start|> may be missing.
        """
        lp = reply["choices"][0]["logprobs"]
        tokens = lp["tokens"]
        generated = (reply.get("usage") or {}).get("completion_tokens")
        generated = 1 if generated is None else int(generated)
        # the generated tokens come last, but a server may leave one out (an end-of-text
        # token it does not echo): try the expected count first, then fewer
        for drop in range(min(generated, len(tokens)), -1, -1):
            end = len(tokens) - drop
            start, spelled = end, ""
            while start > 0 and len(spelled) < len(text):
                start -= 1
                spelled = (tokens[start] or "") + spelled
            if spelled == text or (not exact and spelled.endswith(text)):
                return range(start, end)
        raise ModelError(
            f"{self.base_url} tokenised {text!r} together with the text before it, or "
            "echoed other tokens; put a space or newline before the answer words, or use "
            "another backend"
        )

    def check_alignment(self, context: str) -> None:
        """Refuse a server whose echoed log-probabilities are shifted for prompts like this.

        Only the first token decides (a leading BOS or not), so prompts are grouped by their
        first word; each group is probed once per backend object.
        """
        words = context.split(maxsplit=1)
        form = words[0][:32] if words else ""
        if form in self._aligned:
            if not self._aligned[form]:
                raise self._shift_error()
            return
        reply = self._echo(context + PROBE)
        lp = reply["choices"][0]["logprobs"]
        tokens, tops = lp["tokens"], lp["top_logprobs"]
        span = self._tail_span(reply, PROBE, exact=False)
        same = following = 0
        for k in span:
            if k == 0 or k + 1 >= len(tokens) or not tops[k]:
                continue
            best = max(tops[k], key=tops[k].get)
            same += best == tokens[k]
            following += best == tokens[k + 1]
        self._aligned[form] = not (following > same and following >= 3)
        if not self._aligned[form]:
            raise self._shift_error()

    def _shift_error(self) -> ModelError:
        return ModelError(
            f"{self.base_url} returns prompt log-probabilities shifted by one token for this "
            "prompt (llama-cpp-python's server does so when a prompt does not start with the "
            "model's BOS token), so its scores would be wrong; use a chat prompt or a prompt "
            "that starts with BOS, or a server that aligns them (vLLM)"
        )

    def _no_logprobs_error(self) -> ModelError:
        return ModelError(
            f"{self.base_url} does not return prompt log-probabilities (echo + logprobs on "
            "/v1/completions); use a server that does, e.g. vLLM or llama-cpp-python's server"
        )

    def score(self, contexts: Sequence[str], continuations: Sequence[str]) -> np.ndarray:
        for context in contexts:
            self.check_alignment(context)
        jobs = [(c, w) for c in contexts for w in continuations]
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            values = list(pool.map(lambda job: self._score_one(*job), jobs))
        return np.array(values, dtype=np.float64).reshape(len(contexts), len(continuations))
