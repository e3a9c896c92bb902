"""Embedding batches (`fute embed batch`, `fute.embed_batch`): jobs files, the local executor
end to end on the real surrogate, data, VADER and SmolLM2, and a real local Ray cluster
(a head node with two worker processes on 127.0.0.1, started and stopped here) with a worker killed
mid-batch."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import fute
from benchmarks.scale_ray import FISHER as RAY_BENCH_SPACE
from fute.batch import embed_batch
from fute.batch.jobs import BatchFileError, read_jobs_file
from fute.core.errors import FuteError
from fute.store import Store

# Tiny but real: one Fisher training step on a few examples (the Ray benchmark's space),
# a small pool.
FISHER = {**RAY_BENCH_SPACE, "pool_size": 16}
MEAN = {"method": "mean-embedding", "seed": 0, "max_examples": 16}


def fute_cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fute", *args], capture_output=True, text=True, timeout=600, **kw
    )


def vectors(path: Path) -> dict[tuple[str, str], np.ndarray]:
    store = Store(path, readonly=True)
    return {(e.kind, e.name): e.vector for e in store.load()}


# -- jobs files --------------------------------------------------------------------------------
BAD_FILES = [
    ("jobs.yaml", "datasets: sentiment-imdb\n", "jobs.yaml: datasets must be a list"),
    ("jobs.yaml", "space: {method: fisher}\n", "jobs.yaml: no jobs"),
    ("jobs.yaml", "datasets: [{dataset: a.csv, lable: y}]\n", "datasets[0]: unknown field 'lable'"),
    ("jobs.yaml", "models: [{spec: vader}]\n", "models[0]: lacks 'model'"),
    ("jobs.yaml", "modles: [vader]\n", "unknown key 'modles'"),
    ("jobs.yaml", "space: {method: fishr}\ndatasets: [x]\n", "jobs.yaml: space: "),
    ("jobs.yaml", "space: {max_stepz: 3}\ndatasets: [x]\n", "space: method 'fisher' has no"),
    (
        "jobs.yaml",
        "datasets: [{dataset: x, settings: {max_steps: 3}}]\n",
        "datasets[0]: settings: max_steps defines the space",
    ),
    ("jobs.yaml", "llms: [{llm: lm:smollm2}]\n", "llms[0]: an llm job needs prompts"),
    ("jobs.yaml", "llms: [{llm: lm:smollm2, prompts: [no-such-prompt]}]\n", "llms[0]: prompts: "),
    (
        "jobs.yaml",
        "datasets: [a, {dataset: b.csv, name: a}]\n",
        "datasets[1]: dataset a is also datasets[0]",
    ),
    (
        "jobs.yaml",
        "datasets: [a]\nllms: [{llm: lm:smollm2, prompts: [sentiment], name: x}]\n",
        "name names one embedding",
    ),
    ("jobs.yaml", "datasets: [a\n", "jobs.yaml line 2: not YAML"),
    ("jobs.jsonl", '{"dataset": "a"}\n{"dataset": \n', "jobs.jsonl line 2: not JSON"),
    (
        "jobs.jsonl",
        '{"dataset": "a", "model": "vader"}\n',
        "line 1: a job has one of dataset, model or llm; found both",
    ),
    ("jobs.jsonl", '{"space": {}}\n{"space": {}}\n{"dataset": "a"}\n', "line 2: a second space"),
    ("jobs.jsonl", '["sentiment-imdb"]\n', "line 1: a job must be a mapping"),
    ("jobs.txt", "datasets: [a]\n", "unknown format '.txt'"),
]


@pytest.mark.parametrize(("filename", "text", "message"), BAD_FILES)
def test_bad_jobs_file_is_one_clear_error(tmp_path, filename, text, message):
    path = tmp_path / filename
    path.write_text(text)
    with pytest.raises(BatchFileError) as info:
        read_jobs_file(path)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_jobs_file_yaml_and_jsonl_give_the_same_jobs(tmp_path):
    (tmp_path / "jobs.yaml").write_text(
        "space: {method: fisher, seed: 3, max_steps: 5}\n"
        "datasets:\n  - sentiment-imdb\n  - {dataset: r.csv, text: review, label: stars}\n"
        "models:\n  - {model: vader, exclude: [sentiment-imdb], settings: {pool_size: 50}}\n"
        "llms:\n  - {llm: lm:smollm2, prompts: [sentiment]}\n"
    )
    lines = [
        {"space": {"method": "fisher", "seed": 3, "max_steps": 5}},
        {"dataset": "sentiment-imdb"},
        {"dataset": "r.csv", "text": "review", "label": "stars"},
        {"model": "vader", "exclude": ["sentiment-imdb"], "settings": {"pool_size": 50}},
        {"llm": "lm:smollm2", "prompts": ["sentiment"]},
    ]
    (tmp_path / "jobs.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    a, b = read_jobs_file(tmp_path / "jobs.yaml"), read_jobs_file(tmp_path / "jobs.jsonl")
    assert a.space == b.space == {"method": "fisher", "seed": 3, "max_steps": 5}
    strip = [(j.kind, j.name, j.source, j.options, j.settings, j.exclude, j.prompt) for j in a.jobs]
    assert strip == [
        (j.kind, j.name, j.source, j.options, j.settings, j.exclude, j.prompt) for j in b.jobs
    ]
    from fute.models.prompts import load_prompts

    n_sentiment = len(load_prompts("sentiment"))
    assert [j.kind for j in a.jobs] == ["dataset", "dataset", "model"] + [
        "prompted-lm"
    ] * n_sentiment
    assert a.jobs[1].name == "r" and a.jobs[1].options == {"text": "review", "label": "stars"}


def test_cli_bad_jobs_file_leaves_no_store(tmp_path):
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text("datasets: [{dataset: a.csv, lable: y}]\n")
    store = tmp_path / "store.sqlite"
    proc = fute_cli("embed", "batch", str(jobs), "--store", str(store))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: jobs.yaml: datasets[0]: unknown field 'lable' for a dataset job; known: name, "
        "settings, split, text, pair, label"
    ]
    assert not store.exists()
    proc = fute_cli("embed", "batch", str(jobs), "--address", "auto", "--store", str(store))
    assert proc.returncode == 2 and "--address applies to --executor ray only" in proc.stderr


def test_ray_executor_without_ray_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    with pytest.raises(FuteError, match=r"pip install 'fute\[ray\]'"):
        embed_batch({"datasets": ["sentiment-imdb"]}, executor="ray", store=tmp_path / "s.sqlite")
    assert not (tmp_path / "s.sqlite").exists()


def test_embed_batch_argument_errors(tmp_path):
    for kw, message in [
        ({"executor": "dask"}, "executor must be one of local, ray"),
        ({"threads": 0}, "threads must be a positive integer"),
        ({"address": "auto"}, "address applies to executor='ray' only"),
    ]:
        with pytest.raises(FuteError, match=message):
            embed_batch({"datasets": ["x"]}, store=tmp_path / "s.sqlite", **kw)


# -- local executor end to end -----------------------------------------------------------------
@pytest.mark.slow
def test_local_batch_end_to_end_and_rerun(tmp_path):
    """Fisher: a data set, VADER and SmolLM2 with one prompt; a broken job fails with its
    one-line error while the others are stored; a rerun skips everything stored."""
    bad = tmp_path / "reviews.csv"
    bad.write_text("review,rating\ngood film,pos\nbad film,neg\n")
    jobs = {
        "space": FISHER,
        "datasets": ["sentiment-imdb", {"dataset": str(bad), "text": "review", "label": "stars"}],
        "models": ["vader"],
        "llms": [{"llm": "lm:smollm2", "prompts": ["sent-good-bad"]}],
    }
    (tmp_path / "jobs.yaml").write_text(json.dumps(jobs))  # JSON is YAML
    store = tmp_path / "store.sqlite"
    proc = fute_cli("embed", "batch", str(tmp_path / "jobs.yaml"), "--store", str(store))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert "stored dataset sentiment-imdb" in lines
    assert "stored model vader" in lines
    assert any(x.startswith("stored prompted-lm ") and x.endswith("+sent-good-bad") for x in lines)
    failed = [x for x in lines if x.startswith("failed dataset reviews: ")]
    assert len(failed) == 1 and "stars" in failed[0], lines
    assert lines[-2].startswith("3 done, 0 skipped, 1 failed in ")
    assert lines[-1].startswith("error: 1 of 4 jobs failed")
    assert "Traceback" not in proc.stderr
    first = vectors(store)
    assert sorted(k for k, _ in first) == ["dataset", "model", "prompted-lm"]
    (entry,) = [e for e in Store(store, readonly=True).load() if e.kind == "dataset"]
    assert entry.meta["settings"]["max_examples"] == 32 and entry.meta["batch"]["threads"] == 1

    # The broken job fixed in the file, the rerun computes only it.
    bad.write_text(
        "review,stars\n" + "".join(f"film {i},{'pos' if i % 2 else 'neg'}\n" for i in range(40))
    )
    proc = fute_cli("embed", "batch", str(tmp_path / "jobs.yaml"), "--store", str(store), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert (report["done"], report["skipped"], report["failed"]) == (1, 3, 0)
    assert [j["status"] for j in report["jobs"]] == ["skipped", "done", "skipped", "skipped"]
    again = vectors(store)
    assert len(again) == 4
    for key, vec in first.items():  # skipped jobs kept their rows untouched
        assert np.array_equal(again[key], vec)

    # A second space in the same store: the mean-embedding baseline from Python.
    result = fute.embed_batch({"space": MEAN, "datasets": ["sentiment-imdb"]}, store=store)
    assert [o.status for o in result.outcomes] == ["done"]
    assert len(Store(store, readonly=True).spaces()) == 2


# -- a local Ray cluster -----------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray_processes(sessions: set[int]) -> list:
    """Every live process in the sessions our `ray start` commands lead (ours only)."""
    import psutil

    found = []
    for proc in psutil.process_iter(["name"]):
        try:
            if os.getsid(proc.pid) in sessions:
                found.append(proc)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return found


class RayCluster:
    """A head node on 127.0.0.1 with 2 CPUs (two worker processes), no dashboard; `stop`
    ends every process it started, found by the session `ray start` leads."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="fr", dir="/tmp"))  # short: unix socket paths
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.nodes: list[subprocess.Popen] = []

    def _start(self, args: list[str], env: dict, log: str) -> None:
        ray = str(Path(sys.executable).with_name("ray"))
        common = ["--block", "--temp-dir", str(self.root)]
        common += ["--object-store-memory", str(100 * 2**20), "--disable-usage-stats"]
        with open(self.root / log, "w") as out:
            node = subprocess.Popen(
                [ray, "start", *args, *common],
                env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0", **env},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own session: `stop` finds every child by it
            )
        node.log = self.root / log
        self.nodes.append(node)

    def start(self, timeout: float = 120) -> None:
        import ray

        # Ray swaps a loopback --node-ip-address for the machine's routable address on Linux;
        # this switch (Ray's own, for single-machine use) keeps the node, and so its GCS and
        # raylet sockets, on 127.0.0.1. A second node on this machine cannot join by
        # 127.0.0.1 (Ray 2.60 rewrites the address to the routable one), so the cluster is
        # one head node with two worker processes.
        head = ["--head", "--node-ip-address", "127.0.0.1", "--port", str(self.port)]
        head += ["--include-dashboard=false", "--num-cpus", "2"]
        self._start(head, {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}, "head.log")
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                self._check(deadline)
                time.sleep(0.5)
        ray.init(address=self.address, logging_level="WARNING", log_to_driver=False)
        try:
            while ray.cluster_resources().get("CPU", 0) < 2:
                self._check(deadline)
                time.sleep(0.5)
            self.node_ips = sorted(n["NodeManagerAddress"] for n in ray.nodes() if n["Alive"])
        finally:
            ray.shutdown()

    def listening(self) -> set[str]:
        """The addresses our Ray processes listen on."""
        found = set()
        for proc in self.processes():
            with contextlib.suppress(Exception):
                for conn in proc.net_connections(kind="inet"):
                    if conn.status == "LISTEN":
                        found.add(conn.laddr.ip)
        return found

    def _check(self, deadline: float) -> None:
        for node in self.nodes:
            if node.poll() is not None:
                log = node.log.read_text().strip().splitlines()
                raise RuntimeError(f"ray start exited {node.returncode}: {log[-1:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the Ray cluster did not come up; see {self.root}")

    def processes(self) -> list:
        return _ray_processes({node.pid for node in self.nodes})

    def stop(self) -> None:
        sessions = {node.pid for node in self.nodes}
        for node in self.nodes:  # SIGTERM: `ray start --block` stops its node's processes
            if node.poll() is None:
                node.send_signal(signal.SIGTERM)
        for node in self.nodes:
            try:
                node.wait(timeout=30)
            except subprocess.TimeoutExpired:
                node.kill()
        for proc in _ray_processes(sessions):  # whatever is left of ours
            with contextlib.suppress(Exception):
                proc.kill()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    from ray._private import ray_constants

    # The driver (this process) must not swap 127.0.0.1 for the routable address either.
    single_machine = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    cluster = RayCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.stop()
        ray_constants.ENABLE_RAY_CLUSTER = single_machine
        assert not _ray_processes({node.pid for node in cluster.nodes})


