"""How fute scales on one machine: rank, list and report at 2,000 / 20,000 / 100,000 vectors.

Section `store` (the default): for each size, a store of that many random unit vectors of
4,096 values in one space (float32, seeded; 2 % data sets, 10 % LLM + prompt, the rest
models) is written through the public `Store.add_many` API in batches of 1,000, then timed:

- `fute rank NAME --top 10` in a fresh process (wall time of the whole command, measured
  from outside, and its peak resident memory from `/usr/bin/time`): first with no vector
  index (it is built then), then with the index built ("cold": a new process, the files in
  the OS page cache);
- the same ranking in-process after one call ("warm", the median of 5), in a child process
  so that its peak memory is its own;
- `fute store list` as a table (paged) and `--json` (all rows);
- `fute report` of the store, with its page size.

Random vectors are the worst case for a ranking (no structure to exploit) and the same
cost per row as real embeddings of this size. Stores are kept under
``$FUTE_CACHE/bench/scale/`` and reused when they hold the right rows.

Sections are functions `section_<name>(args, env) -> (rows, markdown)` registered in
SECTIONS; run some with `--sections store,...`. The LLM-fleet and Ray rows of issue 13 are
to be added the same way (one function each), writing into the same result files.

    python -m benchmarks.scale                      # make bench-scale
    python -m benchmarks.scale --sizes 2000 --quick # a check in a minute
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.harness.cache import bench_cache
from benchmarks.harness.provenance import environment, provenance_markdown
from benchmarks.harness.results import add_common_args, results_dir, write_results
from benchmarks.harness.stages import Stages
from benchmarks.harness.tables import markdown_table
from benchmarks.scale_fleet import section_fleet
from benchmarks.scale_ray import section_ray

DIM = 4096
SPACE = "bench-scale/random-unit-4096"
BATCH = 1000
FUTE = [sys.executable, "-m", "fute"]
TIME = shutil.which("time") or "/usr/bin/time"


def kind_of(i: int) -> str:
    return "dataset" if i % 50 == 0 else "prompted-lm" if i % 10 == 5 else "model"


def build_store(path: Path, n: int, dim: int, stages: Stages) -> float:
    """A store of `n` random unit vectors (reused when it already holds exactly them)."""
    from fute.core.embedding import TaskEmbedding
    from fute.store import Store

    if path.exists():
        st = Store(path, readonly=True)
        if st.count(space_key=SPACE) == n and st.generation() is not None:
            return 0.0
        path.unlink()
        shutil.rmtree(path.with_name(path.name + ".index"), ignore_errors=True)
    store = Store(path, notify=lambda m: None)
    rng = np.random.default_rng(n)
    start = time.perf_counter()
    with stages(f"write {n:,} vectors"):
        for first in range(0, n, BATCH):
            rows = min(BATCH, n - first)
            v = rng.standard_normal((rows, dim), dtype=np.float32)
            v /= np.linalg.norm(v, axis=1, keepdims=True)
            store.add_many(
                TaskEmbedding(v[j], SPACE, kind_of(first + j), f"{kind_of(first + j)}-{first + j}")
                for j in range(rows)
            )
    return time.perf_counter() - start


def timed(cmd: list[str], env: dict | None = None) -> dict:
    """Run a command in a fresh process: wall seconds, peak RSS (MiB), stdout."""
    start = time.perf_counter()
    proc = subprocess.run(
        [TIME, "-f", "%M", *cmd], capture_output=True, text=True, env=env, check=False
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-800:]}")
    peak_kib = int(proc.stderr.strip().splitlines()[-1])
    return {"seconds": round(wall, 3), "peak_mib": round(peak_kib / 1024, 1), "stdout": proc.stdout}


WARM = """
import json, statistics, sys, time
from fute.ranking import rank_stored
from fute.store import Store
st = Store(sys.argv[1], readonly=True, notify=lambda m: None)
t = st.get(sys.argv[2])
t0 = time.perf_counter(); rank_stored(st, t, top=10); first = time.perf_counter() - t0
times = []
for _ in range(5):
    t0 = time.perf_counter(); r = rank_stored(st, t, top=10); times.append(time.perf_counter() - t0)
