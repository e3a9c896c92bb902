"""LLM answers from a fleet of OpenAI-compatible servers (issue 13, point 2).

The first half checks the fleet's scheduling on tiny HTTP servers made by the tests (fast:
failover, retries, everything down). The second half starts real llama.cpp servers on
127.0.0.1 serving the bundled SmolLM2 GGUF and checks that one server or two give the same
answers, that a server killed mid-run loses nothing, and that a killed run resumes from the
answer cache without asking again what was answered.
"""

import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request

import numpy as np
import pytest

from fute.core.errors import ModelError
from fute.models import OpenAILM, PromptedLM, cached_predict
from fute.models.answers import AnswerCache, answer_cache_path
from fute.models.backends.fleet import Fleet
from fute.models.backends.openai_lm import read_fleet_file
from fute.models.loading import load_backend

# --- specs and fleet files --------------------------------------------------------------


def test_spec_with_several_urls_is_a_fleet():
    lm = load_backend("openai:http://h2:8000/v1,http://h1:8000#smollm2")
    assert lm.base_urls == ["http://h2:8000/v1", "http://h1:8000/v1"]
    assert lm.model == "smollm2" and lm.requests_in_flight == 2 * lm.max_in_flight
    # the order of the URLs does not change the answers, so not the cache identity either
    same = load_backend("openai:http://h1:8000/v1,http://h2:8000/v1#smollm2")
    assert lm.identity() == same.identity()
    one = load_backend("openai:http://h1:8000/v1#smollm2")
    assert one.identity() == "openai:http://h1:8000/v1#smollm2"  # as before fleets


