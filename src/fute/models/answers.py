"""A model's answers on many inputs, cached on disk so a killed run resumes and a rerun is free.

Asking an LLM for its label distribution on a pool of a thousand inputs takes minutes; the
answers are the expensive intermediate result of a model task embedding. They are stored in
one SQLite file per model under ``cache_subdir("answers")``:

* the file is named by the *model key*: sha256 over the model identity
  (`protocol.model_identity`), the prompt hash of a `PromptedLM` and the label names, so a
  changed model, prompt or label set never reads stale answers;
* each row is keyed by the sha256 of one input and holds its probabilities as float64
  bytes in ``model.labels`` order, exactly as the model returned them after validation.

Why this survives SIGKILL: every batch is written in one SQLite transaction, so after a
crash the file holds whole batches only (the journal rolls a half-written batch back).
Unanswered inputs are batched in the same order and with the same boundaries as in the
first run, so the resumed run asks the model exactly the batches it would have asked
anyway and the result is bit-identical to an uninterrupted run.

A model over a fleet of OpenAI-compatible servers has several batches answered side by side
(`requests_in_flight`), each committed the moment it is complete, so batches may be
committed out of order; its answers for an input do not depend on the batch it is in, so a
resumed run still gives the same numbers.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import sqlite3
from collections.abc import Sequence
from contextlib import closing, nullcontext
from pathlib import Path

import numpy as np

from fute.core.errors import ModelError
from fute.core.examples import Examples
from fute.core.paths import cache_subdir
from fute.models.protocol import Input, model_identity, model_name, predict

DEFAULT_BATCH_SIZE = 16


def input_hash(x: Input) -> str:
    """sha256 of one input; a text and a one-element pair can never collide."""
    payload = x if isinstance(x, str) else [str(x[0]), str(x[1])]
    return hashlib.sha256(json.dumps(payload, ensure_ascii=False).encode("utf-8")).hexdigest()


def prompt_hash(model: object) -> str:
    """The hash of a prompted model's prompt (empty for models without one)."""
    prompt = getattr(model, "prompt", None)
    if prompt is None:
        return ""
    h = getattr(prompt, "hash", None)
    if callable(h):
        h = h()
    return str(h) if h is not None else hashlib.sha256(repr(prompt).encode()).hexdigest()


