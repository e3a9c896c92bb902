"""Requests spread over a fleet of OpenAI-compatible servers that serve the same model.

`Fleet.submit(path, body)` puts one JSON request on a queue shared by all servers and
returns a `Ticket`; each server has `max_in_flight` worker threads that take requests from
the queue and post them, so up to ``servers x max_in_flight`` requests are in flight at once.
Threads with blocking ``urllib`` rather than asyncio: fute has no async HTTP client among
its dependencies, one thread per in-flight request is cheap at these counts (tens), and the
time goes to the server, not to Python.

Failures (a refused or reset connection, a timeout, HTTP 408/409/429/5xx) put the request
back on the queue, where any server may take it, and pause the failing server with an
exponential back-off with jitter. Requests that were already in flight when a server failed
fail together and count as one failure of that server. A server that fails more than
`max_retries` times in a row (or, before it has answered anything, does not answer a cheap
``GET /models`` within `first_timeout`) is taken out of the fleet for the rest of the run; its work goes to the
others. Only when every server is out does every waiting request fail, with one line that
says why. Other errors (HTTP 400, a body that is not a JSON object) belong to the request
and fail it at once. The jitter changes only when a request is sent, never its answer.
"""

from __future__ import annotations

import http.client
import itertools
import json
import queue
import random
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import Future

from fute.core.errors import ModelError

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}
IDLE_EXIT = 5.0  # a worker with nothing to do for this long ends; a new request restarts it
BACKOFF_BASE = 0.5
BACKOFF_MAX = 8.0


