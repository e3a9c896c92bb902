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

A silent server must not hang a run: before its first request a server must answer a cheap
``GET /models`` within `first_timeout` (10 s; any HTTP answer counts, and a silent server is
not retried); every request then gets `timeout` (60 s), since a first completion on a CPU
server can take longer than 10 s, with
`max_retries` (3) further tries. All three come from the constructor or the environment
(``FUTE_OPENAI_FIRST_TIMEOUT``, ``FUTE_OPENAI_TIMEOUT``, ``FUTE_OPENAI_RETRIES``), and a
slow request prints a ``waiting for SERVER ...`` line on stderr.

Several servers serving the same model form a fleet (``openai:URL1,URL2#MODEL``, a fleet
file read by `read_fleet_file`, or ``base_urls=[...]``): requests are spread over them with
`max_in_flight` per server, and a server that fails is taken out while the others take
its work (`fleet.Fleet`). Each (context, answer word) is its own request and its score is
placed by position, so one server or ten give the same numbers.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from fute.core.errors import ModelError
from fute.models.backends.base import Message, render_chat_template
from fute.models.backends.fleet import RETRY_STATUS, Fleet
from fute.models.specs import register_backend

__all__ = ["OpenAILM", "RETRY_STATUS", "read_fleet_file"]

DEFAULT_TIMEOUT = 60.0
DEFAULT_FIRST_TIMEOUT = 10.0
DEFAULT_RETRIES = 3
DEFAULT_IN_FLIGHT = 4
FLEET_KEYS = {
    "urls": "list of base URLs",
    "model": "model name",
    "max_in_flight": "requests in flight per server",
    "timeout": "seconds",
    "first_timeout": "seconds",
    "retries": "tries after a failure",
    "api_key_env": "name of the environment variable holding the API key",
    "chat_template_file": "Jinja2 chat template file",
    "name": "cache identity instead of the URLs",
}
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


def _base_urls(base_url, base_urls) -> list[str]:
    """The servers' base URLs, each ending in /v1; one-line errors for anything else."""
    if base_url is not None and base_urls is not None:
        raise ModelError("OpenAILM: give base_url or base_urls, not both")
    given = base_urls if base_urls is not None else base_url
    if isinstance(given, str):
        given = [given]
    if given is None or not isinstance(given, Sequence) or not given:
        raise ModelError(
            "OpenAILM needs base_url= (or base_urls=[...]), e.g. http://127.0.0.1:8000/v1"
        )
    urls: list[str] = []
    for raw in given:
        url = str(raw).strip().rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ModelError(
                f"server URL {str(raw)!r} is not an http(s) URL; write http://HOST:PORT/v1"
            )
        if not url.endswith("/v1"):
            url += "/v1"
        if url in urls:
            raise ModelError(f"server URL {url} is given twice; list each server once")
        urls.append(url)
    return urls


def read_fleet_file(path: str | os.PathLike) -> dict:
    """`OpenAILM` keyword arguments from a fleet file (YAML, or JSON with a .json name)::

    model: smollm2                       # required
    urls: [http://h1:8000/v1, http://h2:8000/v1]   # required
    max_in_flight: 16                    # per server (default 4)
    timeout: 60                          # first_timeout, retries: as OpenAILM
    api_key_env: VLLM_API_KEY            # the key is read from this variable
    chat_template_file: chatml.jinja     # relative to the fleet file
    name: smollm2-q4                     # cache identity instead of the URLs
    """
    path = Path(path).expanduser()
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise ModelError(f"fleet file {path} {what}; give a YAML or JSON file with urls and model")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".json":
            doc = json.loads(text)
        else:
            import yaml

            doc = yaml.safe_load(text)
    except (ValueError, ImportError) as exc:
        raise ModelError(f"fleet file {path}: not valid JSON ({exc})") from None
    except Exception as exc:  # yaml.YAMLError
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ModelError(f"fleet file {path}: not valid YAML ({problem})") from None
    if not isinstance(doc, dict):
        raise ModelError(f"fleet file {path}: must be a mapping with urls and model keys")
    unknown = sorted(set(doc) - set(FLEET_KEYS))
    if unknown:
        raise ModelError(
            f"fleet file {path}: unknown key {unknown[0]!r}; use {', '.join(FLEET_KEYS)}"
        )
    for key in ("urls", "model"):
        if key not in doc:
            raise ModelError(f"fleet file {path}: missing {key!r} ({FLEET_KEYS[key]})")
    urls = doc["urls"]
    if isinstance(urls, str):
        urls = [u for u in urls.split(",") if u.strip()]
    if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
        raise ModelError(f"fleet file {path}: urls must be a non-empty list of base URLs")
    kwargs: dict = {"base_urls": urls, "model": doc["model"]}
    if not isinstance(doc["model"], str) or not doc["model"].strip():
        raise ModelError(f"fleet file {path}: model must be the served model's name")
    numbers = {
        "max_in_flight": ("max_in_flight", int, 1),
        "timeout": ("timeout", float, 0.001),
        "first_timeout": ("first_timeout", float, 0.001),
        "retries": ("max_retries", int, 0),
    }
    for key, (arg, kind, least) in numbers.items():
        if key not in doc:
            continue
        value = doc[key]
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or (kind is int and value != int(value)):
            value = None
        if value is None or value < least:
            what = "a whole number" if kind is int else "a number"
            raise ModelError(
                f"fleet file {path}: {key} must be {what} >= {least:g}, got {doc[key]!r}"
            )
        kwargs[arg] = kind(value)
    for key in ("api_key_env", "chat_template_file", "name"):
        if key in doc and (not isinstance(doc[key], str) or not doc[key].strip()):
            raise ModelError(f"fleet file {path}: {key} must be a non-empty string")
    if "api_key_env" in doc:
        kwargs["api_key"] = os.environ.get(doc["api_key_env"]) or None
        if kwargs["api_key"] is None:
            raise ModelError(
                f"fleet file {path}: api_key_env names {doc['api_key_env']}, which is not set; "
                "export it or remove api_key_env"
            )
    if "chat_template_file" in doc:
        template = (path.parent / doc["chat_template_file"]).expanduser()
        if not template.is_file():
            raise ModelError(f"fleet file {path}: chat template file {template} does not exist")
        kwargs["chat_template"] = template.read_text(encoding="utf-8")
    if "name" in doc:
        kwargs["name"] = doc["name"]
    return kwargs


