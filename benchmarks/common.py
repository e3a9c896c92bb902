"""What every fute benchmark shares: provenance of a run, a disk cache for expensive steps,
ranking metrics in one call, and result files (JSON + markdown) under benchmarks/results/.

A result is only worth committing if a reader can tell how it was made, so every result
file records the exact command, the git commit (and whether the tree was dirty), the
versions of fute / torch / transformers / numpy / Python, the machine, the wall time of
each stage and every cap the run used.

Expensive intermediate results (LLM perplexities, fine-tuning accuracies, embeddings) are
cached under ``$FUTE_CACHE/bench/`` by a hash of everything they depend on, so a killed
run resumes and a second run is cheap. LLM answers are cached by
`fute.models.answers.cached_predict` itself.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from fute.core.paths import cache_subdir
from fute.evaluation import metrics

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "benchmarks" / "results"
#: where a benchmark's ``--dev`` run (issue 12 point 6) writes its results
DEV_RESULTS_DIR = RESULTS_DIR / "dev"
#: the pre-registered default of issue 12 point 6 and the rule that chooses it
PREREGISTERED = REPO / "benchmarks" / "preregistered.json"


def reserved_sets() -> tuple[str, ...]:
    """The catalogue's sets reserved for the outside check (`fute.data.catalog`): never a
    target or a source of a selection benchmark."""
    from fute.data.catalog import reserved_names

    return tuple(sorted(reserved_names()))


def check_reserved(names, role: str = "target") -> None:
    """One-line refusal of a reserved data set in a selection benchmark."""
    reserved = [n for n in dict.fromkeys(names) if n in reserved_sets()]
    if reserved:
        raise SystemExit(
            f"error: {', '.join(reserved)} {'is' if len(reserved) == 1 else 'are'} reserved "
            f"for the outside check and never a {role} of a selection benchmark"
        )


def dev_run_note(what: str) -> list[str]:
    """The markdown lines that mark a development run; `what` says what it leaves out."""
    return [
        "**Development run** (`--dev`): the run methods and settings are chosen on (the "
        "rule is written in benchmarks/preregistered.json before it runs); "
        f"{what}. Its numbers are not the test of any target: the final full run is.",
        "",
    ]


for _var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def quiet_libraries() -> None:
    """No per-load progress bars from transformers: the stage log is the progress report."""
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:
        pass


# ------------------------------------------------------------------------------ provenance


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


def environment() -> dict:
    """Command, commit, versions and machine: the provenance block of every result file."""
    return {
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "git": git_state(),
        "versions": {
            name: _version(name)
            for name in ("fute", "torch", "transformers", "numpy", "scipy", "scikit-learn")
        },
        "machine": machine(),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


@dataclass
class Stages:
    """Wall time of each named stage of a run (seconds), to show where the time goes."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def __call__(self, name: str):
        start = time.perf_counter()
        print(f"[{time.strftime('%H:%M:%S')}] {name} ...", flush=True)
        try:
            yield
        finally:
            took = time.perf_counter() - start
            self.seconds[name] = round(self.seconds.get(name, 0.0) + took, 2)
            print(f"[{time.strftime('%H:%M:%S')}] {name}: {took:.1f} s", flush=True)


# ------------------------------------------------------------------------------ caching


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


def cache_key(*parts: Any) -> str:
    """sha256 of the JSON of `parts`: equal inputs, equal key; anything changed, new key."""
    blob = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def bench_cache(kind: str) -> Path:
    """The cache folder of one kind of benchmark artefact, e.g. ``bench/perplexity``."""
    return cache_subdir(f"bench/{kind}")


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)
    os.replace(tmp, path)


def cached_json_path(kind: str, key: str) -> Path:
    """Where `cached_json(kind, key, ...)` keeps its value (it exists once computed)."""
    return bench_cache(kind) / f"{key[:40]}.json"


def cached_json(kind: str, key: str, compute: Callable[[], Any]) -> Any:
    """`compute()` once; its JSON-able result is kept in the bench cache under `key`."""
    path = cached_json_path(kind, key)
    if path.is_file():
        return json.loads(path.read_text())
    value = compute()
    _atomic_write(path, lambda p: p.write_text(json.dumps(value)))
    return value