@pytest.mark.slow
def test_ray_batch_gives_bit_identical_vectors(ray_cluster, tmp_path):
    assert ray_cluster.node_ips == ["127.0.0.1"]
    assert ray_cluster.listening() <= {"127.0.0.1", "::ffff:127.0.0.1"}
    jobs = {"space": FISHER, "datasets": ["pair-factual-summary"], "models": ["vader"]}
    local = embed_batch(jobs, store=tmp_path / "local.sqlite")
    remote = embed_batch(
        jobs, executor="ray", address=ray_cluster.address, store=tmp_path / "ray.sqlite"
    )
    assert [o.status for o in local.outcomes] == ["done"] * 2
    assert [o.status for o in remote.outcomes] == ["done"] * 2
    a = {(e.kind, e.name): e for e in Store(tmp_path / "local.sqlite", readonly=True).load()}
    b = {(e.kind, e.name): e for e in Store(tmp_path / "ray.sqlite", readonly=True).load()}
    assert sorted(a) == sorted(b) and len(a) == 2
    pids = {e.meta["batch"]["pid"] for e in b.values()}
    assert os.getpid() not in pids  # computed on Ray workers, not here
    for key in a:
        assert np.array_equal(a[key].vector, b[key].vector), key
        kernel = [x.meta["training"].get("per_example_kernel") for x in (a[key], b[key])]
        assert kernel[0] == kernel[1], key
    # rerun on Ray: everything is stored, nothing is computed
    again = embed_batch(
        jobs, executor="ray", address=ray_cluster.address, store=tmp_path / "ray.sqlite"
    )
    assert [o.status for o in again.outcomes] == ["skipped"] * 2


