"""A run longer than one working session is cut into parts (``--part NAME``), each a full
run of some targets, seeds or rows whose result is committed; ``--merge`` checks that they
belong together and combines them into the one result."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.harness.provenance import environment
from benchmarks.harness.results import write_results
from benchmarks.harness.stages import Stages
from benchmarks.harness.tables import markdown_table

#: what `part_provenance` records of every part (beside what the benchmark adds)
PROVENANCE_KEYS = ("commit", "dirty", "command", "started", "finished")


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
        "Run in pieces (`--part NAME`, benchmarks/archive/FINAL_RUNS.md) that share every "
        "setting, combined by `--merge`. The stage times under 'How this was made' are those "
        "of each part's write step, which reads stages cached by the part's staged commands "
        "(`--stage`); the stages' own times are in benchmarks/results/parts/*.stages.txt. "
        "The row scores are in the parts' JSON.",
        "",
        markdown_table(headers, rows),
        "",
    ]