def cached_array(kind: str, key: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """As `cached_json`, for one numpy array (kept as .npy)."""
    path = bench_cache(kind) / f"{key[:40]}.npy"
    if path.is_file():
        return np.load(path, allow_pickle=False)
    value = np.asarray(compute())

    def write(p: Path) -> None:
        with open(p, "wb") as f:
            np.save(f, value, allow_pickle=False)

    _atomic_write(path, write)
    return value


def cached_embedding(key: str, compute: Callable[[], Any]):
    """A `TaskEmbedding`, cached as its vector (.npy), its other fields (.json) and its
    extras (``.extras.npz``, plain arrays, never pickled; absent for an embedding without
    extras or one cached before extras were kept)."""
    from fute.core.embedding import TaskEmbedding

    folder = bench_cache("embeddings")
    vec_path, meta_path = folder / f"{key[:40]}.npy", folder / f"{key[:40]}.json"
    extras_path = folder / f"{key[:40]}.extras.npz"
    if vec_path.is_file() and meta_path.is_file():
        info = json.loads(meta_path.read_text())
        extras = {}
        if extras_path.is_file():
            with np.load(extras_path, allow_pickle=False) as z:
                extras = {name: z[name] for name in z.files}
        return TaskEmbedding(
            np.load(vec_path),
            info["space_key"],
            info["kind"],
            info["name"],
            info["meta"],
            extras=extras,
        )
    emb = compute()
    extras = {name: np.asarray(v) for name, v in (getattr(emb, "extras", None) or {}).items()}
    if extras:  # written before the vector: a vector on disk means its extras are there too

        def write_extras(p: Path) -> None:
            with open(p, "wb") as f:
                np.savez(f, **extras)

        _atomic_write(extras_path, write_extras)
    info = {"space_key": emb.space_key, "kind": emb.kind, "name": emb.name, "meta": emb.meta}
    _atomic_write(meta_path, lambda p: p.write_text(json.dumps(info, default=str)))

    def write(p: Path) -> None:
        with open(p, "wb") as f:
            np.save(f, np.asarray(emb.vector), allow_pickle=False)

    _atomic_write(vec_path, write)
    return emb


# ------------------------------------------------------------------------------ metrics


def ranking_metrics(pred: Sequence[float], true: Sequence[float], wanted: Iterable[str]) -> dict:
    """The named metrics of one ranking. Names: ``ndcg``, ``ndcg@K``, ``rho``, ``regret@K``,
    ``spearman``, ``kendall`` (see `fute.evaluation.metrics`)."""
    out = {}
    for name in wanted:
        base, _, k = name.partition("@")
        if base == "ndcg":
            out[name] = metrics.ndcg_at_k(pred, true, int(k)) if k else metrics.ndcg(pred, true)
        elif base == "regret":
            out[name] = metrics.regret_at_k(pred, true, int(k))
        elif base == "rho":
            out[name] = metrics.vu_rho(pred, true)
        elif base == "spearman":
            out[name] = metrics.spearman(pred, true)
        elif base == "kendall":
            out[name] = metrics.kendall(pred, true)
        else:
            raise ValueError(f"unknown metric {name!r}")
    return out


LOWER_IS_BETTER = ("rho", "regret")


def lower_is_better(metric: str) -> bool:
    return metric.partition("@")[0] in LOWER_IS_BETTER


def mean_std(values: Iterable[float]) -> dict:
    """Mean and sample standard deviation over the finite values, with their count."""
    v = np.array([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return {"mean": None, "std": None, "n": 0}
    std = float(v.std(ddof=1)) if v.size > 1 else 0.0
    return {"mean": float(v.mean()), "std": std, "n": int(v.size)}


def fmt(stat: dict, digits: int = 3) -> str:
    """'0.812 ± 0.020' (or '0.812' for a deterministic method, '-' when undefined)."""
    if stat.get("mean") is None:
        return "-"
    if stat.get("n", 0) > 1:
        return f"{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f}"
    return f"{stat['mean']:.{digits}f}"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(map(str, headers)) + " |"]
    lines.append("|" + "|".join("---" for _ in headers) + "|")
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines)


def bold_best(column: Sequence[dict], metric: str) -> list[bool]:
    """Which rows hold the best mean of one metric column (ties: all of them)."""
    means = [c.get("mean") for c in column]
    finite = [m for m in means if m is not None]
    if not finite:
        return [False] * len(means)
    best = min(finite) if lower_is_better(metric) else max(finite)
    return [m is not None and abs(m - best) < 1e-12 for m in means]


# ------------------------------------------------------------------------------ output


def add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny caps to check the pipeline end to end in minutes; results go to the cache, "
        "not to benchmarks/results/",
    )
    parser.add_argument("--out", type=Path, default=None, help="folder for the result files")


