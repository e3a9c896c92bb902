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

A silent server must not hang a run: until the server has answered anything, a request
waits `first_timeout` (10 s) and is not retried on timeout; afterwards `timeout` (60 s) with
`max_retries` (3) further tries. All three come from the constructor or the environment
(``FUTE_OPENAI_FIRST_TIMEOUT``, ``FUTE_OPENAI_TIMEOUT``, ``FUTE_OPENAI_RETRIES``), and a
slow request prints a ``waiting for SERVER ...`` line on stderr.
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from fute.errors import ModelError
from fute.models.backends.base import Message, render_chat_template

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}
DEFAULT_TIMEOUT = 60.0
DEFAULT_FIRST_TIMEOUT = 10.0
DEFAULT_RETRIES = 3
PROBE = " one, two, three, four, five, six, seven, eight, nine, ten, eleven, twelve, thirteen"


def _env_number(name: str, default: float, kind: type = float, least: float = 0.0) -> float:
    """A number from the environment variable `name`, or `default` when it is unset."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or not value >= least:
        what = "a whole number" if kind is int else "a number of seconds"
        raise ModelError(f"{name} must be {what} >= {least:g}, got {raw!r}")
    return value


class OpenAILM:
    """An OpenAI-compatible server at `base_url` serving `model`.

    Time limits (seconds), each also settable by an environment variable:

    * `timeout` (``FUTE_OPENAI_TIMEOUT``, default 60): how long one request may go
      unanswered once the server has answered something;
    * `first_timeout` (``FUTE_OPENAI_FIRST_TIMEOUT``, default 10): the same while the server
      has answered nothing yet; a server that accepts the connection and stays silent
      fails after this long, without retries;
    * `max_retries` (``FUTE_OPENAI_RETRIES``, default 3): further tries after a refused
      connection, a timeout or HTTP 408/409/429/5xx, with growing pauses.

    A request unanswered for `notice_after` seconds prints one ``waiting for SERVER ...``
    line on stderr (None: never).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float | None = None,
        first_timeout: float | None = None,
        max_retries: int | None = None,
        notice_after: float | None = 5.0,
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
        if timeout is None:
            timeout = _env_number("FUTE_OPENAI_TIMEOUT", DEFAULT_TIMEOUT, least=0.001)
        if first_timeout is None:
            first_timeout = _env_number(
                "FUTE_OPENAI_FIRST_TIMEOUT", min(DEFAULT_FIRST_TIMEOUT, timeout), least=0.001
            )
        if max_retries is None:
            max_retries = _env_number("FUTE_OPENAI_RETRIES", DEFAULT_RETRIES, kind=int)
        if not timeout > 0 or not first_timeout > 0 or int(max_retries) < 0:
            raise ModelError(
                "OpenAILM: timeout and first_timeout must be > 0 and max_retries >= 0, got "
                f"{timeout}, {first_timeout}, {max_retries}"
            )
        self.timeout = float(timeout)
        self.first_timeout = float(first_timeout)
        self.max_retries = int(max_retries)
        self.notice_after = notice_after
        self.concurrency = concurrency
        self.chat_template = chat_template
        self.special_tokens = dict(special_tokens or {})
        self._aligned: dict[str, bool] = {}
        self._answered = False  # has the server answered anything yet?
        self._notice_lock = threading.Lock()
        self._last_notice = -float("inf")

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

    def _notice(self, path: str, limit: float, attempt: int) -> None:
        """One stderr line while a request is slow; at most one per `notice_after` seconds."""
        with self._notice_lock:
            now = time.monotonic()
            if now - self._last_notice < (self.notice_after or 0):
                return
            self._last_notice = now
        sys.stderr.write(
            f"waiting for {self.base_url}{path}: no answer after {self.notice_after:g} s "
            f"(gives up after {limit:g} s, try {attempt + 1} of {self.max_retries + 1})\n"
        )
        sys.stderr.flush()

    def _post(self, path: str, body: dict) -> dict:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = json.dumps(body).encode()
        url = self.base_url + path
        for attempt in range(self.max_retries + 1):
            limit = self.timeout if self._answered else self.first_timeout
            request = urllib.request.Request(url, data=data, headers=headers)
            timer = None
            if self.notice_after is not None and self.notice_after < limit:
                timer = threading.Timer(self.notice_after, self._notice, (path, limit, attempt))
                timer.daemon = True
                timer.start()
            try:
                with urllib.request.urlopen(request, timeout=limit) as response:
                    self._answered = True
                    raw = response.read()
                return self._parse(url, raw)
            except urllib.error.HTTPError as exc:
                self._answered = True
                detail = exc.read()[:300].decode("utf-8", "replace")
                if exc.code not in RETRY_STATUS or attempt == self.max_retries:
                    raise ModelError(f"{url} answered HTTP {exc.code}: {detail}") from None
            except (OSError, http.client.HTTPException) as exc:
                reason = getattr(exc, "reason", exc)
                if isinstance(reason, TimeoutError) and not self._answered:
                    raise ModelError(
                        f"{url} accepted the connection but answered nothing within "
                        f"{limit:g} s; check that it is an OpenAI-compatible server, or, if it "
                        "is still loading its model, raise FUTE_OPENAI_FIRST_TIMEOUT"
                    ) from None
                if attempt == self.max_retries:
                    why = (
                        f"no answer within {limit:g} s"
                        if isinstance(reason, TimeoutError)
                        else reason
                    )
                    raise ModelError(
                        f"cannot reach {url} after {attempt + 1} tries: {why} (set "
                        "FUTE_OPENAI_TIMEOUT / FUTE_OPENAI_RETRIES to wait longer)"
                    ) from None
            finally:
                if timer is not None:
                    timer.cancel()
            time.sleep(min(0.5 * 2**attempt, 8.0))
        raise AssertionError("unreachable")

    def _parse(self, url: str, raw: bytes) -> dict:
        """The JSON object of a 200 answer; anything else is a one-line `ModelError`."""
        try:
            reply = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            excerpt = raw[:80].decode("utf-8", "replace").strip()
            raise ModelError(
                f"{url} answered HTTP 200 with a body that is not JSON ({excerpt!r}); is "
                f"{self.base_url} an OpenAI-compatible API? Its URL usually ends in /v1"
            ) from None
        if not isinstance(reply, dict):
            raise ModelError(
                f"{url} answered a JSON {type(reply).__name__}, not an object; is "
                f"{self.base_url} an OpenAI-compatible API?"
            )
        return reply

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
