"""Carry a benchmark's cached stages from one machine to the next.

The full benchmark runs of issue 12 take longer than one working session, and each session
may start on a fresh machine with an empty ``$FUTE_CACHE``. What a killed run has already
computed lives in that cache: the LLM's answers (one SQLite file per model under
``answers/``) and the benchmark artefacts under ``bench/`` (embeddings, token
log-likelihoods, fine-tuning accuracies). This tool copies those results into a folder
(``--dir``, default ``benchmarks/stage-cache/``, ignored by git: its arrays are data files
and are never committed) that can be moved to the next machine (rsync, a shared disk, an
artefact store), and back into the cache there, so a run resumes where the last one stopped.

What is carried is fute's own measurements only: probability rows keyed by the sha256 of
an input (never the input's text), embedding vectors and their numeric extras, and
accuracies. Fine-tuned model weights (``bench/transfer-models``) and per-example encoder
features (``bench/transfer-features``, large) are never carried: a resumed run makes them
again, deterministically from the same seed, where a stage still needs them.

Every file written here is immutable and named by its content, so a copy stores each
result once and two machines never edit the same file:

* ``bench/<kind>/<file>``: a copy of the cache file, same name (names are content keys);
* ``answers/<model file stem>/meta.json``: the model's name, identity, prompt hash, labels;
* ``answers/<model file stem>/<digest>.npz``: rows not in an earlier file of that folder
  (``hashes``: the inputs' sha256, ``probs``: float64 rows in the model's label order).

Usage::

    python -m benchmarks.harness.carry save      # cache -> benchmarks/stage-cache (new rows)
    python -m benchmarks.harness.carry restore   # benchmarks/stage-cache -> cache
    python -m benchmarks.harness.carry status    # what each side holds
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np

from benchmarks.harness.results import REPO
from fute.core.paths import cache_dir
from fute.models.answers import AnswerCache

STAGE_CACHE = REPO / "benchmarks" / "stage-cache"
#: cache kinds under bench/ that are never carried: model weights, and per-example
#: features that are large and quick to remake from the (remade) model
NOT_CARRIED = ("transfer-models", "transfer-features", "quick-results")
#: a bench file bigger than this is not carried (a resumed run remakes it); said on save
MAX_FILE_BYTES = 8 * 2**20


def _bench_files(root: Path):
    for kind in sorted(p for p in root.iterdir() if p.is_dir()):
        if kind.name in NOT_CARRIED:
            continue
        for f in sorted(kind.rglob("*")):
            # a dot-file is a write in progress (cache._atomic_write)
            if f.is_file() and not f.name.startswith("."):
                yield f.relative_to(root)


def _read_db(path: Path) -> tuple[dict, list[str], np.ndarray | None]:
    """(meta, hashes, probs) of one answer cache file, read without writing to it."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60.0)
    try:
        meta = {k: json.loads(v) for k, v in db.execute("SELECT key, value FROM meta")}
        rows = db.execute("SELECT input, probs FROM answers ORDER BY input").fetchall()
    finally:
        db.close()
    if not rows:
        return meta, [], None
    return (
        meta,
        [h for h, _ in rows],
        np.stack([np.frombuffer(b, dtype=np.float64) for _, b in rows]),
    )


def _exported_hashes(folder: Path) -> set[str]:
    out: set[str] = set()
    for f in sorted(folder.glob("*.npz")):
        with np.load(f, allow_pickle=False) as z:
            out.update(str(h) for h in z["hashes"])
    return out


def save(cache: Path, dest: Path) -> dict:
    """Copy every not-yet-carried result of `cache` into `dest`; returns counts."""
    counts = {"bench_files": 0, "skipped_large": 0, "answer_rows": 0}
    bench = cache / "bench"
    if bench.is_dir():
        for rel in _bench_files(bench):
            src, out = bench / rel, dest / "bench" / rel
            if out.is_file():
                continue
            if src.stat().st_size > MAX_FILE_BYTES:
                counts["skipped_large"] += 1
                print(f"not carried (over {MAX_FILE_BYTES >> 20} MiB): bench/{rel}")
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, out)
            counts["bench_files"] += 1
    answers = cache / "answers"
    for db in sorted(answers.glob("*.sqlite")) if answers.is_dir() else []:
        meta, hashes, probs = _read_db(db)
        if probs is None:
            continue
        folder = dest / "answers" / db.stem
        done = _exported_hashes(folder)
        new = [i for i, h in enumerate(hashes) if h not in done]
        if not new:
            continue
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
        new_hashes = np.array([hashes[i] for i in new])
        digest = hashlib.sha256("\n".join(new_hashes.tolist()).encode()).hexdigest()[:20]
        np.savez_compressed(folder / f"{digest}.npz", hashes=new_hashes, probs=probs[new])
        counts["answer_rows"] += len(new)
    return counts


def restore(src: Path, cache: Path) -> dict:
    """Copy every carried result of `src` that `cache` lacks into it; returns counts."""
    counts = {"bench_files": 0, "answer_rows": 0}
    bench = src / "bench"
    if bench.is_dir():
        for rel in _bench_files(bench):
            out = cache / "bench" / rel
            if out.is_file():
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_name(f".{out.name}.restore.tmp")
            shutil.copyfile(bench / rel, tmp)
            tmp.replace(out)
            counts["bench_files"] += 1
    answers = src / "answers"
    for folder in sorted(p for p in answers.iterdir() if p.is_dir()) if answers.is_dir() else []:
        meta = json.loads((folder / "meta.json").read_text())
        path = cache / "answers" / f"{folder.name}.sqlite"
        store = AnswerCache(path, len(meta["labels"]), meta)
        try:
            have = set(store.get_many(list(_exported_hashes(folder))))
            for f in sorted(folder.glob("*.npz")):
                with np.load(f, allow_pickle=False) as z:
                    hashes, probs = [str(h) for h in z["hashes"]], z["probs"]
                keep = [i for i, h in enumerate(hashes) if h not in have]
                if keep:
                    store.put_many([hashes[i] for i in keep], probs[keep])
                    counts["answer_rows"] += len(keep)
        finally:
            store.close()
    return counts


def status(cache: Path, dest: Path) -> dict:
    def size(p: Path) -> int:
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) if p.is_dir() else 0

    return {
        "cache": str(cache),
        "carried_folder": str(dest),
        "carried_bytes": size(dest),
        "carried_bench_files": sum(1 for _ in _bench_files(dest / "bench"))
        if (dest / "bench").is_dir()
        else 0,
        "carried_answer_models": len(list((dest / "answers").glob("*/meta.json"))),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("action", choices=("save", "restore", "status"))
    p.add_argument("--cache", type=Path, default=None, help="cache root (default: $FUTE_CACHE)")
    p.add_argument("--dir", type=Path, default=STAGE_CACHE, help="the carried folder")
    args = p.parse_args(argv)
    cache = cache_dir(args.cache)
    if args.action == "save":
        out = save(cache, args.dir)
    elif args.action == "restore":
        out = restore(args.dir, cache)
    else:
        out = status(cache, args.dir)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