def results_dir(args: argparse.Namespace) -> Path:
    if args.out is not None:
        return Path(args.out)
    return bench_cache("quick-results") if args.quick else RESULTS_DIR


def write_results(
    name: str, payload: dict, markdown: str, out_dir: Path, indent: int | None = 2
) -> tuple[Path, Path]:
    """Write ``<name>.json`` (everything; `indent` None: one compact line) and ``<name>.md``
    (the tables) into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / f"{name}.json", out_dir / f"{name}.md"
    payload = {**payload, "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    json_path.write_text(json.dumps(payload, indent=indent, default=_json_default) + "\n")
    md_path.write_text(markdown.rstrip() + "\n")
    print(f"wrote {json_path} and {md_path}")
    return json_path, md_path


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return str(value)


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


# ------------------------------------------------------------------------------ issue 12 rows
# Shared by the source-selection benchmark (bench_transfer.py); the prompt-selection
# benchmark keeps its own copies of the same helpers.


def read_preregistered(path: Path) -> dict:
    """The pre-registered choice of issue 12 point 6 (benchmarks/preregistered.json):
    {"default": None | a choice, "commit", "date", "note", ...}. A missing file counts as
    no default; a file without the key ``default`` is a one-line error."""
    path = Path(path)
    if not path.is_file():
        return {"default": None, "note": f"{path} does not exist"}
    data = json.loads(path.read_text())
    if "default" not in data:
        raise SystemExit(f"error: {path} has no key 'default' (null or a choice)")
    return data


def complete_scores(n: int, kept, scores) -> tuple[list[float], int]:
    """One score per candidate: those a similarity left out are placed last, tied, below
    every scored one; returns the scores and how many were left out."""
    out = np.full(n, np.nan)
    out[list(kept)] = scores
    missing = int(np.isnan(out).sum())
    if missing:
        floor = np.nanmin(out) - 1.0 if missing < n else 0.0
        out[np.isnan(out)] = floor
    return out.tolist(), missing


def similarity_scores(similarity, target, candidates, centres=None, notes=None) -> list[float]:
    """Scores of the candidates by a named similarity (`fute.ranking.similarity.scores`); what
    the similarity left out (and why) is appended to `notes` as one line."""
    from fute.ranking.similarity import scores

    said: list[str] = []
    kept, values = scores(similarity, target, candidates, centres=centres, notify=said.append)
    out, missing = complete_scores(len(candidates), kept, values)
    if notes is not None and (said or missing):
        notes.append(f"{target.name} / {similarity}: " + "; ".join(said or [f"{missing} left out"]))
    return out


def draw_indices(n: int, k: int, draws: int, seed: int) -> np.ndarray:
    """(draws, k) indices of `draws` seeded draws of k distinct examples out of n; the first
    draws of a longer run are the same sets."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.choice(n, size=int(k), replace=False) for _ in range(int(draws))])


def kind_centres(groups) -> dict:
    """centred-cosine's fixed references: {kind: unit mean of the embeddings given for that
    kind}, for every kind with at least 2 (`groups`: (kind, embeddings) pairs)."""
    from fute.ranking.centres import unit_mean

    out = {}
    for kind, embs in groups:
        centre, n = unit_mean(e.vector for e in embs)
        if n >= 2:
            out[kind] = centre
    return out


# ------------------------------------------------------------------------------ parts of a run
# A run longer than one working session is cut into parts (`--part NAME`), each a full run
# of some targets, seeds or rows whose result is committed; `--merge` combines them.


def check_parts(parts: dict, part_keys, done_key: str) -> dict:
    """The settings the parts share (all but `part_keys`); a one-line error where one differs,
    names another pre-registered default, or is partial (`done_key` lists what it did)."""
    if not parts:
        raise SystemExit("error: no parts to merge")
    names = list(parts)
    first = parts[names[0]]
    base = {k: v for k, v in first["settings"].items() if k not in part_keys}
    for name in names:
        part = parts[name]
        other = {k: v for k, v in part["settings"].items() if k not in part_keys}
        differ = sorted(k for k in {*base, *other} if base.get(k) != other.get(k))
        if differ:
            raise SystemExit(
                f"error: part {name} differs from part {names[0]} in {', '.join(differ)}"
            )
        if part.get("default") != first.get("default"):
            raise SystemExit(f"error: part {name} names another pre-registered default")
        if not part.get("complete", False):
            raise SystemExit(f"error: part {name} is partial ({part.get(done_key)})")
    return base


