"""Cached answers: a rerun costs nothing, and a SIGKILLed run resumes bit-identically."""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from fute.models import CallableModel, cached_predict
from fute.models.answers import answer_cache_path

CHILD = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from fute.models import CallableModel, cached_predict

    def softmax_of_lengths(xs):
        time.sleep(float(sys.argv[2]))
        # depends on the whole batch, so different batching would change the bits
        z = np.array([[len(x) % 7, len(x) % 5 + np.sin(len(xs))] for x in xs], dtype=float)
        z = z / 3.0 + np.log1p(np.arange(len(xs)))[:, None] * 1e-3
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    model = CallableModel(softmax_of_lengths, ["a", "b"], name="slow-model")
    inputs = [f"input number {i} " + "x" * (i % 13) for i in range(int(sys.argv[3]))]
    p = cached_predict(model, inputs, batch_size=8, cache=sys.argv[1], progress=False)
    np.save(sys.argv[4], p)
    """
)


def run_child(tmp_path, cache, delay, n, out):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    return subprocess.Popen([sys.executable, str(script), str(cache), str(delay), str(n), str(out)])


def rows_in(cache_dir) -> int:
    files = list((cache_dir / "answers").glob("*.sqlite"))
    if not files:
        return 0
    try:
        with sqlite3.connect(files[0], timeout=1) as db:
            return db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_second_run_costs_nothing(tmp_path):
    calls = []

    def model_fn(xs):
        calls.append(len(xs))
        return np.tile([0.25, 0.75], (len(xs), 1))

    model = CallableModel(model_fn, ["no", "yes"])
    inputs = ["a", "b", "a", "c"]
    first = cached_predict(model, inputs, batch_size=2, cache=tmp_path, progress=False)
    assert sum(calls) == 3  # the duplicate is asked once
    second = cached_predict(model, inputs + ["d"], batch_size=2, cache=tmp_path, progress=False)
    assert sum(calls) == 4 and np.array_equal(first, second[:4])
    assert answer_cache_path(model, tmp_path).is_file()


def test_sigkill_resume_is_bit_identical(tmp_path):
    n = 120  # 15 batches
    reference = tmp_path / "ref.npy"
    run_child(tmp_path, tmp_path / "cache-ref", 0.0, n, reference).wait(timeout=120)

    cache = tmp_path / "cache"
    child = run_child(tmp_path, cache, 0.15, n, tmp_path / "never.npy")
    deadline = time.time() + 60
    while rows_in(cache) < 40 and time.time() < deadline:
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    done = rows_in(cache)
    assert 0 < done < n and done % 8 == 0  # whole batches only
    resumed = tmp_path / "resumed.npy"
    assert run_child(tmp_path, cache, 0.0, n, resumed).wait(timeout=120) == 0
    assert np.load(resumed).tobytes() == np.load(reference).tobytes()


def test_cache_can_be_turned_off(tmp_path, monkeypatch):
    monkeypatch.setenv("FUTE_CACHE", str(tmp_path))
    model = CallableModel(lambda xs: np.tile([0.5, 0.5], (len(xs), 1)), ["a", "b"])
    cached_predict(model, ["x"], cache=False, progress=False)
    assert not (tmp_path / "answers").exists()


def test_failed_run_leaves_no_empty_cache_file(tmp_path):
    def broken(xs):
        raise RuntimeError("model crashed")

    model = CallableModel(broken, ["a", "b"], name="broken")
    with pytest.raises(Exception, match="model crashed"):
        cached_predict(model, ["x", "y"], cache=tmp_path, progress=False)
    assert not answer_cache_path(model, tmp_path).exists()
    assert list(tmp_path.rglob("*.sqlite*")) == []
