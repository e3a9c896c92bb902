"""Where results go, the flags every benchmark takes, and result files (JSON + markdown)."""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness.cache import bench_cache

REPO = Path(__file__).resolve().parents[2]
RESULTS_DIR = REPO / "benchmarks" / "results"
#: where a benchmark's ``--dev`` run (issue 12 point 6) writes its results
DEV_RESULTS_DIR = RESULTS_DIR / "dev"
#: the pre-registered default of issue 12 point 6 and the rule that chose it
PREREGISTERED = REPO / "benchmarks" / "preregistered.json"


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
    return str(value)
