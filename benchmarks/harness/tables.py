"""Markdown tables, and the lines both selection results share."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks.harness.scores import lower_is_better


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


def starred(name: str, defaults) -> str:
    """A row's name, with ★ where it is a row of the pre-registered default."""
    return f"{name} ★" if name in defaults else name


def in_order(names, order: Sequence[str]) -> list[str]:
    """`names` in table order (rows `order` does not know go last, sorted)."""
    return [r for r in order if r in names] + sorted(set(names) - set(order))


def metric_table(
    ev: dict,
    rows: list[str],
    metrics: Sequence[str],
    defaults,
    group_of: Callable[[str], str],
    costs: dict[str, Callable[[str], str]],
) -> str:
    """One line per row: its name (★ for the default), group, the mean ± std of each metric
    averaged over targets (bold: best in column), and a column per entry of `costs`
    ({header: row -> cell})."""
    bold = {k: bold_best([ev[m]["average"][k] for m in rows], k) for k in metrics}
    lines = []
    for i, m in enumerate(rows):
        cells = [fmt(ev[m]["average"][k]) for k in metrics]
        cells = [f"**{c}**" if bold[k][i] else c for c, k in zip(cells, metrics, strict=True)]
        lines.append([starred(m, defaults), group_of(m), *cells, *(f(m) for f in costs.values())])
    return markdown_table(["method", "group", *metrics, *costs], lines)


def dev_run_note(what: str) -> list[str]:
    """The markdown lines that mark a development run; `what` says what it leaves out."""
    return [
        "**Development run** (`--dev`): the run methods and settings are chosen on (the "
        "rule is written in benchmarks/preregistered.json before it runs); "
        f"{what}. Its numbers are not the test of any target: the final full run is.",
        "",
    ]


def partial_lines(done: list[str], total: int, what: str) -> list[str]:
    """The line that marks a result of some of the targets (`what`: "data sets", ...)."""
    return [f"**Partial result**: {len(done)} of {total} {what} done ({', '.join(done)}).", ""]


def default_lines(result: dict, defaults: list[str]) -> list[str]:
    """Which pre-registered default the result holds, chosen when, and its rows (★)."""
    default = result.get("default")
    if default is None:
        return [
            "Pre-registered default (issue 12 point 6): none yet (benchmarks/preregistered.json).",
            "",
        ]
    pre = result.get("preregistered", {})
    note = result.get("default_note")
    return [
        f"Pre-registered default (★): `{json.dumps(default)}`, chosen at commit "
        f"{pre.get('commit')} on {pre.get('date')}: rows {', '.join(defaults) or 'none'}"
        + (f" ({note})" if note else "")
        + ".",
        "",
    ]
