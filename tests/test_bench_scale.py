"""benchmarks.scale's result files: a run of some sections keeps the others' results; the Ray
section's overhead per job."""

import json
import sys
from pathlib import Path

import pytest

from benchmarks import scale as bench_scale
from benchmarks import scale_ray as bench_scale_ray


def _run(monkeypatch, out: Path, sections: str) -> dict:
    monkeypatch.setattr(sys, "argv", ["scale.py", "--sections", sections, "--out", str(out)])
    bench_scale.main()
    return json.loads((out / "scale.json").read_text())


def test_a_section_run_keeps_the_other_sections(tmp_path, monkeypatch):
    calls = []

    def fake(name):
        def section(args, stages):
            calls.append(name)
            return [{"run": name, "n": len(calls)}], f"## {name} table {len(calls)}\n"

        return section

    monkeypatch.setattr(bench_scale, "SECTIONS", {"store": fake("store"), "ray": fake("ray")})
    first = _run(monkeypatch, tmp_path, "store,ray")
    assert first["store"] == [{"run": "store", "n": 1}] and "kept" not in first
    second = _run(monkeypatch, tmp_path, "ray")
    assert calls == ["store", "ray", "ray"]
    assert second["store"] == first["store"]  # kept, not run again
    assert second["ray"] == [{"run": "ray", "n": 3}]
    assert second["kept"]["store"]["started"] == first["environment"]["started"]
    md = (tmp_path / "scale.md").read_text()
    assert "## store table 1" in md and "## ray table 3" in md and "## ray table 2" not in md
    assert md.index("## store table") < md.index("## ray table") < md.index("## What this")
    assert "- section store kept from the run of" in md
    third = _run(monkeypatch, tmp_path, "store")  # kept twice: still the first run's origin
    assert third["ray"] == second["ray"] and third["store"] == [{"run": "store", "n": 4}]
    assert third["kept"]["ray"]["started"] == second["environment"]["started"]


def test_a_store_only_file_from_before_keeps_its_table(tmp_path, monkeypatch):
    (tmp_path / "scale.json").write_text(
        json.dumps({"environment": {"started": "then", "git": {"commit": "abc"}}, "store": [1]})
    )
    (tmp_path / "scale.md").write_text(
        "# Scale\n\n## Store\n\n| a |\n\n## What this machine can\n\nx\n\n## How this was made\n"
    )
    ray = lambda args, stages: ([{"run": "ray"}], "## Ray\n")  # noqa: E731
    monkeypatch.setattr(bench_scale, "SECTIONS", {"store": lambda a, s: 1 / 0, "ray": ray})
    payload = _run(monkeypatch, tmp_path, "ray")
    assert payload["store"] == [1] and payload["ray"] == [{"run": "ray"}]
    md = (tmp_path / "scale.md").read_text()
    assert md.count("## Store\n\n| a |") == 1 and md.count("## What this machine") == 1


def test_ray_overhead_per_job_is_worker_time_beyond_the_local_run():
    # 4 jobs of 10 s compute on 2 workers in 21 s: 42 worker-s, 40 computing, 0.5 s a job;
    # locally 41 s for 40 s of compute: 0.25 s a job outside the embedding on both sides
    ray = {"jobs": 4, "wall_s": 21.0, "compute_s": 40.0}
    local = {"jobs": 4, "wall_s": 41.0, "compute_s": 40.0}
    assert bench_scale_ray.overhead(ray, local, workers=2) == pytest.approx(0.25)
    assert bench_scale_ray.overhead(local, local, workers=1) == 0
    # a worker idle for 2 s at the end (its last job came back first) is not overhead
    tail = {**ray, "wall_s": 22.0, "idle_at_end_s": 2.0}
    assert bench_scale_ray.overhead(tail, local, workers=2) == pytest.approx(0.25)
