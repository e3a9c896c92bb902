"""Bad inputs and faults: huge cells, broken files, silent servers, misleading messages.

Each case must end in a clear one-line error (or a bounded cost), never a traceback, a hang
or a silently wrong reading.
"""

import http.server
import json
import socket
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import pandas as pd
import pytest

from fute.core.errors import DataError, ModelError
from fute.core.examples import DataWarning, Examples, warn_if_small
from fute.data import load_data
from fute.data.text import MAX_CHARS_PER_TOKEN, cut_for_tokenizer
from fute.models.backends.openai_lm import OpenAILM
from fute.models.loading import load_model
from fute.models.prompts import MAX_TEXT_CHARS, load_prompt, load_prompts

PARAGRAPH = (
    "The hotel was close to the station, and the staff were friendly, although the room "
    "smelled of smoke and the breakfast ran out before nine. Would I stay again? Perhaps, "
    "if the price stays this low; the view over the old harbour made up for a lot. "
)


def run_fute(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "fute", *map(str, args)], capture_output=True, text=True, env=env
    )


def one_error_line(run) -> str:
    assert run.returncode == 2, (run.returncode, run.stderr)
    assert "Traceback" not in run.stdout + run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    return lines[0]


# --- huge text cells are cut before a tokenizer sees them ---------------------------------


@pytest.fixture(scope="module")
def surrogate():
    from fute.space import load_surrogate

    return load_surrogate()


class Recording:
    """A tokenizer wrapper that remembers the longest string it was handed."""

    def __init__(self, tokenizer, refuse_above: int) -> None:
        self.tokenizer = tokenizer
        self.refuse_above = refuse_above
        self.longest = 0

    def __call__(self, texts, pairs=None, **kw):
        for t in [*texts, *(pairs or [])]:
            self.longest = max(self.longest, len(t))
            # fail fast instead of spending seconds and gigabytes on the whole cell
            assert len(t) <= self.refuse_above, f"tokenizer handed {len(t):,} characters"
        return self.tokenizer(texts, pairs, **kw)

    def __getattr__(self, name):
        return getattr(self.tokenizer, name)


