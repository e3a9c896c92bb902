"""`fute recommend DATASET`: the fused ranking with its evidence (one call: `fute.recommend`).

The store is opened read-only. A table fits 80 columns: the fused place, the name, the
score of the default similarity and each signal's rank; below it the legend, each signal's
agreement with the fused order, and the caution line when the top is within noise.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from fute.cli.output import JsonOption, StoreOption, emit_json, out, warn


def recommend_cmd(
    dataset: str = typer.Argument(..., help="Name or #id of a stored data-set embedding."),
    kind: str = typer.Option(
        None,
        "--kind",
        help="What to recommend: prompt, model or dataset (default: the first of those stored).",
    ),
    top: int = typer.Option(10, "--top", min=1, help="How many candidates to show."),
    space: str = typer.Option(
        None, "--space", help="The data set's space, when its name is in several."
    ),
    store: Path = StoreOption,
    as_json: bool = JsonOption,
) -> None:
    """Recommend prompts, models or source data sets for DATASET, with the evidence."""
    from fute.cli.output import open_store, space_key_of
    from fute.ranking.recommend import recommend

    st = open_store(store, readonly=True)
    rec = recommend(
        dataset, kind=kind, top=top, store=st, space=space_key_of(st, space), notify=warn
    )
    if as_json:
        emit_json(rec.to_dict(top))
        return
    print_recommendation(rec, top)


def print_recommendation(rec, top: int | None = None, console=None) -> None:
    """The recommendation as a rich table plus its legend, agreement and caution lines."""
    from fute.ranking.recommend import DEFAULT, PRIORS, SHORT, kind_noun, order_words
    from fute.space import short_key

    console = console or out
    width = min(console.width or 80, 100)
    shown = rec.candidates if top is None else rec.candidates[:top]
    words = kind_noun(rec.kind)
    table = Table(
        title=f"Recommended {words}s for {rec.target.name} (space {short_key(rec.target.space_key)})",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    sim = DEFAULT["similarity"]
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column(words, overflow="fold")
    table.add_column(SHORT.get(sim, sim), justify="right", no_wrap=True)
    names = [s.name for s in rec.signals]
    for n in names:
        table.add_column(f"#{SHORT.get(n, n)}", justify="right", no_wrap=True)
    for c in shown:
        score = c.signals.get(sim)
        row = [str(c.rank), Text(c.name), f"{score[0]:.3f}" if score else "-"]
        for n in names:
            got = c.signals.get(n)
            row.append("-" if got is None else f"{got[1]:g}")
        table.add_row(*row)
    console.print(table)
    more = len(rec.candidates) - len(shown)
    lines = []
    if more > 0:
        lines.append(f"… {more} more ranked: --top {len(rec.candidates)} or --json")
    lines.append(f"order: {order_words(rec.kind)}.")
    legend = ", ".join(
        f"#{SHORT.get(s.name, s.name)} {s.name}" + (" (prior)" if s.name in PRIORS else "")
        for s in rec.signals
    )
    lines.append(f"columns: {SHORT.get(sim, sim)} = {sim} score; rank by {legend}.")
    taus = [
        f"{SHORT.get(s.name, s.name)} {s.kendall:+.2f}"
        for s in rec.signals
        if s.kendall is not None
    ]
    if taus:
        lines.append(f"agreement with the order (Kendall tau): {', '.join(taus)}.")
    if rec.caution:
        lines.append(rec.caution)
    elif rec.noise.get("gaps"):
        g = rec.noise["gaps"][0]
        if g["median_gap"] is not None:
            lines.append(
                f"#1 leads #2 by a median {g['median_gap']:.2f} of a signal's spread over "
                f"{g['signals']} signals (noise below {rec.noise['threshold']})."
            )
    for line in lines:
        for part in textwrap.wrap(line, width=width, break_on_hyphens=False) or [""]:
            console.print(Text(part, style="bold" if line is rec.caution else ""))


def show_recommendation(dataset, *, kind=None, top: int = 5, store=None, console=None):
    """`fute.recommend(...)` printed as `fute recommend` prints it (the demo's one call);
    returns the `Recommendation`. Warnings go to `warn` (stderr)."""
    from fute.ranking.recommend import recommend

    rec = recommend(dataset, kind=kind, top=top, store=store, notify=warn)
    print_recommendation(rec, top, console=console)
    return rec