@pytest.mark.slow
def test_ray_worker_killed_mid_batch(ray_cluster, tmp_path):
    """A worker process running a job is killed; Ray runs the task again and the batch ends
    with every embedding stored once, equal to a local run."""
    names = ["sentiment-imdb", "pair-factual-summary", "topic-bbc", "spam-assassin"]
    jobs = {"space": MEAN, "datasets": names}
    killed: list[int] = []
    stop = threading.Event()

    def killer() -> None:
        while not stop.is_set() and not killed:
            for proc in ray_cluster.processes():
                try:
                    if proc.name().startswith("ray::embed_job"):
                        proc.kill()
                        killed.append(proc.pid)
                        break
                except Exception:
                    continue
            time.sleep(0.05)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        result = embed_batch(
            jobs, executor="ray", address=ray_cluster.address, store=tmp_path / "ray.sqlite"
        )
    finally:
        stop.set()
        thread.join()
    assert killed, "no worker process was seen running a job"
    assert [o.status for o in result.outcomes] == ["done"] * len(names), result.summary()
    rows = Store(tmp_path / "ray.sqlite", readonly=True).list()
    assert sorted(r.name for r in rows) == sorted(names)  # nothing lost, nothing twice
    pids = {e.meta["batch"]["pid"] for e in Store(tmp_path / "ray.sqlite", readonly=True).load()}
    assert killed[0] not in pids
    local = embed_batch(jobs, store=tmp_path / "local.sqlite")
    assert [o.status for o in local.outcomes] == ["done"] * len(names)
    a, b = vectors(tmp_path / "local.sqlite"), vectors(tmp_path / "ray.sqlite")
    assert all(np.array_equal(a[k], b[k]) for k in a) and sorted(a) == sorted(b)


def test_example_jobs_file_is_valid():
    batch = read_jobs_file(Path(__file__).parents[1] / "docs" / "jobs.example.yaml")
    assert batch.space["method"] == "fisher"
    assert [j.kind for j in batch.jobs].count("prompted-lm") == 2