class Ticket:
    """One submitted request: `result()` waits for its JSON answer, `abandon()` drops it."""

    def __init__(self, seq: int, path: str, body: bytes) -> None:
        self.seq = seq
        self.path = path
        self.body = body
        self.future: Future = Future()
        self.tries = 0
        self.abandoned = False

    def __lt__(self, other: Ticket) -> bool:  # queue order: oldest request first
        return self.seq < other.seq

    def result(self) -> dict:
        return self.future.result()

    def abandon(self) -> None:
        """Not wanted any more: a worker that takes it from the queue drops it."""
        self.abandoned = True

    def fail(self, error: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(error)


class Server:
    """One server's state in the fleet (all fields guarded by the fleet's lock)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.answered = False  # has it answered anything yet?
        self.failures = 0  # failures in a row
        self.last_failure = -float("inf")  # when the last counted failure happened
        self.resume_at = 0.0  # back-off: no new request before this time
        self.down: str | None = None  # why it was taken out of the fleet
        self.workers = 0
        self.answers = 0  # requests it answered (for tests and benchmarks)
        self.answer_seconds = 0.0  # their summed latency: what is slow for this server
        self.last_notice = -float("inf")

    def usual_seconds(self) -> float | None:
        """Mean latency of its answers so far (None before the first)."""
        return self.answer_seconds / self.answers if self.answers else None


class Fleet:
    """Servers at `base_urls` (each ending in /v1) and the worker threads that feed them.

    `parse(url, raw_bytes) -> dict` turns a 200 answer into JSON or raises `ModelError`.
    `on_down(message)` is told (one line) when a server is taken out while others remain.
    """

    def __init__(
        self,
        base_urls: Sequence[str],
        *,
        parse: Callable[[str, bytes], dict],
        api_key: str | None,
        timeout: float,
        first_timeout: float,
        max_retries: int,
        max_in_flight: int,
        notice_after: float | None,
        on_down: Callable[[str], None] | None = None,
    ) -> None:
        self.servers = [Server(url) for url in base_urls]
        self.parse = parse
        self.api_key = api_key
        self.timeout = timeout
        self.first_timeout = first_timeout
        self.max_retries = max_retries
        self.max_in_flight = max_in_flight
        self.notice_after = notice_after
        self.on_down = on_down
        self._queue: queue.PriorityQueue[Ticket] = queue.PriorityQueue()
        self._lock = threading.Lock()
        self._seq = itertools.count()
        self._random = random.Random()

    # --- what the backend uses -----------------------------------------------------------

    @property
    def up(self) -> list[Server]:
        return [s for s in self.servers if s.down is None]

    @property
    def slots(self) -> int:
        """How many requests the servers still up may have in flight together."""
        return max(1, len(self.up)) * self.max_in_flight

    def submit(self, path: str, body: dict) -> Ticket:
        ticket = Ticket(next(self._seq), path, json.dumps(body).encode())
        self._queue.put(ticket)
        with self._lock:
            if not self.up:
                self._fail_waiting()
                return ticket
            for server in self.up:
                while server.workers < self.max_in_flight:
                    server.workers += 1
                    threading.Thread(target=self._work, args=(server,), daemon=True).start()
        return ticket

    def request(self, path: str, body: dict) -> dict:
        return self.submit(path, body).result()

    # --- workers ---------------------------------------------------------------------------

    def _work(self, server: Server) -> None:
        idle_since = time.monotonic()
        while True:
            with self._lock:
                now = time.monotonic()
                quiet = self._queue.empty() and now - idle_since > IDLE_EXIT
                if server.down is not None or quiet:
                    server.workers -= 1
                    return
                pause = server.resume_at - now
            if pause > 0:
                time.sleep(min(pause, 0.1))
                continue
            try:
                ticket = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            idle_since = time.monotonic()
            if ticket.abandoned or ticket.future.done():
                continue
            if server.down is not None:  # taken out while this worker waited
                self._queue.put(ticket)
                continue
            self._send(server, ticket)

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def _probe(self, server: Server, ticket: Ticket) -> str | None:
        """Ask a server that has answered nothing yet for its model list, within
        `first_timeout`. Any HTTP answer, even an error status, shows that it is up; its
        requests then get the full `timeout`, since a first completion on a CPU server can
        take longer than the short first limit. None: it answered; "timeout": nothing came
        back in time; else why the connection failed."""
        request = urllib.request.Request(server.base_url + "/models", headers=self._headers())
        timer = None
        if self.notice_after is not None and self.notice_after < self.first_timeout:
            timer = threading.Timer(
                self.notice_after, self._notice, (server, ticket, self.first_timeout)
            )
            timer.daemon = True
            timer.start()
        try:
            with urllib.request.urlopen(request, timeout=self.first_timeout) as response:
                response.read()
        except urllib.error.HTTPError:
            pass
        except (OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            return "timeout" if isinstance(reason, TimeoutError) else str(reason)
        finally:
            if timer is not None:
                timer.cancel()
        with self._lock:
            server.answered = True
        return None

    def _send(self, server: Server, ticket: Ticket) -> None:
        if not server.answered:
            started = time.monotonic()
            why = self._probe(server, ticket)
            if why == "timeout":
                self._take_down(
                    server,
                    f"{server.base_url} accepted the connection but answered nothing within "
                    f"{self.first_timeout:g} s; check that it is an OpenAI-compatible server, "
                    "or, if it is still loading its model, raise FUTE_OPENAI_FIRST_TIMEOUT",
                )
                self._requeue(ticket)
                return
            if why is not None:
                self._failed(server, ticket, started, why, url=server.base_url + "/models")
                return
        url = server.base_url + ticket.path
        limit = self.timeout if server.answered else self.first_timeout
        request = urllib.request.Request(url, data=ticket.body, headers=self._headers())
        started = time.monotonic()
        timer = None
        if self.notice_after is not None and self.notice_after < limit:
            timer = threading.Timer(self.notice_after, self._notice, (server, ticket, limit))
            timer.daemon = True
            timer.start()
        try:
            with urllib.request.urlopen(request, timeout=limit) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode("utf-8", "replace")
            message = f"{url} answered HTTP {exc.code}: {detail}"
            with self._lock:
                server.answered = True
            if exc.code not in RETRY_STATUS:
                ticket.fail(ModelError(message))
            else:
                self._failed(server, ticket, started, message)
            return
        except (OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            timed_out = isinstance(reason, TimeoutError)
            if timed_out and not server.answered:
                self._take_down(
                    server,
                    f"{url} accepted the connection but answered nothing within {limit:g} s; "
                    "check that it is an OpenAI-compatible server, or, if it is still loading "
                    "its model, raise FUTE_OPENAI_FIRST_TIMEOUT",
                )
                self._requeue(ticket)
                return
            why = f"no answer within {limit:g} s" if timed_out else reason
            self._failed(server, ticket, started, why, url=url)
            return
        finally:
            if timer is not None:
                timer.cancel()
        with self._lock:
            server.answered = True
            server.failures = 0
            server.answers += 1
            server.answer_seconds += time.monotonic() - started
        try:
            ticket.future.set_result(self.parse(url, raw))
        except ModelError as exc:
            ticket.fail(exc)

    def _notice(self, server: Server, ticket: Ticket, limit: float) -> None:
        """One stderr line while a request is slow; at most one per server per `notice_after`.
        A server that answers, but always takes about this long (a big model, long prompts),
        is not slow: no line while its mean answer time is over a third of `notice_after`."""
        with self._lock:
            now = time.monotonic()
            if now - server.last_notice < (self.notice_after or 0):
                return
            usual = server.usual_seconds()
            if usual is not None and 3 * usual > (self.notice_after or 0):
                return
            server.last_notice = now
            attempt = server.failures
        sys.stderr.write(
            f"waiting for {server.base_url}{ticket.path}: no answer after {self.notice_after:g} s "
            f"(gives up after {limit:g} s, try {attempt + 1} of {self.max_retries + 1})\n"
        )
        sys.stderr.flush()

    def _failed(
        self, server: Server, ticket: Ticket, started: float, why: object, url: str | None = None
    ) -> None:
        """A retryable failure: count it against the server (once per wave of requests that
        failed together), pause the server, and put the request back for any server."""
        with self._lock:
            ticket.tries += 1
            now = time.monotonic()
            if started >= server.last_failure:
                server.failures += 1
                server.last_failure = now
                pause = min(BACKOFF_BASE * 2 ** (server.failures - 1), BACKOFF_MAX)
                server.resume_at = now + pause * (0.5 + self._random.random())
            failures = server.failures
        if url is None:  # an HTTP error: its message says all
            message = str(why)
        else:
            message = (
                f"cannot reach {url} after {failures} tries: {why} (set FUTE_OPENAI_TIMEOUT / "
                "FUTE_OPENAI_RETRIES to wait longer)"
            )
        if failures > self.max_retries:
            self._take_down(server, message)
        with self._lock:
            everyone_down = not self.up
        if everyone_down:  # the fleet's one answer, as for the requests still waiting
            ticket.fail(ModelError(self.down_message()))
        elif ticket.tries >= (self.max_retries + 1) * len(self.servers):
            ticket.fail(ModelError(message))
        else:
            self._requeue(ticket)

    def _requeue(self, ticket: Ticket) -> None:
        self._queue.put(ticket)
        with self._lock:
            if not self.up:
                self._fail_waiting()

    def _take_down(self, server: Server, message: str) -> None:
        with self._lock:
            if server.down is not None:
                return
            server.down = message
            left = len(self.up)
            if not left:
                self._fail_waiting()
        if left and self.on_down is not None:
            self.on_down(
                f"{server.base_url} is out of the fleet ({message}); its requests go to the "
                f"{left} other server{'s' if left > 1 else ''}"
            )

    def down_message(self) -> str:
        reasons = [s.down for s in self.servers if s.down]
        if len(reasons) == 1:
            return reasons[0]
        return f"all {len(reasons)} servers are down: " + "; ".join(reasons)

    def _fail_waiting(self) -> None:
        """Every server is down: fail every request still waiting (the lock is held)."""
        error = ModelError(self.down_message())
        while True:
            try:
                ticket = self._queue.get_nowait()
            except queue.Empty:
                return
            ticket.fail(error)