#: what `part_provenance` records of every part (beside what the benchmark adds)
PROVENANCE_KEYS = ("commit", "dirty", "command", "started", "finished")


def part_provenance(part: dict, **extra) -> dict:
    env = part["environment"]
    return {
        **extra,
        "commit": env["git"]["commit"],
        "dirty": env["git"]["dirty"],
        "command": env["command"],
        "started": env["started"],
        "finished": part.get("finished"),
    }


def merged_notes_and_stages(parts: dict) -> dict:
    """{"notes": every part's notes once, "stages_seconds": {"<part>: <stage>": seconds}}."""
    return {
        "notes": list(dict.fromkeys(n for p in parts.values() for n in p.get("notes", []))),
        "stages_seconds": {
            f"{name}: {stage}": t
            for name, p in parts.items()
            for stage, t in p.get("stages_seconds", {}).items()
        },
    }


def read_parts(out_dir: Path, name: str) -> dict:
    """{part name: result} of <out_dir>/parts/<name>.<part>.json."""
    paths = sorted((out_dir / "parts").glob(f"{name}.*.json"))
    if not paths:
        raise SystemExit(f"error: no parts in {out_dir / 'parts'} (run with --part NAME first)")
    return {p.name[len(name) + 1 : -len(".json")]: json.loads(p.read_text()) for p in paths}


def write_part(name: str, part: str, payload: dict, markdown: str, out_dir: Path) -> None:
    """A part's result, to <out_dir>/parts/<name>.<part>.{json,md}: compact, without what
    the merge derives again (``metrics``)."""
    payload = {k: v for k, v in payload.items() if k != "metrics"}
    write_results(f"{name}.{part}", payload, markdown, out_dir / "parts", indent=None)


def write_merged(name: str, merged: dict, markdown: Callable, out_dir: Path) -> int:
    """<out_dir>/<name>.{json,md} of merged parts, with the merging run's environment. The
    JSON is the summary, one compact line: the metrics (to 6 decimals), truth, costs and
    provenance, without the row scores, which stay in the committed parts it lists. The
    markdown is made from that summary, as `--render` makes it, so the two agree to the
    last digit (a metric on a rounding boundary would otherwise round differently)."""
    payload = {k: v for k, v in merged.items() if k != "scores"}
    payload["environment"] = environment()
    payload["metrics"] = rounded(merged["metrics"], 6)
    payload["scores"] = "in the parts listed under 'parts' (benchmarks/results/parts/)"
    stages = Stages(seconds=dict(payload["stages_seconds"]))
    text = markdown(payload, payload["environment"], payload["settings"], stages)
    write_results(name, payload, text, out_dir, indent=None)
    return 0


def rounded(value: Any, decimals: int) -> Any:
    """`value` (nested dicts and lists of numbers) with every float rounded."""
    if isinstance(value, float):
        return round(value, decimals)
    if isinstance(value, dict):
        return {k: rounded(v, decimals) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v, decimals) for v in value]
    return value


def parts_markdown(parts: dict) -> list[str]:
    """The "Parts of this run" section of a merged result (none for a run in one piece)."""
    if not parts:
        return []
    extra = [k for k in next(iter(parts.values())) if k not in PROVENANCE_KEYS]
    headers = ["part", *extra, "commit", "started", "finished", "command"]
    rows = [
        [
            name,
            *(", ".join(map(str, v)) if isinstance(v, list) else v for v in (p[k] for k in extra)),
            p["commit"][:12] + (" (dirty)" if p["dirty"] else ""),
            p["started"],
            p["finished"],
            f"`{p['command']}`",
        ]
        for name, p in parts.items()
    ]
    return [
        "## Parts of this run",
        "",
        "Run in pieces (`--part NAME`, benchmarks/FINAL_RUNS.md) that share every setting, "
        "combined by `--merge`. The stage times under 'How this was made' are those of each "
        "part's write step, which reads stages cached by the part's staged commands "
        "(benchmarks/final_parts.py); the stages' own times are in "
        "benchmarks/results/parts/*.stages.txt. The row scores are in the parts' JSON.",
        "",
        markdown_table(headers, rows),
        "",
    ]
