"""Several processes on one real SQLite file: nothing lost, nothing half-written.

Each test starts real OS processes (spawn), so locking and recovery are SQLite's own, not
an in-process simulation.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time

import numpy as np

from fute.core.embedding import TaskEmbedding
from fute.store import Store

SPACE = "minilm@abc/fisher/123/seed0"
WRITERS = 4
PER_WRITER = 15


def vector(writer: int, i: int) -> np.ndarray:
    return np.random.default_rng(1000 * writer + i).normal(size=20_000).astype(np.float32)


def _writer(path: str, writer: int, start: mp.Event) -> None:
    store = Store(path)
    start.wait()
    for i in range(PER_WRITER):
        store.add(
            TaskEmbedding(
                vector(writer, i), SPACE, "model", f"w{writer}-m{i}", {"w": writer, "i": i}
            )
        )
        # every writer also replaces one shared key: the last write wins, whole
        store.add(
            TaskEmbedding(vector(writer, i), SPACE, "dataset", "shared", {"w": writer, "i": i})
        )


def _reader(path: str, start: mp.Event, stop: mp.Event, seen: mp.Queue) -> None:
    store = Store(path)
    start.wait()
    counts = []
    while not stop.is_set():
        counts.append(len(store.list(name="shared")))
    seen.put(counts)


def test_four_processes_writing_at_once_lose_nothing(tmp_path):
    path = str(tmp_path / "store.sqlite")
    Store(path)
    ctx = mp.get_context("spawn")
    start, stop, seen = ctx.Event(), ctx.Event(), ctx.Queue()
    writers = [ctx.Process(target=_writer, args=(path, w, start)) for w in range(WRITERS)]
    reader = ctx.Process(target=_reader, args=(path, start, stop, seen))
    for p in [*writers, reader]:
        p.start()
    time.sleep(1.0)  # let every process import and open the store, then release them together
    start.set()
    for p in writers:
        p.join(timeout=120)
        assert p.exitcode == 0
    stop.set()
    counts = seen.get(timeout=60)
    reader.join(timeout=30)

    store = Store(path)
    records = store.list(kind="model")
    assert len(records) == WRITERS * PER_WRITER
    for e in store.load(kind="model"):
        np.testing.assert_array_equal(e.vector, vector(e.meta["w"], e.meta["i"]))
    shared = store.get("shared")
    assert shared.meta["i"] == PER_WRITER - 1  # some writer's last replacement
    np.testing.assert_array_equal(shared.vector, vector(shared.meta["w"], shared.meta["i"]))
    # a reader during the replacements saw the shared row exactly once every time (after the first write)
    assert 1 in counts and set(counts[counts.index(1) :]) == {1}


def _killed_mid_write(path: str, in_transaction: mp.Event) -> None:
    store = Store(path)
    with store._transaction("write") as con:
        con.execute("DELETE FROM embeddings")
        store._put(
            con, store._row(TaskEmbedding(np.zeros(10), SPACE, "dataset", "half-written")), []
        )
        in_transaction.set()
        time.sleep(600)  # SIGKILLed here, before the commit


def test_process_killed_mid_write_leaves_store_as_it_was(tmp_path):
    path = str(tmp_path / "store.sqlite")
    before = TaskEmbedding(vector(0, 0), SPACE, "dataset", "kept")
    Store(path).add(before)
    ctx = mp.get_context("spawn")
    in_transaction = ctx.Event()
    child = ctx.Process(target=_killed_mid_write, args=(path, in_transaction))
    child.start()
    assert in_transaction.wait(timeout=60)
    os.kill(child.pid, signal.SIGKILL)
    child.join(timeout=30)
    assert child.exitcode == -signal.SIGKILL

    store = Store(path)
    assert [r.name for r in store.list()] == ["kept"]
    np.testing.assert_array_equal(store.get("kept").vector, before.vector)
    store.add(TaskEmbedding(vector(0, 1), SPACE, "model", "after"))  # no stale lock left behind
    assert len(store) == 2


def _killed_mid_embedding(path: str, started: mp.Event) -> None:
    from fute.space import Space

    space = Space(method="mean-embedding", max_examples=4000, progress=False)
    from fute.core.examples import Examples

    texts = [
        f"review number {i}: the plot was {'good' if i % 2 else 'dull'} and long"
        for i in range(4000)
    ]
    data = Examples.from_labels(
        texts, ["positive" if i % 2 else "negative" for i in range(4000)], name="killed"
    )
    started.set()
    Store(path).add(space.dataset_embedding(data))


def test_process_killed_mid_embedding_leaves_store_as_it_was(tmp_path):
    path = str(tmp_path / "store.sqlite")
    Store(path).add(TaskEmbedding(vector(1, 1), SPACE, "dataset", "kept"))
    ctx = mp.get_context("spawn")
    started = ctx.Event()
    child = ctx.Process(target=_killed_mid_embedding, args=(path, started))
    child.start()
    assert started.wait(timeout=120)
    time.sleep(2.0)  # inside the encoder's forward passes
    os.kill(child.pid, signal.SIGKILL)
    child.join(timeout=30)
    assert child.exitcode == -signal.SIGKILL
    store = Store(path)
    assert [r.name for r in store.list()] == ["kept"]
