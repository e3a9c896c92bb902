"""The `ray` section of scale.py: a fixed small batch of embeddings, locally and on Ray.

The batch: one Fisher data-set embedding (a small recipe: one training step on 32 examples,
8 Fisher examples, 512 projected values) of each of 8 catalogue data sets, the same jobs
for every executor, each run into a fresh store so that nothing is skipped. Timed, all
through `fute.embed_batch` in this process (the driver):

- the start-up of a local Ray cluster (`ray start --head` on 127.0.0.1, no dashboard,
  2 CPUs: 2 worker processes), until both CPUs are seen, and the driver's connection;
- a no-op batch (mean embedding of 2 examples per data set: a few ms of work a job) on
  Ray twice, first on the fresh workers (their start and surrogate load included) then
  warm, and in this process;
- the Fisher batch in this process with 1 torch thread (the reference), on Ray with
  2 workers x 1 thread, and in this process with 2 torch threads;
- whether the Ray vectors are bit-identical to the local 1-thread vectors.

Ray's overhead per job is the worker time a job costs on Ray beyond what the same job
costs in this process, each side net of the embedding's own compute time (``seconds`` in
the embedding's meta, measured inside the worker)::

    overhead = (W * T_ray - idle - sum(c_ray)) / N  -  (T_local - sum(c_local)) / N

with W = 2 workers, T the batch's wall time, c the per-job compute seconds, N the number
of jobs and idle the worker-seconds left idle at the end of the batch (a worker whose
last job has arrived while the other still computes: load imbalance, reported apart).
Costs both sides share (reading the data set, building the space, the store write)
cancel; what is left is scheduling the task, shipping its arguments and its result, and
the driver's wait loop.

The cluster is stopped at the end, also when a run fails (SIGTERM to `ray start --block`,
then any process left in its session is killed).

    python -m benchmarks.scale --sections ray
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.harness.stages import Stages
from benchmarks.harness.tables import markdown_table

DATASETS = [
    "sentiment-imdb",
    "pair-boolq",
    "topic-bbc",
    "spam-assassin",
    "genre-brown",
    "langid-chatterbot",
    "humour-seinfeld",
    "pair-syllogisms",
]
FISHER = {
    "method": "fisher",
    "seed": 0,
    "max_steps": 1,
    "projection_dim": 512,
    "max_examples": 32,
    "fisher_examples": 8,
    "pool_anchor": False,  # the DTE of the data set alone, as measured (`Space` anchors by default)
}
NOOP = {"method": "mean-embedding", "seed": 0, "max_examples": 2}
WORKERS = 2


# -- a local Ray cluster on 127.0.0.1 ----------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalRay:
    """``ray start --head`` on 127.0.0.1 with `cpus` CPUs and no dashboard, in its own
    session (so `stop` finds every process it started); the driver connects to it."""

    def __init__(self, cpus: int) -> None:
        self.cpus = cpus
        self.root = Path(tempfile.mkdtemp(prefix="fb", dir="/tmp"))  # short socket paths
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.head: subprocess.Popen | None = None

    def start(self, timeout: float = 180) -> dict:
        """Start the head, connect, wait for the CPUs; the seconds each step took."""
        import ray
        from ray._private import ray_constants

        # Ray swaps a loopback address for the routable one on Linux unless told that this
        # is a single-machine cluster; the driver needs the same switch as the node.
        ray_constants.ENABLE_RAY_CLUSTER = False
        cmd = [str(Path(sys.executable).with_name("ray")), "start", "--head", "--block"]
        cmd += ["--node-ip-address", "127.0.0.1", "--port", str(self.port)]
        cmd += ["--include-dashboard=false", "--num-cpus", str(self.cpus)]
        cmd += ["--temp-dir", str(self.root), "--object-store-memory", str(200 * 2**20)]
        cmd += ["--disable-usage-stats"]
        env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
        env["RAY_USAGE_STATS_ENABLED"] = "0"
        begin = time.perf_counter()
        with open(self.root / "head.log", "w") as log:
            self.head = subprocess.Popen(
                cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while not self._accepting():
            self._check(deadline)
            time.sleep(0.2)
        head_up = time.perf_counter()
        ray.init(address=self.address, logging_level="WARNING", log_to_driver=False)
        connected = time.perf_counter()
        while ray.cluster_resources().get("CPU", 0) < self.cpus:
            self._check(deadline)
            time.sleep(0.2)
        ready = time.perf_counter()
        nodes = sorted(n["NodeManagerAddress"] for n in ray.nodes() if n["Alive"])
        if nodes != ["127.0.0.1"]:
            raise RuntimeError(f"the Ray node is not on 127.0.0.1: {nodes}")
        return {
            "start_s": round((head_up - begin) + (ready - connected), 2),
            "connect_s": round(connected - head_up, 2),
            "nodes": nodes,
        }

    def _accepting(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def _check(self, deadline: float) -> None:
        if self.head is not None and self.head.poll() is not None:
            tail = (self.root / "head.log").read_text().strip().splitlines()[-1:]
            raise RuntimeError(f"ray start exited {self.head.returncode}: {tail}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the Ray cluster did not come up; logs in {self.root}")

    def stop(self) -> None:
        import psutil
        import ray

        if ray.is_initialized():
            ray.shutdown()
        if self.head is not None:
            session = self.head.pid
            if self.head.poll() is None:
                self.head.send_signal(signal.SIGTERM)  # --block: stops the node's processes
                try:
                    self.head.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    self.head.kill()
            for proc in psutil.process_iter():
                with contextlib.suppress(psutil.Error, ProcessLookupError, PermissionError):
                    if os.getsid(proc.pid) == session:
                        proc.kill()
        shutil.rmtree(self.root, ignore_errors=True)


# -- one timed batch -------------------------------------------------------------------------
def run_batch(
    space: dict,
    names: list[str],
    store: Path,
    executor: str,
    threads: int = 1,
    address: str | None = None,
    workers: int = 1,
) -> dict:
    """Run the batch into a fresh store; wall time, throughput, compute seconds, workers,
    and the worker-seconds left idle at the end (each of `workers` processes from its last
    job's arrival at the driver to the end of the batch)."""
    from fute.batch import embed_batch
    from fute.store import Store

    if store.exists():
        store.unlink()
    arrived: dict[str, float] = {}
    start = time.perf_counter()
    result = embed_batch(
        {"space": space, "datasets": names},
        executor=executor,
        address=address,
        store=store,
        threads=threads,
        progress=False,
        on_outcome=lambda o: arrived.__setitem__(o.job.name, time.perf_counter() - start),
    )
    wall = time.perf_counter() - start
    if len(result.done) != len(names):
        raise RuntimeError(f"{executor} batch did not complete: {result.summary()}")
    stored = Store(store, readonly=True).load()
    pids = {e.meta["batch"]["pid"] for e in stored}
    if executor == "ray" and os.getpid() in pids:
        raise RuntimeError("a Ray job ran in the driver, not on a worker")
    last = {pid: 0.0 for pid in pids}
    for e in stored:
        pid = e.meta["batch"]["pid"]
        last[pid] = max(last[pid], arrived[e.name])
    idle = sum(wall - t for t in last.values()) + wall * max(0, workers - len(pids))
    return {
        "executor": executor,
        "threads": threads,
        "jobs": len(names),
        "wall_s": round(wall, 2),
        "per_min": round(60 * len(names) / wall, 1),
        "compute_s": round(sum(e.meta["seconds"] for e in stored), 2),
        "processes": len(pids),
        "idle_at_end_s": round(idle, 2),
        "in_driver": pids == {os.getpid()},
        "vectors": {e.name: e.vector for e in stored},
    }


def overhead(ray_run: dict, local_run: dict, workers: int) -> float:
    """Ray's overhead per job in seconds of worker time (module docstring)."""
    n = ray_run["jobs"]
    busy = workers * ray_run["wall_s"] - ray_run.get("idle_at_end_s", 0.0)
    ray_side = (busy - ray_run["compute_s"]) / n
    local_side = (local_run["wall_s"] - local_run["compute_s"]) / n
    return round(ray_side - local_side, 3)


def store_write_seconds(vectors: dict, space_key: str, folder: Path) -> float:
    """Seconds the driver takes to store one embedding (the median over the batch)."""
    from fute.core.embedding import TaskEmbedding
    from fute.store import Store

    store = Store(folder / "write.sqlite", notify=lambda m: None)
    times = []
    for name, vec in vectors.items():
        emb = TaskEmbedding(vec, space_key, "dataset", name, {"seconds": 0.0})
        start = time.perf_counter()
        store.add(emb)
        times.append(time.perf_counter() - start)
    return round(float(np.median(times)), 4)


def _raise_exit(signum, frame) -> None:
    raise SystemExit(128 + signum)


def _load() -> float:
    return round(os.getloadavg()[0], 1)


# -- the section -------------------------------------------------------------------------------
def section_ray(args: argparse.Namespace, stages: Stages) -> tuple[list[dict], str]:
    from fute.batch.ray_executor import import_ray

    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # before Ray reads its constants
    import_ray()
    from fute.space import Space, load_surrogate

    names = DATASETS[:4] if args.quick else DATASETS
    load_before = _load()
    start = time.perf_counter()
    load_surrogate()
    surrogate_s = round(time.perf_counter() - start, 2)
    space_key = Space(**FISHER, progress=False).key
    work = Path(tempfile.mkdtemp(prefix="fute-bench-ray-"))
    runs: dict[str, dict] = {}
    cluster = LocalRay(WORKERS)
    # SIGTERM (a `timeout`, a scheduler) must also stop the cluster, which runs in its own
    # session: turn it into an exception so that `finally` runs
    terminate = signal.signal(signal.SIGTERM, _raise_exit)
    try:
        with stages("ray: local no-op batch"):
            run_batch(NOOP, names, work / "warm.sqlite", "local")  # data sets read once
            runs["local no-op"] = run_batch(NOOP, names, work / "noop-local.sqlite", "local")
        with stages("ray: local Fisher batch, 1 thread"):
            runs["local"] = run_batch(FISHER, names, work / "local.sqlite", "local")
        with stages("ray: cluster start"):
            started = cluster.start()
        with stages("ray: no-op batches"):
            kw = {"executor": "ray", "address": cluster.address, "workers": WORKERS}
            runs["ray no-op cold"] = run_batch(NOOP, names, work / "noop-cold.sqlite", **kw)
            runs["ray no-op"] = run_batch(NOOP, names, work / "noop-ray.sqlite", **kw)
        with stages("ray: Ray Fisher batch, 2 workers x 1 thread"):
            runs["ray"] = run_batch(FISHER, names, work / "ray.sqlite", **kw)
    finally:
        cluster.stop()
        signal.signal(signal.SIGTERM, terminate)
    with stages("ray: local Fisher batch, 2 threads"):
        runs["local 2 threads"] = run_batch(
            FISHER, names, work / "local2.sqlite", "local", threads=2
        )
    write_s = store_write_seconds(runs["local"]["vectors"], space_key, work)
    shutil.rmtree(work, ignore_errors=True)
    load_after = _load()

    ref = runs["local"]["vectors"]
    for key, run in runs.items():
        if "no-op" in key or key == "local":
            continue
        vecs = run["vectors"]
        run["bit_identical"] = sorted(vecs) == sorted(ref) and all(
            np.array_equal(vecs[k], ref[k]) for k in ref
        )
        run["max_abs_diff"] = float(max(np.max(np.abs(vecs[k] - ref[k])) for k in ref))
    for run in runs.values():
        run.pop("vectors", None)
    over_noop = overhead(runs["ray no-op"], runs["local no-op"], WORKERS)
    over_fisher = overhead(runs["ray"], runs["local"], WORKERS)
    runs["ray no-op"]["overhead_per_job_s"] = over_noop
    runs["ray"]["overhead_per_job_s"] = over_fisher
    worker_start = round(runs["ray no-op cold"]["wall_s"] - runs["ray no-op"]["wall_s"], 2)
    per_job = runs["local"]["compute_s"] / len(names)
    speed_ray = runs["local"]["wall_s"] / runs["ray"]["wall_s"]
    speed_2t = runs["local"]["wall_s"] / runs["local 2 threads"]["wall_s"]
    ray_procs = runs["ray"]["processes"]
    same_ray = "they are" if runs["ray"]["bit_identical"] else "they are not"
    diff_2t = runs["local 2 threads"]["max_abs_diff"]
    same_2t = "identical too" if not diff_2t else f"the last bits differ, up to {diff_2t:.1e}"

    rows: list[dict] = [{"run": name, **run} for name, run in runs.items()]
    rows.append(
        {
            "run": "summary",
            "jobs": [f"dataset {n}" for n in names],
            "space": FISHER,
            "noop_space": NOOP,
            "workers": WORKERS,
            "cluster_start_s": started["start_s"],
            "connect_s": started["connect_s"],
            "ray_nodes": started["nodes"],
            "worker_start_and_load_s": worker_start,
            "surrogate_load_s": surrogate_s,
            "store_write_s": write_s,
            "compute_per_job_s": round(per_job, 2),
            "overhead_per_job_s": over_noop,
            "overhead_per_job_fisher_s": over_fisher,
            "load_avg_1m_before": load_before,
            "load_avg_1m_after": load_after,
        }
    )
    label = {
        "local no-op": "this process, no-op jobs",
        "ray no-op cold": "Ray 2 workers, no-op jobs, fresh workers",
        "ray no-op": "Ray 2 workers, no-op jobs, warm",
        "local": "this process, 1 thread (reference)",
        "ray": "Ray, 2 workers x 1 thread",
        "local 2 threads": "this process, 2 threads",
    }

    def same(r: dict) -> str:
        if "bit_identical" not in r:
            return "(reference)" if r is runs["local"] else "-"
        if r["bit_identical"]:
            return "yes"
        return f"no (max abs diff {r['max_abs_diff']:.1e})"

    table = markdown_table(
        [
            "run",
            "jobs",
            "wall",
            "embeddings / min",
            "compute in jobs",
            "processes",
            "bit-identical",
        ],
        [
            [
                label[name],
                r["jobs"],
                f"{r['wall_s']:.1f} s",
                f"{r['per_min']:.1f}",
                f"{r['compute_s']:.1f} s",
                r["processes"],
                same(r),
            ]
            for name, r in runs.items()
        ],
    )
    md = f"""## Embedding batches: this process vs a 2-worker Ray cluster

{len(names)} Fisher data-set embeddings (catalogue data sets; one training step on 32
examples, 8 Fisher examples, 512 values), the same jobs for every run, each into a fresh
store; the no-op jobs are mean embeddings of 2 examples (a few ms of work each). Ray: a
head node started by the benchmark on 127.0.0.1 with 2 CPUs (2 worker processes, 1 torch
thread and 1 CPU per task), no dashboard, stopped at the end.

{table}

- Cluster start-up: {started["start_s"]:.1f} s until both CPUs were seen, plus
  {started["connect_s"]:.1f} s for the driver to connect. The first batch on fresh workers
  took {worker_start:.1f} s longer than the same batch on warm ones (worker processes
  started, fute imported, the surrogate loaded once in each: {surrogate_s:.1f} s in one
  process here).
- Ray's overhead per job: {over_noop:.2f} s of worker time from the no-op batch
  ({over_fisher:.2f} s from the Fisher batch), where overhead = (2 x Ray wall - compute
  inside the workers - idle at the end) / jobs - (local wall - local compute) / jobs:
  scheduling, shipping arguments and the vector, the driver's wait loop. Left apart: a
  worker idle at the end of the Fisher batch while the other finished its last job,
  {runs["ray"]["idle_at_end_s"]:.1f} worker-s ({runs["ray"]["idle_at_end_s"] / len(names):.2f} s
  a job; jobs of equal length, or many more jobs than workers, make it smaller).
- The driver stores one embedding in {1000 * write_s:.0f} ms (median).
- Load average (1 min) of this shared 2-core machine: {load_before:.0f} before,
  {load_after:.0f} after (other jobs ran meanwhile), so every time is an upper bound and the
  comparisons between runs are rough.

What this machine can and cannot show. Two workers on two cores have at best the two cores
that one process with 2 torch threads has too, so this machine cannot show Ray scaling
past 2x; and with other jobs on the same cores the wall times mostly measure contention:
here Ray was {speed_ray:.2f}x and 2 threads in one process {speed_2t:.2f}x the throughput
of one thread in one process. What the runs do show: what Ray costs per job and per worker
start, that the jobs ran in {ray_procs} worker processes and not in the driver, and
whether the Ray vectors are bit-identical to the local ones at the same thread count
({same_ray}; with 2 threads: {same_2t}).

On a real cluster the jobs are independent, so throughput should grow nearly linearly with
the number of workers W: a batch of N jobs takes about L + N (c + o) / W, with L the
worker start and surrogate load (~{worker_start:.0f} s here, paid once per worker, in
parallel), c the compute per job ({per_job:.1f} s here on one thread) and o Ray's overhead
({max(over_noop, 0):.2f} s here). It stops growing when the driver, the only writer,
becomes the bottleneck: about one store write per job ({1000 * write_s:.0f} ms here, so
roughly {60 / max(write_s, 1e-3):,.0f} embeddings / min at most), or when jobs are so short
that o dominates c; then group several embeddings into one task.
"""
    return rows, md