print(json.dumps({"first": first, "median": statistics.median(times), "top": r[0].embedding.name}))
"""


def after_one_add(path: Path, rank: list[str], dim: int) -> float:
    """`fute rank` right after one embedding was added (the index is updated, not rebuilt);
    the embedding is deleted again and the index brought back, so the store stays as made."""
    from fute.core.embedding import TaskEmbedding
    from fute.store import Store

    store = Store(path, notify=lambda m: None)
    v = np.random.default_rng(7).standard_normal(dim).astype(np.float32)
    store.add(TaskEmbedding(v / np.linalg.norm(v), SPACE, "model", "bench-probe"))
    seconds = timed(rank)["seconds"]
    store.delete("bench-probe", space_key=SPACE)
    timed(rank)
    return seconds


def measure(path: Path, n: int, dim: int, work: Path) -> dict:
    index = path.with_name(path.name + ".index")
    shutil.rmtree(index, ignore_errors=True)
    target = "dataset-0"
    rank = [*FUTE, "rank", target, "--top", "10", "--store", str(path), "--json"]
    row: dict = {"n": n, "dim": dim, "load_avg_1m_before": round(os.getloadavg()[0], 1)}
    build = timed(rank)  # no index yet: it is built by this command
    row["rank_first_s"], row["rank_first_peak_mib"] = build["seconds"], build["peak_mib"]
    cold = [timed(rank) for _ in range(3)]
    best = min(cold, key=lambda r: r["seconds"])
    row["rank_cold_s"] = statistics.median(r["seconds"] for r in cold)
    row["rank_cold_peak_mib"] = max(r["peak_mib"] for r in cold)
    row["top1"] = json.loads(best["stdout"])["results"][0]["name"]
    row["rank_after_add_s"] = after_one_add(path, rank, dim)
    warm = timed([sys.executable, "-c", WARM, str(path), target])
    w = json.loads(warm["stdout"])
    row["rank_warm_s"], row["rank_warm_peak_mib"] = round(w["median"], 4), warm["peak_mib"]
    imports = timed([sys.executable, "-c", "import fute.cli"])
    row["python_start_s"] = imports["seconds"]
    listing = timed(
        [*FUTE, "store", "list", "--store", str(path)], {**os.environ, "COLUMNS": "100"}
    )
    row["list_table_s"], row["list_table_peak_mib"] = listing["seconds"], listing["peak_mib"]
    as_json = timed([*FUTE, "store", "list", "--store", str(path), "--json"])
    row["list_json_s"], row["list_json_peak_mib"] = as_json["seconds"], as_json["peak_mib"]
    out = work / f"report-{n}"
    report = timed([*FUTE, "report", "--store", str(path), "--out", str(out), "--force"])
    row["report_s"], row["report_peak_mib"] = report["seconds"], report["peak_mib"]
    row["report_page_mb"] = round((out / "index.html").stat().st_size / 1e6, 2)
    row["store_gb"] = round(path.stat().st_size / 1e9, 2)
    row["index_gb"] = round(sum(p.stat().st_size for p in index.iterdir()) / 1e9, 2)
    row["load_avg_1m_after"] = round(os.getloadavg()[0], 1)
    return row


def section_store(args: argparse.Namespace, stages: Stages) -> tuple[list[dict], str]:
    work = bench_cache("scale")
    rows = []
    for n in args.sizes:
        path = work / f"store-{n}.sqlite"
        written = build_store(path, n, args.dim, stages)
        with stages(f"measure {n:,}"):
            row = measure(path, n, args.dim, work)
        if written:
            row["write_s"] = round(written, 1)
        print(json.dumps(row), flush=True)
        rows.append(row)
    table = markdown_table(
        [
            "vectors",
            "rank: first (builds index)",
            "rank after 1 add",
            "rank cold",
            "rank warm",
            "list table",
            "list --json",
            "report",
            "page",
            "store / index",
        ],
        [
            [
                f"{r['n']:,}",
                f"{r['rank_first_s']:.2f} s, {r['rank_first_peak_mib']:.0f} MiB",
                f"{r['rank_after_add_s']:.2f} s",
                f"{r['rank_cold_s']:.2f} s, {r['rank_cold_peak_mib']:.0f} MiB",
                f"{1000 * r['rank_warm_s']:.0f} ms, {r['rank_warm_peak_mib']:.0f} MiB",
                f"{r['list_table_s']:.2f} s, {r['list_table_peak_mib']:.0f} MiB",
                f"{r['list_json_s']:.2f} s, {r['list_json_peak_mib']:.0f} MiB",
                f"{r['report_s']:.1f} s, {r['report_peak_mib']:.0f} MiB",
                f"{r['report_page_mb']:.1f} MB",
                f"{r['store_gb']:.2f} / {r['index_gb']:.2f} GB",
            ]
            for r in rows
        ],
    )
    start = rows[0]["python_start_s"] if rows else 0
    md = (
        f"## Store, rank, list, report ({args.dim}-value random unit vectors, one space)\n\n"
        f"{table}\n\n"
        "Times are wall times of the whole command in a fresh process (Python start and "
        f"imports included: `import fute.cli` alone takes {start:.1f} s here), except 'rank "
        "warm': the median of 5 rankings in one process after a first one (the second "
        "search of an index reads it into memory as float16 and scans that; the rows within "
        "the float16 error bound of the k-th are re-scored in float32, so results are "
        "exact; peak memory includes torch). Peak = maximum "
        "resident memory of that process (memory-mapped index pages included). The load "
        "average of this 2-core machine (other jobs) was "
        + ", ".join(
            f"{r['load_avg_1m_before']:.0f}-{r['load_avg_1m_after']:.0f} at {r['n']:,}"
            for r in rows
        )
        + ": every time is an upper bound.\n"
    )
    return rows, md


SECTIONS: dict[str, Callable[[argparse.Namespace, Stages], tuple[list[dict], str]]] = {
    "store": section_store,
    "ray": section_ray,  # scale_ray.py: local vs a 2-worker Ray cluster
    "fleet": section_fleet,  # scale_fleet.py: 1 vs 2 llama.cpp servers x 1/4/16 in flight
}

LIMITS = """## What this machine can and cannot show