def test_huge_cell_reaches_the_surrogate_tokenizer_cut(surrogate, monkeypatch):
    huge = PARAGRAPH * (5_000_000 // len(PARAGRAPH))  # a 5 MB cell
    bound = 64 * MAX_CHARS_PER_TOKEN
    spy = Recording(surrogate.tokenizer, bound)
    monkeypatch.setattr(surrogate, "tokenizer", spy)
    items = surrogate.tokenize([huge, "short text"], None, 64)
    pairs = surrogate.tokenize(["a premise", huge], [huge, "a claim"], 64)
    assert 0 < spy.longest <= bound
    monkeypatch.undo()
    # the cut keeps exactly the tokens a 64-token truncation of the whole text keeps
    head = PARAGRAPH * 40
    full = surrogate.tokenizer([head], truncation=True, max_length=64)["input_ids"][0]
    assert items[0]["input_ids"] == full and len(items[0]["input_ids"]) == 64
    full_pairs = surrogate.tokenizer(
        ["a premise", head], [head, "a claim"], truncation=True, max_length=64
    )["input_ids"]
    assert [it["input_ids"] for it in pairs] == full_pairs


@pytest.mark.parametrize(
    "text",
    [
        PARAGRAPH * 30,  # ordinary long text
        "word "
        + " " * 20_000
        + PARAGRAPH * 300,  # mostly spaces: the first cut keeps too few tokens
        "Ünïcödé façade, naïve café! " * 500,  # accents, punctuation
    ],
    ids=["prose", "spaces", "accents"],
)
def test_cut_never_changes_the_tokens_kept(surrogate, text):
    tok = surrogate.tokenizer
    (cut,) = cut_for_tokenizer(tok, [text], 64)
    assert len(cut) < len(text)
    assert (
        tok([cut], truncation=True, max_length=64)["input_ids"]
        == tok([text], truncation=True, max_length=64)["input_ids"]
    )


def test_huge_cell_in_a_csv_embeds(tmp_path, surrogate, monkeypatch):
    from fute.space import Space

    rows = [(PARAGRAPH[: 40 + i], "positive" if i % 2 else "negative") for i in range(40)]
    rows[3] = (PARAGRAPH * (2_000_000 // len(PARAGRAPH)), "positive")
    path = tmp_path / "huge.csv"
    pd.DataFrame(rows, columns=["text", "label"]).to_csv(path, index=False)
    spy = Recording(surrogate.tokenizer, 64 * MAX_CHARS_PER_TOKEN)
    monkeypatch.setattr(surrogate, "tokenizer", spy)
    emb = Space(surrogate, method="mean-embedding").dataset_embedding(load_data(path))
    assert np.isfinite(emb.vector).all() and spy.longest <= 64 * MAX_CHARS_PER_TOKEN


def test_huge_cell_is_cut_before_the_lm_prompt():
    prompt = load_prompts("sentiment")[0]
    rendered = prompt.render(PARAGRAPH * 50_000)
    assert MAX_TEXT_CHARS - 200 < len(rendered) <= MAX_TEXT_CHARS + len(prompt.template)
    nli = load_prompts("nli")[0]
    assert len(nli.render((PARAGRAPH * 50_000, "short"))) <= MAX_TEXT_CHARS + 500


def test_huge_cell_is_cut_for_a_transformers_classifier(tmp_path, surrogate, monkeypatch):
    """A classifier with a fresh head on the bundled MiniLM: real tokenizer, offline."""
    from fute.engine.surrogate import default_surrogate_path
    from fute.models.adapters import HFClassifier

    clf = HFClassifier(default_surrogate_path(), max_length=32)
    clf._load()
    spy = Recording(clf._tok, 32 * MAX_CHARS_PER_TOKEN)
    monkeypatch.setattr(clf, "_tok", spy)
    p = clf.predict_proba([PARAGRAPH * 20_000, "fine"])
    assert p.shape == (2, len(clf.labels)) and spy.longest <= 32 * MAX_CHARS_PER_TOKEN


# --- prompt files: every field has a type --------------------------------------------------

GOOD_PROMPT = {
    "id": "mine",
    "task": "sentiment",
    "template": "{{ text }} Verdict:",
    "verbalizer": {"positive": "good", "negative": ["bad"]},
}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ([1, 2, 3], "a number"),
        ("just a string", "holds a string"),
        (None, "holds null"),
        ([], "empty list"),
        ({"prompts": 5}, "holds a number"),
        (GOOD_PROMPT | {"chat": "no"}, "'chat' must be true or false, got a string"),
        (GOOD_PROMPT | {"chat": 1}, "'chat' must be true or false"),
        (GOOD_PROMPT | {"id": 7}, "'id' must be a string"),
        (GOOD_PROMPT | {"task": ["sentiment"]}, "'task' must be a string"),
        (GOOD_PROMPT | {"template": None}, "'template' must be a string"),
        (GOOD_PROMPT | {"system": 3}, "'system' must be a string or null"),
        (GOOD_PROMPT | {"answer_prefix": False}, "'answer_prefix' must be a string or null"),
        (GOOD_PROMPT | {"description": {}}, "'description' must be a string"),
        (GOOD_PROMPT | {"verbalizer": [["positive", "good"]]}, "'verbalizer' must be an object"),
        (GOOD_PROMPT | {"verbalizer": {"positive": 1, "negative": "bad"}}, "'positive'"),
        (GOOD_PROMPT | {"verbalizer": {"positive": [1], "negative": "bad"}}, "'positive'"),
        (GOOD_PROMPT | {"verbalizer": {"positive": "a", "Positive": "b"}}, "twice"),
        (GOOD_PROMPT | {"id": " "}, "'id' is empty"),
    ],
)
def test_prompt_file_types_are_checked(tmp_path, content, message):
    path = tmp_path / "prompt.json"
    path.write_text(json.dumps(content))
    with pytest.raises(ModelError, match=message) as info:
        load_prompt(str(path))
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_prompt_file_of_numbers_is_one_line_in_the_cli(tmp_path):
    path = tmp_path / "numbers.json"
    path.write_text("[1, 2, 3]")
    assert "is a number (1), not an object" in one_error_line(run_fute("prompts", "show", path))
    path.write_text(json.dumps(GOOD_PROMPT | {"chat": "no"}))
    assert "'chat' must be true or false" in one_error_line(run_fute("prompts", "show", path))


# --- OpenAI-compatible servers that misbehave ----------------------------------------------


class Server:
    """A tiny HTTP server on 127.0.0.1, answering POSTs with `reply(handler)`."""

    def __init__(self, reply) -> None:
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.requests += 1
                reply(self, outer.requests)

            def log_message(self, *args):
                pass

        self.requests = 0
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _send(handler, status: int, body: bytes, kind="text/html") -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", kind)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def test_openai_server_answering_html_is_a_clear_error():
    html = b"<html><body>Welcome to nginx!</body></html>"
    with Server(lambda h, n: _send(h, 200, html)) as server:
        lm = OpenAILM(server.url, "m", max_retries=0, notice_after=None)
        with pytest.raises(ModelError, match="not JSON.*Welcome to nginx") as info:
            lm.score(["Review: fine\nSentiment:"], [" positive"])
    assert "\n" not in str(info.value)


def test_openai_server_answering_a_json_list_is_a_clear_error():
    with (
        Server(lambda h, n: _send(h, 200, b"[1, 2]", "application/json")) as server,
        pytest.raises(ModelError, match="not an object"),
    ):
        OpenAILM(server.url, "m", notice_after=None).score(["x:"], [" y"])


@pytest.fixture
def silent_server():
    """Accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


def test_silent_server_fails_fast_and_says_it_is_waiting(silent_server, capsys):
    lm = OpenAILM(silent_server, "m", first_timeout=1.0, notice_after=0.3)
    start = time.monotonic()
    with pytest.raises(ModelError, match="answered nothing within 1 s"):
        lm.score(["x:"], [" y"])
    assert time.monotonic() - start < 4  # no retries while the server never answered
    err = capsys.readouterr().err
    assert f"waiting for {silent_server}/v1/completions" in err and len(err.splitlines()) == 1


def test_silent_server_default_first_timeout_is_short(monkeypatch):
    monkeypatch.delenv("FUTE_OPENAI_FIRST_TIMEOUT", raising=False)
    monkeypatch.delenv("FUTE_OPENAI_TIMEOUT", raising=False)
    lm = OpenAILM("http://127.0.0.1:1", "m")
    assert lm.first_timeout <= 10 and lm.timeout == 60 and lm.max_retries == 3
    monkeypatch.setenv("FUTE_OPENAI_FIRST_TIMEOUT", "2.5")
    monkeypatch.setenv("FUTE_OPENAI_TIMEOUT", "7")
    monkeypatch.setenv("FUTE_OPENAI_RETRIES", "0")
    lm = OpenAILM("http://127.0.0.1:1", "m")
    assert (lm.first_timeout, lm.timeout, lm.max_retries) == (2.5, 7.0, 0)
    monkeypatch.setenv("FUTE_OPENAI_RETRIES", "many")
    with pytest.raises(ModelError, match="FUTE_OPENAI_RETRIES must be a whole number"):
        OpenAILM("http://127.0.0.1:1", "m")


def test_server_that_answered_once_then_hangs_gets_timeout_and_retries():
    def reply(handler, n):
        if n == 1:
            _send(handler, 503, b"loading")
        else:
            time.sleep(3)  # longer than the test's timeout

    with Server(reply) as server:
        lm = OpenAILM(server.url, "m", timeout=0.5, max_retries=2, notice_after=None)
        start = time.monotonic()
        with pytest.raises(ModelError, match="after 3 tries: no answer within 0.5 s"):
            lm.score(["x:"], [" y"])
        assert server.requests == 3 and time.monotonic() - start < 6


def test_server_alive_but_slow_on_its_first_completion_is_waited_for():
    """A CPU server answers `GET /models` at once but may take longer than `first_timeout`
    over its first completion: that is a live server, so the request gets `timeout`."""
    answer = json.dumps(
        {
            "choices": [
                {
                    "text": "x: y",
                    "logprobs": {
                        "tokens": ["x", ":", " y"],
                        "token_logprobs": [None, -1.0, -0.5],
                        "text_offset": [0, 1, 2],
                    },
                }
            ]
        }
    ).encode()

    def reply(handler, n):
        time.sleep(1.5)  # longer than first_timeout, shorter than timeout
        _send(handler, 200, answer, "application/json")

    with Server(reply) as server:
        lm = OpenAILM(server.url, "m", first_timeout=0.5, timeout=10, notice_after=None)
        request = {"model": "m", "prompt": "x: y", "max_tokens": 0, "echo": True, "logprobs": 1}
        assert lm.fleet.request("/completions", request)["choices"]


# --- messages that must say what is wrong ---------------------------------------------------


def test_missing_joblib_says_file_not_found(tmp_path):
    with pytest.raises(ModelError, match="model file not found"):
        load_model(str(tmp_path / "clf.joblib"))
    run = run_fute("embed", "model", tmp_path / "clf.joblib", "--store", tmp_path / "s.db")
    assert "not found" in one_error_line(run)


@pytest.mark.parametrize("spec", ["hf:/missing/dir", "hf:./missing", "lm:hf:/missing/dir"])
def test_missing_model_folder_says_it_does_not_exist(spec):
    with pytest.raises(ModelError, match="does not exist") as info:
        load_model(spec, prompt="sent-review-colon" if spec.startswith("lm:") else None)
    assert "Repo id" not in str(info.value)


def test_json_array_file_is_read_as_records(tmp_path):
    rows = [{"text": f"review number {i}", "label": ["neg", "pos"][i % 2]} for i in range(40)]
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(rows, indent=1))
    ex = load_data(path)
    assert len(ex) == 40 and ex.texts[3] == "review number 3" and ex.label_names == ("neg", "pos")
    path.write_text(json.dumps({"text": ["a b", "c d"], "label": ["x", "y"]}))
    assert load_data(path).texts == ["a b", "c d"]
    path.write_text("\n".join(json.dumps(r) for r in rows))  # JSON Lines under .json
    assert len(load_data(path)) == 40


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("numbers.json", "[1, 2, 3]", "numbers.json item 0: expected an object"),
        ("one.json", '"hello"', "holds a single JSON string"),
        ("broken.json", '[{"text": "a",\n "label": }]', "broken.json line 2 column"),
        (
            "broken.jsonl",
            '{"text": "a", "label": "x"}\n{"text": "b", "label": "y"}\n{"text": "c", label: "x"}\n',
            "broken.jsonl line 3: not valid JSON",
        ),
        ("list.jsonl", '{"text": "a", "label": "x"}\n\n[1, 2]\n', "list.jsonl line 3: expected"),
    ],
)
def test_bad_json_files_name_the_line(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        load_data(path)


def test_usage_errors_are_one_line_and_help_still_works():
    line = one_error_line(run_fute("embed", "dataset", "sentiment-yelp", "--bogus"))
    assert "--bogus" in line and "fute embed dataset --help" in line
    assert "Missing argument" in one_error_line(run_fute("embed", "dataset"))
    assert "No such command" in one_error_line(run_fute("nosuchcommand"))
    help_run = run_fute("embed", "dataset", "--help")
    assert help_run.returncode == 0 and "--max-examples" in help_run.stdout


# --- tiny and degenerate data sets ----------------------------------------------------------


def test_tiny_or_degenerate_data_warns_and_one_example_is_refused():
    two = Examples.from_labels(["good", "bad"], ["pos", "neg"], name="two")
    with pytest.warns(DataWarning, match="two has only 2 examples"):
        warn_if_small(two)
    singletons = Examples.from_labels(
        [f"text {i}" for i in range(40)], [f"c{i}" for i in range(40)]
    )
    with pytest.warns(DataWarning, match="40 of 40 classes have fewer than 4"):
        warn_if_small(singletons)
    fine = Examples.from_labels([f"t {i}" for i in range(40)], ["a", "b"] * 20)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_small(fine)
    with pytest.raises(DataError, match="only one example"):
        Examples.from_soft_labels(["x"], np.array([[0.5, 0.5]]), ["a", "b"], name="x").validate()


def test_tiny_data_set_warns_in_the_cli(tmp_path):
    path = tmp_path / "tiny.csv"
    path.write_text("text,label\ngood film,pos\nbad film,neg\n")
    run = run_fute(
        "embed", "dataset", path, "--method", "mean-embedding", "--store", tmp_path / "s.db"
    )
    assert run.returncode == 0, run.stderr
    warned = [line for line in run.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warned) == 1 and "tiny has only 2 examples" in warned[0], run.stderr
    one = tmp_path / "one.csv"
    one.write_text("text,label\ngood film,pos\n")
    assert "only one" in one_error_line(
        run_fute("embed", "dataset", one, "--store", tmp_path / "s.db")
    )