def _warn(message: str) -> None:
    sys.stderr.write(f"warning: {message}\n")
    sys.stderr.flush()


class OpenAILM:
    """OpenAI-compatible servers at `base_url` (one URL, or a list for a fleet) serving `model`.

    Several servers that serve the same model form a fleet (`fleet.Fleet`): every request
    goes to whichever server has a free slot, `max_in_flight` per server
    (``FUTE_OPENAI_IN_FLIGHT``, default 4), and a server that keeps failing is taken out
    while the others take its work. Scores do not depend on which server answered.

    Time limits (seconds), each also settable by an environment variable:

    * `timeout` (``FUTE_OPENAI_TIMEOUT``, default 60): how long one request may go
      unanswered once the server has answered something;
    * `first_timeout` (``FUTE_OPENAI_FIRST_TIMEOUT``, default 10): how long a server that
      has answered nothing yet may take to answer ``GET /models`` (any HTTP answer counts);
      a server that accepts the connection and stays silent is taken out after this long,
      without retries;
    * `max_retries` (``FUTE_OPENAI_RETRIES``, default 3): further tries after a refused
      connection, a timeout or HTTP 408/409/429/5xx, with growing pauses (exponential
      back-off with jitter); a server failing more often in a row is taken out.

    A request unanswered for `notice_after` seconds prints one ``waiting for SERVER ...``
    line on stderr (None: never). `name` replaces the URLs in the cache identity, so that
    answers cached from one set of hosts are reused from another serving the same weights.
    `concurrency` is the former name of `max_in_flight`.
    """

    def __init__(
        self,
        base_url: str | Sequence[str] | None = None,
        model: str | None = None,
        *,
        base_urls: Sequence[str] | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
        first_timeout: float | None = None,
        max_retries: int | None = None,
        max_in_flight: int | None = None,
        notice_after: float | None = 5.0,
        concurrency: int | None = None,
        chat_template: str | None = None,
        special_tokens: dict[str, str] | None = None,
        name: str | None = None,
    ) -> None:
        self.base_urls = _base_urls(base_url, base_urls)
        self.base_url = self.base_urls[0]
        if not isinstance(model, str) or not model.strip():
            raise ModelError("OpenAILM needs model=, the model name the servers serve")
        self.model = model
        self.name = model
        self.cache_name = name
        self.api_key = api_key
        if timeout is None:
            timeout = _env_number("FUTE_OPENAI_TIMEOUT", DEFAULT_TIMEOUT, least=0.001)
        if first_timeout is None:
            first_timeout = _env_number(
                "FUTE_OPENAI_FIRST_TIMEOUT", min(DEFAULT_FIRST_TIMEOUT, timeout), least=0.001
            )
        if max_retries is None:
            max_retries = _env_number("FUTE_OPENAI_RETRIES", DEFAULT_RETRIES, kind=int)
        if max_in_flight is None:
            max_in_flight = concurrency
        if max_in_flight is None:
            max_in_flight = _env_number("FUTE_OPENAI_IN_FLIGHT", DEFAULT_IN_FLIGHT, int, 1)
        if not timeout > 0 or not first_timeout > 0 or int(max_retries) < 0:
            raise ModelError(
                "OpenAILM: timeout and first_timeout must be > 0 and max_retries >= 0, got "
                f"{timeout}, {first_timeout}, {max_retries}"
            )
        if isinstance(max_in_flight, bool) or int(max_in_flight) < 1:
            raise ModelError(f"OpenAILM: max_in_flight must be at least 1, got {max_in_flight}")
        self.timeout = float(timeout)
        self.first_timeout = float(first_timeout)
        self.max_retries = int(max_retries)
        self.max_in_flight = int(max_in_flight)
        self.notice_after = notice_after
        self.chat_template = chat_template
        self.special_tokens = dict(special_tokens or {})
        self._aligned: dict[str, bool] = {}
        self._align_lock = threading.Lock()
        self.fleet = Fleet(
            self.base_urls,
            parse=self._parse,
            api_key=api_key,
            timeout=self.timeout,
            first_timeout=self.first_timeout,
            max_retries=self.max_retries,
            max_in_flight=self.max_in_flight,
            notice_after=notice_after,
            on_down=_warn,
        )

    @classmethod
    def from_fleet_file(cls, path: str | os.PathLike) -> OpenAILM:
        """A backend from a fleet file (YAML or JSON; see `read_fleet_file`)."""
        return cls(**read_fleet_file(path))

    def __repr__(self) -> str:
        urls = self.base_url if len(self.base_urls) == 1 else list(self.base_urls)
        return f"OpenAILM({urls!r}, {self.model!r})"

    @property
    def requests_in_flight(self) -> int:
        """How many requests the servers still up take at once (`cached_predict` keeps
        enough batches going to fill them)."""
        return self.fleet.slots

    def identity(self) -> str:
        # a server does not tell which weights it serves: the model name stands for them,
        # with the URLs (sorted: their order does not change an answer) or the given name
        if self.cache_name:
            return f"openai:{self.cache_name}#{self.model}"
        return f"openai:{','.join(sorted(self.base_urls))}#{self.model}"

    def chat_prompt(self, messages: Sequence[Message]) -> str:
        if not self.chat_template:
            raise ModelError(
                f"{self.model}: chat prompts over an HTTP server need chat_template= (the "
                "model's Jinja2 chat template; in a fleet file: chat_template_file:); or use "
                "a prompt with chat=false"
            )
        return render_chat_template(self.chat_template, messages, **self.special_tokens)

    def _post(self, path: str, body: dict) -> dict:
        return self.fleet.request(path, body)

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

    def _logprob(self, reply: dict, continuation: str) -> float:
        """The summed log-probability of `continuation`'s tokens at the end of an echo."""
        self._check_echo(reply)
        lp = reply["choices"][0]["logprobs"]
        span = self._tail_span(reply, continuation)
        picked = [lp["token_logprobs"][k] for k in span]
        if not picked or any(v is None for v in picked):
            raise ModelError(f"{self.base_url} returned no log-probabilities for {continuation!r}")
        return float(sum(picked))

    def _echo_body(self, prompt: str) -> dict:
        """A request for the prompt echoed with one log-probability per token (and one
        generated token)."""
        return {
            "model": self.model,
            "prompt": prompt,
            "max_tokens": 1,
            "temperature": 0.0,
            "echo": True,
            "logprobs": 1,
        }

    def _echo(self, prompt: str) -> dict:
        return self._check_echo(self._post("/completions", self._echo_body(prompt)))

    def _check_echo(self, reply: dict) -> dict:
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
        with self._align_lock:  # batches scored side by side probe each form once
            if form not in self._aligned:
                self._aligned[form] = self._probe(context)
        if not self._aligned[form]:
            raise self._shift_error()

    def _probe(self, context: str) -> bool:
        """Whether the server's top-1 predictions over a counting sequence after `context`
        match the tokens at the same positions (aligned) rather than the next ones."""
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
        return not (following > same and following >= 3)

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
        """Every (context, continuation) pair as its own request, all in flight over the
        fleet at once; values are placed by position, whichever server answers first."""
        for context in contexts:
            self.check_alignment(context)
        jobs = [(c, w) for c in contexts for w in continuations]
        tickets = [self.fleet.submit("/completions", self._echo_body(c + w)) for c, w in jobs]
        try:
            values = [self._logprob(t.result(), w) for t, (_, w) in zip(tickets, jobs, strict=True)]
        except BaseException:
            for ticket in tickets:
                ticket.abandon()
            raise
        return np.array(values, dtype=np.float64).reshape(len(contexts), len(continuations))


def _from_spec(rest: str, spec: str) -> OpenAILM:
    """``openai:URL#MODEL`` or ``openai:URL1,URL2#MODEL`` (the key, if any, in OPENAI_API_KEY)."""
    urls, sep, model = rest.rpartition("#")
    if not sep or not urls or not model:
        raise ModelError(
            f"spec {spec!r}: write openai:BASE_URL#MODEL (several servers: "
            "openai:URL1,URL2#MODEL, or a fleet file: openai:@FLEET.yaml), e.g. "
            "openai:http://127.0.0.1:8000/v1#smollm2"
        )
    # the OpenAI client's convention: the key, if any, is in OPENAI_API_KEY
    api_key = os.environ.get("OPENAI_API_KEY") or None
    return OpenAILM([u for u in urls.split(",") if u.strip()], model, api_key=api_key)


# the specs of this backend (`fute.models.loading.load_backend`)
register_backend("openai:", _from_spec, "openai:URL#MODEL", order=40)
register_backend("openai:@", lambda rest, spec: OpenAILM.from_fleet_file(rest), prefix=True)
