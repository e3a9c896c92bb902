"""How a result was made: the command, the git commit (and whether the tree was dirty),
the versions of fute / torch / transformers / numpy / Python, the machine; a result is only
worth committing if a reader can tell how it was made."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from benchmarks.harness.results import REPO
from benchmarks.harness.stages import Stages


def _git(*args: str) -> str:
    try:
        out = subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=20, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def git_state() -> dict:
    """The commit the code was run from, and whether tracked files differed from it."""
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"commit": _git("rev-parse", "HEAD") or "unknown", "dirty": bool(status)}


def _version(module: str) -> str:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:  # noqa: BLE001 - a missing package is recorded, not fatal
        return "not installed"


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else what `platform` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    info = {
        "platform": platform.platform(),
        "processor": cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        info["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        pass
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        info["memory_gib"] = round(pages * size / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    return info


def matmul_peak(size: int = 2048, repeats: int = 10, dtype: str = "float32") -> float:
    """Best GFLOP/s of a square matmul with torch's default threads: the machine's ceiling."""
    import torch

    kind = getattr(torch, dtype)
    a, b = torch.randn(size, size, dtype=kind), torch.randn(size, size, dtype=kind)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def command_line() -> str:
    """The command of this process as typed: ``python -m benchmarks.transfer --dev`` for a
    module run with ``-m`` (whose ``sys.argv[0]`` is the module file's full path)."""
    exe = Path(sys.executable).name
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and spec.name:
        return shlex.join([exe, "-m", spec.name.removesuffix(".__main__"), *sys.argv[1:]])
    return shlex.join([exe, *sys.argv])


def environment() -> dict:
    """Command, commit, versions and machine: the provenance block of every result file."""
    return {
        "command": command_line(),
        "git": git_state(),
        "versions": {
            name: _version(name)
            for name in ("fute", "torch", "transformers", "numpy", "scipy", "scikit-learn")
        },
        "machine": machine(),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def provenance_markdown(env: dict, settings: dict, stages: Stages) -> str:
    """The 'how this was made' section at the end of every markdown result."""
    git = env["git"]
    commit = git["commit"][:12] + (" (uncommitted changes)" if git["dirty"] else "")
    versions = ", ".join(f"{k} {v}" for k, v in env["versions"].items())
    m = env["machine"]
    lines = [
        "## How this was made",
        "",
        f"- command: `{env['command']}`",
        f"- commit: {commit}",
        f"- versions: {versions}",
        f"- machine: {m.get('cpu_count')} CPUs ({m.get('processor')}, {m.get('cpu_capability', '?')}), "
        f"{m.get('memory_gib', '?')} GiB, torch threads {m.get('torch_threads')}, "
        f"GPU {m.get('cuda') or 'none'}; {m.get('platform')}",
        f"- started {env['started']}; wall time by stage (s): "
        + ", ".join(f"{k} {v:.0f}" for k, v in stages.seconds.items()),
        "- settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()),
    ]
    return "\n".join(lines)