This is a shared 2-core virtual machine (no GPU; other jobs were running during the
measurement, so times are upper bounds). It shows the costs that do not depend on cores:
one exhaustive ranking reads every index row once (4 bytes x 4,096 x n, 1.6 GB at 100,000,
from the float32 file; 0.8 GB from the float16 copy a warm process keeps), so it is bound
by memory bandwidth; listing and reporting touch no vector but the ones
they show. It cannot show a cold disk (the index sits in the OS page cache after the first
ranking; on a cold disk add the time to read 1.6 GB), nor many cores: the matrix product
uses numpy's BLAS threads (torch's in a warm process), and several targets at once (the
report) share one pass. On a
server with more memory bandwidth the warm ranking scales with it; past a few million rows
an approximate index (FAISS IVF / HNSW) would be the next step."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_args(parser)
    parser.add_argument(
        "--sizes",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[2000, 20000, 100000],
        help="comma-separated store sizes",
    )
    parser.add_argument("--dim", type=int, default=DIM)
    parser.add_argument(
        "--inputs", type=int, default=16, help="fleet section: pool inputs each setting answers"
    )
    parser.add_argument(
        "--sections",
        type=lambda s: [x.strip() for x in s.split(",") if x.strip()],
        default=list(SECTIONS),
        help=f"comma-separated sections to run, of {sorted(SECTIONS)}",
    )
    args = parser.parse_args()
    unknown = [s for s in args.sections if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown sections {unknown}; choose from {sorted(SECTIONS)}")
    env = environment()
    stages = Stages()
    payload: dict = {"environment": env, "settings": vars(args) | {"out": str(args.out)}}
    payload["markdown"] = {}
    for name in args.sections:
        payload[name], payload["markdown"][name] = SECTIONS[name](args, stages)
    # sections not run now keep their results from the last run that wrote them
    previous = results_dir(args) / "scale.json"
    old = json.loads(previous.read_text()) if previous.is_file() else {}
    if "store" in old and "markdown" not in old:  # written before sections kept their text
        text = previous.with_suffix(".md").read_text().split("\n## What this machine")[0]
        old["markdown"] = {"store": text.split("\n", 1)[1].strip() + "\n"}
    kept = [n for n in SECTIONS if n not in args.sections and n in old.get("markdown", {})]
    for name in kept:
        payload[name], payload["markdown"][name] = old[name], old["markdown"][name]
        payload.setdefault("kept", {})[name] = old.get("kept", {}).get(name) or old["environment"]
    parts = ["# Scale: store, ranking, report, batches", ""]
    parts += [payload["markdown"][n] + "\n" for n in SECTIONS if n in payload["markdown"]]
    parts += [LIMITS, ""] if "store" in payload["markdown"] else []
    parts += [provenance_markdown(env, payload["settings"], stages)]
    parts += [
        f"- section {n} kept from the run of {e['started']} (commit {e['git']['commit'][:12]})"
        for n, e in payload.get("kept", {}).items()
    ]
    write_results("scale", payload, "\n".join(parts), results_dir(args))


if __name__ == "__main__":
    main()