def test_fleet_file_yaml_and_json(tmp_path, monkeypatch):
    (tmp_path / "chat.jinja").write_text("{{ messages[0]['content'] }}")
    monkeypatch.setenv("MY_VLLM_KEY", "secret")
    yaml_file = tmp_path / "fleet.yaml"
    yaml_file.write_text(
        textwrap.dedent(
            """\
            model: smollm2
            urls:
              - http://h1:8000/v1
              - http://h2:8000/v1
            max_in_flight: 16
            timeout: 30
            first_timeout: 5
            retries: 2
            api_key_env: MY_VLLM_KEY
            chat_template_file: chat.jinja
            name: smollm2-q4
            """
        )
    )
    lm = load_backend(f"openai:@{yaml_file}")
    assert lm.base_urls == ["http://h1:8000/v1", "http://h2:8000/v1"]
    assert (lm.max_in_flight, lm.timeout, lm.first_timeout, lm.max_retries) == (16, 30, 5, 2)
    assert lm.api_key == "secret" and lm.chat_template.startswith("{{")
    assert lm.identity() == "openai:smollm2-q4#smollm2" and lm.requests_in_flight == 32
    json_file = tmp_path / "fleet.json"
    json_file.write_text(json.dumps({"model": "m", "urls": ["http://h1:8000"]}))
    assert read_fleet_file(json_file) == {"base_urls": ["http://h1:8000"], "model": "m"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("model: m\n", "missing 'urls'"),
        ("urls: [http://h1/v1]\n", "missing 'model'"),
        ("model: m\nurls: []\n", "urls must be a non-empty list"),
        ("model: m\nurls: [http://h1/v1]\nmax_in_flight: 0\n", "max_in_flight must be a whole"),
        ("model: m\nurls: [http://h1/v1]\nretries: 1.5\n", "retries must be a whole number"),
        ("model: m\nurls: [http://h1/v1]\ntimeout: soon\n", "timeout must be a number"),
        ("model: m\nurls: [http://h1/v1]\nservers: 2\n", "unknown key 'servers'"),
        ("model: m\nurls: [ftp://h1/v1]\n", "not an http"),
        ("model: m\nurls: [http://h1/v1, http://h1/v1/]\n", "given twice"),
        ("model: m\nurls: [http://h1/v1]\napi_key_env: FUTE_TEST_UNSET_KEY\n", "not set"),
        ("model: m\nurls: [http://h1/v1]\nchat_template_file: none.jinja\n", "does not exist"),
        ("- just\n- a list\n", "must be a mapping"),
        ("model: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_fleet_files_are_one_line_errors(tmp_path, content, message):
    path = tmp_path / "fleet.yaml"
    path.write_text(content)
    with pytest.raises(ModelError, match=message) as info:
        load_backend(f"openai:@{path}")
    assert "\n" not in str(info.value)


def test_bad_fleet_specs_from_the_cli(tmp_path):
    missing = tmp_path / "nowhere.yaml"
    run = subprocess.run(
        [sys.executable, "-m", "fute", "embed", "model", f"openai:@{missing}"]
        + ["--prompt", "sentiment", "--store", str(tmp_path / "s.db")],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "does not exist" in lines[0]
    with pytest.raises(ModelError, match="max_in_flight must be at least 1"):
        OpenAILM("http://h1/v1", "m", max_in_flight=0)
    with pytest.raises(ModelError, match="not both"):
        OpenAILM("http://h1/v1", "m", base_urls=["http://h2/v1"])


# --- scheduling on tiny servers made by the tests -------------------------------------------


class TinyServer:
    """A threaded HTTP server on 127.0.0.1 whose answer to each POST is `reply(body)`:
    (status, JSON object) or None to drop the connection."""

    def __init__(self, reply) -> None:
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    outer.bodies.append(body)
                answer = reply(body)
                if answer is None:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                status, obj = answer
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.lock = threading.Lock()
        self.bodies: list[dict] = []
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def tiny_servers():
    made: list[TinyServer] = []

    def make(reply):
        made.append(TinyServer(reply))
        return made[-1]

    yield make
    for server in made:
        server.close()


def fleet(urls, **kw) -> Fleet:
    options = dict(
        parse=lambda url, raw: json.loads(raw),
        api_key=None,
        timeout=5.0,
        first_timeout=5.0,
        max_retries=2,
        max_in_flight=3,
        notice_after=None,
    )
    options.update(kw)
    return Fleet(urls, **options)


def echo(body):
    time.sleep(0.01)
    return 200, {"n": body["n"]}


def test_requests_are_spread_and_answers_placed_by_position(tiny_servers):
    a, b = tiny_servers(echo), tiny_servers(echo)
    f = fleet([a.url, b.url])
    tickets = [f.submit("/completions", {"n": n}) for n in range(60)]
    assert [t.result()["n"] for t in tickets] == list(range(60))
    assert len(a.bodies) > 0 and len(b.bodies) > 0 and len(a.bodies) + len(b.bodies) == 60


def test_a_dead_server_hands_its_work_to_the_others(tiny_servers, capsys):
    both_out = threading.Event()

    def patient(body):  # answers once both others are out, so they must fail their share
        both_out.wait(timeout=20)
        return echo(body)

    good = tiny_servers(patient)
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    dropping = tiny_servers(lambda body: None)  # accepts, then drops every connection
    f = fleet([dead, dropping.url, good.url], on_down=lambda m: print(m, file=sys.stderr))

    def watch():
        while len(f.up) > 1:
            time.sleep(0.02)
        both_out.set()

    threading.Thread(target=watch, daemon=True).start()
    tickets = [f.submit("/completions", {"n": n}) for n in range(30)]
    assert [t.result()["n"] for t in tickets] == list(range(30))
    assert len(good.bodies) == 30
    assert [s.down is not None for s in f.servers] == [True, True, False]
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all("out of the fleet" in line for line in err)


def test_retryable_errors_are_retried_then_succeed(tiny_servers):
    seen = {"n": 0}

    def flaky(body):
        seen["n"] += 1
        return (503, {"error": "loading"}) if seen["n"] <= 2 else (200, {"n": body["n"]})

    server = tiny_servers(flaky)
    f = fleet([server.url], max_in_flight=1)
    assert f.request("/completions", {"n": 7}) == {"n": 7}
    assert len(server.bodies) == 3 and f.servers[0].down is None


def test_every_server_down_is_one_line_naming_each(tiny_servers):
    urls = [f"http://127.0.0.1:{free_port()}/v1" for _ in range(2)]
    f = fleet(urls, max_retries=1)
    start = time.monotonic()
    tickets = [f.submit("/completions", {"n": n}) for n in range(5)]
    for ticket in tickets:
        with pytest.raises(ModelError, match="all 2 servers are down") as info:
            ticket.result()
        assert "\n" not in str(info.value)
        assert all(url in str(info.value) for url in urls)
    assert time.monotonic() - start < 10


def test_the_request_that_takes_the_last_server_down_gets_the_fleet_answer():
    """One request, two refusing servers, no retries: its second failure takes the last
    server out, and it must fail with the fleet's message, like every waiting request."""
    urls = [f"http://127.0.0.1:{free_port()}/v1" for _ in range(2)]
    ticket = fleet(urls, max_retries=0).submit("/completions", {"n": 0})
    with pytest.raises(ModelError, match="all 2 servers are down") as info:
        ticket.result()
    assert all(url in str(info.value) for url in urls)


def test_request_errors_fail_the_request_not_the_server(tiny_servers):
    bad = tiny_servers(lambda body: (400, {"error": "no such model"}))
    f = fleet([bad.url])
    with pytest.raises(ModelError, match="HTTP 400"):
        f.request("/completions", {"n": 1})
    assert f.servers[0].down is None and len(bad.bodies) == 1


# --- real llama.cpp servers ------------------------------------------------------------------

N_INPUTS = 6
BATCH = 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    """`python -m llama_cpp.server` on 127.0.0.1 serving the bundled SmolLM2 GGUF."""

    def __init__(self) -> None:
        from fute.models.backends.transformers_lm import smollm2_gguf_path

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_gguf_path())]
            + ["--host", "127.0.0.1", "--port", str(self.port), "--model_alias", "smollm2"]
            # one token at a time: a prompt's log-probabilities then never depend on which
            # earlier prompt's prefix the server reused, so every server gives the same bits
            + ["--n_threads", "1", "--n_ctx", "512", "--n_batch", "1", "--n_ubatch", "1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def wait_ready(self, limit: float = 120.0) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url + "/models", timeout=1)
                return
            except OSError:
                if self.proc.poll() is not None:
                    pytest.fail(f"llama_cpp.server exited with code {self.proc.returncode}")
                time.sleep(0.25)
        pytest.fail(f"llama_cpp.server on {self.url} not ready after {limit:g} s")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def llama_servers():
    """Start llama.cpp servers on demand (in parallel); all are killed at the end, also
    when a test fails."""
    pytest.importorskip("llama_cpp.server")
    started: list[LlamaServer] = []

    def start(n: int) -> list[LlamaServer]:
        new = [LlamaServer() for _ in range(n)]
        started.extend(new)
        for server in new:
            server.wait_ready()
        return new

    try:
        yield start
    finally:
        for server in started:
            server.kill()


@pytest.fixture(scope="module")
def pair(llama_servers):
    return llama_servers(2)


@pytest.fixture(scope="module")
def chat_template():
    import gguf

    from fute.models.backends.transformers_lm import smollm2_gguf_path

    field = gguf.GGUFReader(smollm2_gguf_path()).fields["tokenizer.chat_template"]
    return bytes(field.parts[field.data[0]]).decode("utf-8")


@pytest.fixture(scope="module")
def prompt_file(tmp_path_factory):
    """A short chat prompt (llama-cpp-python's server aligns echoed log-probabilities only
    for prompts that start with BOS) with one word per label: two requests per input."""
    path = tmp_path_factory.mktemp("prompt") / "fleet-chat.json"
    prompt = {
        "id": "fleet-chat",
        "task": "sentiment",
        "system": "Answer in one word.",
        "template": "Positive or negative?\n{{ text }}",
        "verbalizer": {"negative": ["negative"], "positive": ["positive"]},
        "chat": True,
    }
    path.write_text(json.dumps(prompt))
    return path


@pytest.fixture(scope="module")
def inputs():
    """The first 8 words of 6 pool inputs (real data from the cache)."""
    from fute.data.pool import sample_pool

    return [" ".join(t.split()[:8]) for t in sample_pool(N_INPUTS, seed=0).texts]


def prompted(urls, chat_template, prompt_file, **kw):
    lm = OpenAILM(urls, "smollm2", chat_template=chat_template, first_timeout=120, **kw)
    return PromptedLM(lm, str(prompt_file), batch_size=BATCH)


@pytest.fixture(scope="module")
def one_server_answers(pair, chat_template, prompt_file, inputs):
    model = prompted([pair[0].url], chat_template, prompt_file, max_in_flight=1)
    return cached_predict(model, inputs, cache=False, progress=False)


@pytest.mark.slow
@pytest.mark.llamacpp
def test_two_servers_give_the_same_answers_as_one(
    pair, chat_template, prompt_file, inputs, one_server_answers
):
    model = prompted([s.url for s in pair], chat_template, prompt_file, max_in_flight=4)
    answers = cached_predict(model, inputs, cache=False, progress=False)
    np.testing.assert_array_equal(answers, one_server_answers)  # bit-identical
    served = [s.answers for s in model.backend.fleet.servers]
    assert all(n > 0 for n in served) and sum(served) == 2 * N_INPUTS + 1  # + the probe


@pytest.mark.slow
@pytest.mark.llamacpp
def test_a_server_killed_mid_run_loses_nothing(
    llama_servers, pair, chat_template, prompt_file, inputs, one_server_answers, capsys
):
    (doomed,) = llama_servers(1)
    model = prompted([doomed.url, pair[1].url], chat_template, prompt_file, max_in_flight=2)
    fleet = model.backend.fleet

    def kill_after_some_answers():
        deadline = time.monotonic() + 300
        while fleet.servers[0].answers < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        doomed.kill()

    killer = threading.Thread(target=kill_after_some_answers, daemon=True)
    killer.start()
    answers = cached_predict(model, inputs, cache=False, progress=False)
    killer.join()
    np.testing.assert_array_equal(answers, one_server_answers)
    assert fleet.servers[0].down is not None and fleet.servers[1].down is None
    assert 2 <= fleet.servers[0].answers < 2 * N_INPUTS
    assert "is out of the fleet" in capsys.readouterr().err


def stored_answers(path) -> int:
    """Rows committed to an answer cache file so far (0 before it exists)."""
    if not path.exists():
        return 0
    cache = AnswerCache(path, n_labels=2)
    try:
        return len(cache)
    finally:
        cache.close()


RUN_AND_WAIT = """
import sys
from fute.models import OpenAILM, PromptedLM, cached_predict
urls, template, prompt, cache, inputs = sys.argv[1].split(","), *sys.argv[2:5], sys.argv[5:]
lm = OpenAILM(urls, "smollm2", chat_template=open(template).read(), first_timeout=120)
cached_predict(PromptedLM(lm, prompt, batch_size=2), inputs, cache=cache, progress=False)
"""


@pytest.mark.slow
@pytest.mark.llamacpp
def test_a_killed_run_resumes_without_asking_again(
    pair, chat_template, prompt_file, inputs, one_server_answers, tmp_path
):
    template = tmp_path / "chat.jinja"
    template.write_text(chat_template)
    urls = [s.url for s in pair]
    model = prompted(urls, chat_template, prompt_file, max_in_flight=1)
    cache_file = answer_cache_path(model, tmp_path)
    run = subprocess.Popen(
        [sys.executable, "-c", RUN_AND_WAIT, ",".join(urls), str(template), str(prompt_file)]
        + [str(tmp_path), *inputs],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        stored = 0
        while stored < BATCH and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
            stored = stored_answers(cache_file)
        os.kill(run.pid, signal.SIGKILL)
    finally:
        if run.poll() is None:
            run.kill()
        run.wait(timeout=30)
    assert run.returncode == -signal.SIGKILL, run.stderr.read()
    stored = stored_answers(cache_file)
    assert BATCH <= stored < N_INPUTS and stored % BATCH == 0  # whole batches only
    answers = cached_predict(model, inputs, cache=tmp_path, progress=False)
    np.testing.assert_array_equal(answers, one_server_answers)
    asked = sum(s.answers for s in model.backend.fleet.servers)
    assert asked == 2 * (N_INPUTS - stored) + 1  # the missing inputs' two words + the probe


def test_slow_line_only_for_a_server_slower_than_it_usually_is(tiny_servers, capsys):
    """A server that always takes ~0.3 s gets no 'waiting' line at notice_after=0.2 s once it
    has answered; the first request (nothing answered yet) and a request far slower than
    its usual answers do get one."""
    delays = iter([0.3, 0.3, 0.3, 0.3, 1.5])

    def slow(body):
        time.sleep(next(delays))
        return 200, {"n": body["n"]}

    f = fleet([tiny_servers(slow).url], notice_after=0.2, max_in_flight=1)
    assert f.submit("/completions", {"n": 0}).result()["n"] == 0
    first = capsys.readouterr().err
    assert first.count("waiting for") == 1  # nothing answered yet: say so
    for n in range(1, 4):
        f.submit("/completions", {"n": n}).result()
    assert "waiting for" not in capsys.readouterr().err  # its usual pace: quiet
    f.notice_after = 1.0  # now ~3x its usual 0.3 s: a 1.5 s answer is news
    f.submit("/completions", {"n": 4}).result()
    assert capsys.readouterr().err.count("waiting for") == 1