def model_key(model: object) -> str:
    """The cache key of a model's answers: identity + prompt hash + label names."""
    parts = {
        "identity": model_identity(model),
        "prompt": prompt_hash(model),
        "labels": [str(label) for label in model.labels],
        "arity": int(model.arity),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


class AnswerCache:
    """One model's answers in one SQLite file: input hash -> float64 probabilities."""

    def __init__(self, path: Path, n_labels: int, meta: dict | None = None) -> None:
        self.path = Path(path)
        self.n_labels = n_labels
        self.meta = dict(meta or {})
        self._db: sqlite3.Connection | None = None
        # the file is created with the first answers, so a run that fails before any
        # answer leaves nothing behind; an existing file is opened at once
        if self.path.exists():
            self._connect()

    def _connect(self) -> sqlite3.Connection:
        if self._db is not None:
            return self._db
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # timeout: several processes (or engineers) may share one cache file
        self._db = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS answers (input TEXT PRIMARY KEY, probs BLOB NOT NULL)"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        if self.meta:
            with self._transaction():
                self._db.executemany(
                    "INSERT OR IGNORE INTO meta VALUES (?, ?)",
                    [(k, json.dumps(v)) for k, v in self.meta.items()],
                )
        return self._db

    def _transaction(self):
        db = self._db

        class _Tx:
            def __enter__(self):
                db.execute("BEGIN IMMEDIATE")

            def __exit__(self, exc_type, *_):
                db.execute("ROLLBACK" if exc_type else "COMMIT")

        return _Tx()

    def get_many(self, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        if self._db is None:
            return found
        hashes = list(hashes)
        for start in range(0, len(hashes), 500):  # stay under SQLite's variable limit
            chunk = hashes[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT input, probs FROM answers WHERE input IN ({marks})", chunk
            )
            for key, blob in rows:
                row = np.frombuffer(blob, dtype=np.float64)
                if row.shape != (self.n_labels,):
                    raise ModelError(
                        f"answer cache {self.path} holds a row of {row.size} labels, expected "
                        f"{self.n_labels}; delete the file to recompute"
                    )
                found[key] = row
        return found

    def put_many(self, hashes: Sequence[str], probs: np.ndarray) -> None:
        """Write one batch atomically: all rows or, after a crash, none."""
        rows = [
            (h, np.ascontiguousarray(p, dtype=np.float64).tobytes())
            for h, p in zip(hashes, probs, strict=True)
        ]
        self._connect()
        with self._transaction():
            self._db.executemany("INSERT OR REPLACE INTO answers VALUES (?, ?)", rows)

    def __len__(self) -> int:
        if self._db is None:
            return 0
        return int(self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def answer_cache_path(model: object, cache: str | os.PathLike | None = None) -> Path:
    """Where `cached_predict` keeps this model's answers."""
    return cache_subdir("answers", cache) / f"{model_key(model)[:40]}.sqlite"


def _as_inputs(data: Examples | Sequence[Input]) -> list[Input]:
    if isinstance(data, Examples):
        return data.inputs()
    if isinstance(data, str):
        raise ModelError("cached_predict takes a list of inputs or an Examples, got one string")
    return [x if isinstance(x, str) else (x[0], x[1]) for x in data]


def cached_predict(
    model: object,
    data: Examples | Sequence[Input],
    *,
    batch_size: int | None = None,
    cache: str | os.PathLike | None | bool = None,
    progress: bool | None = None,
) -> np.ndarray:
    """The model's probabilities on every input (n x len(model.labels), float64), cached on disk.

    `data` is an `Examples` (its `.inputs()` are used) or a list of inputs (strings, or
    (text, text_pair) tuples). Columns follow ``model.labels``. Only inputs not yet in the
    cache are sent to the model, in batches of `batch_size` (default: the model's own
    ``batch_size`` attribute, else 16), each batch committed as soon as it is answered (a
    model over a fleet of servers has several batches in flight; see `requests_in_flight`).
    The progress bar shows answers per second.
    `cache` overrides the cache root (as `fute.core.paths.cache_dir`); ``cache=False`` turns
    caching off. `progress=False` silences the progress bar; None shows it on a terminal.
    """
    inputs = _as_inputs(data)
    n_labels = len(model.labels)
    if not inputs:
        return np.zeros((0, n_labels), dtype=np.float64)
    bs = int(batch_size or getattr(model, "batch_size", None) or DEFAULT_BATCH_SIZE)
    if bs < 1:
        raise ModelError(f"batch_size must be at least 1, got {bs}")

    hashes = [input_hash(x) for x in inputs]
    unique: dict[str, Input] = {}
    for h, x in zip(hashes, inputs, strict=True):
        unique.setdefault(h, x)

    store: AnswerCache | None = None
    if cache is not False:
        meta = {
            "model": model_name(model),
            "identity": model_identity(model),
            "prompt_hash": prompt_hash(model),
            "labels": [str(label) for label in model.labels],
        }
        root = None if cache is None or cache is True else cache
        store = AnswerCache(answer_cache_path(model, root), n_labels, meta)

    with closing(store) if store is not None else nullcontext():
        answers = store.get_many(list(unique)) if store is not None else {}
        todo = [h for h in unique if h not in answers]
        if todo:
            from tqdm.auto import tqdm

            bar = tqdm(
                total=len(unique),
                initial=len(unique) - len(todo),
                unit="answers",
                desc=f"answers of {model_name(model)}"[:60],
                disable=(not progress) if progress is not None else None,
                leave=False,
                # the rate counts this run's answers only, not those read from the cache
                bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, "
                "{rate_noinv_fmt}]",
            )
            batches = [todo[start : start + bs] for start in range(0, len(todo), bs)]
            with bar:
                for batch, probs in _answer_batches(model, unique, batches, bs):
                    if store is not None:
                        store.put_many(batch, probs)
                    answers.update(zip(batch, probs, strict=True))
                    bar.update(len(batch))
        return np.stack([answers[h] for h in hashes]).astype(np.float64, copy=False)


def requests_in_flight(model: object) -> int:
    """How many requests the model (or its LM backend) serves at once; 1 when it does not
    say. `OpenAILM` says how many slots its fleet has."""
    for obj in (model, getattr(model, "backend", None)):
        slots = getattr(obj, "requests_in_flight", None)
        if isinstance(slots, int) and slots > 0:
            return slots
    return 1


def _answer_batches(model, unique: dict[str, Input], batches: list[list[str]], bs: int):
    """(batch, probabilities) for every batch, in the order they are answered.

    A model that serves one request at a time answers the batches one after the other. A
    model over a fleet of servers (`requests_in_flight` > 1) answers enough batches side by
    side to keep every slot busy, each batch yielded (and committed) as soon as it is done;
    its answers for an input never depend on the other inputs of its batch, so the order in
    which batches finish changes nothing but the order of the commits.
    """
    slots = requests_in_flight(model)
    side_by_side = min(len(batches), -(-slots // bs) + 1) if slots > 1 else 1
    if side_by_side <= 1:
        for batch in batches:
            yield batch, predict(model, [unique[h] for h in batch])
        return
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    pool = ThreadPoolExecutor(max_workers=side_by_side, thread_name_prefix="fute-answers")
    pending = iter(enumerate(batches))
    running: dict = {}  # future -> (position, batch)
    try:
        while True:
            for number, batch in itertools.islice(pending, side_by_side - len(running)):
                future = pool.submit(predict, model, [unique[h] for h in batch])
                running[future] = (number, batch)
            if not running:
                return
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: running[f][0]):
                yield running.pop(future)[1], future.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
