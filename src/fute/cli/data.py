"""`fute data ...`: the catalogue, fetching, user files and the unlabelled pool."""

from __future__ import annotations

import json
from pathlib import Path

import typer

app = typer.Typer(
    help="Catalogue data sets, fetch them, describe the unlabelled pool.", no_args_is_help=True
)

CacheOpt = typer.Option(
    None, "--cache", help="Cache folder (default: $FUTE_CACHE or ~/.cache/fute)."
)


@app.command("list")
def list_cmd(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON array."),
    task: str = typer.Option(
        None,
        "--task",
        help="Only data sets of this family or name prefix (e.g. sentiment, pair, topic).",
    ),
    cache: Path = CacheOpt,
) -> None:
    """List the catalogue of labelled data sets."""
    from fute.data.catalog import list_datasets

    entries = [
        e.to_dict(cache)
        for e in list_datasets()
        if task is None or task in (e.task, e.family) or e.name.startswith(f"{task}-")
    ]
    if as_json:
        typer.echo(json.dumps(entries, indent=1))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "family", "inputs", "labels", "train/dev/test", "status")
    for e in entries:
        s = e["sizes"]
        sizes = "/".join(str(s.get(k, "?")) for k in ("train", "dev", "test"))
        labels = e["labels"]
        shown = ", ".join(labels) if len(labels) <= 3 else f"{len(labels)}: {labels[0]}, ..."
        status = "[red]unavailable[/]" if e["status"] == "unavailable" else e["status"]
        name = e["name"] + (" [dim](reserved)[/]" if e["reserved"] else "")
        table.add_row(name, e["family"], str(e["inputs"]), shown, sizes, status)
    Console().print(table)
    bad = [e for e in entries if e["status"] == "unavailable"]
    if bad:
        typer.echo(f"{len(bad)} of {len(entries)} data sets are unavailable here:")
        for e in bad:
            typer.echo(f"  {e['name']}: {e['unavailable_reason']}")


@app.command("prepare")
def prepare_cmd(
    names: list[str] = typer.Argument(
        None, help="Data sets to prepare (default: all, plus the pool)."
    ),
    pool: bool = typer.Option(
        None, "--pool/--no-pool", help="Also prepare the pool (default: when no name is given)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
    cache: Path = CacheOpt,
) -> None:
    """Fetch, verify and normalise data sets (and the pool) into the cache; idempotent."""
    from fute.data.prepare import prepare

    report = prepare(names or (), cache=cache, pool=pool, quiet=quiet)
    typer.echo(report.summary())


@app.command("check")
def check_cmd(
    online: bool = typer.Option(
        False,
        "--online",
        help="Ask each registry whether it still serves every archive (pip index, npm, apt).",
    ),
    cache: Path = CacheOpt,
) -> None:
    """Check the data files: declared sources, cached copies' hashes, and (--online) that
    every registry archive of the catalogue, the pool and the bundled models is still served
    with the recorded hash. Exits 1 when something is gone or changed."""
    from fute.data.check import check

    problems = check(cache=cache, online=online, echo=typer.echo)
    if problems:
        typer.echo(f"error: {len(problems)} problem(s): " + "; ".join(problems), err=True)
        raise typer.Exit(1)


@app.command("mirror")
def mirror_cmd(
    dest: Path = typer.Argument(..., help="Folder to write the mirror into."),
    names: list[str] = typer.Option(
        None, "--set", help="Only the files of these data sets (default: everything available)."
    ),
    cache: Path = CacheOpt,
) -> None:
    """Write the verified data files into a folder that FUTE_DATA_MIRROR can point at (for
    machines without internet: copy the folder, or serve it over HTTP)."""
    from fute.data.check import mirror

    done, skipped = mirror(dest, names or (), cache=cache, echo=typer.echo)
    typer.echo(f"mirror {dest}: {done} file(s) written, {len(skipped)} unavailable skipped")


@app.command("show")
def show_cmd(
    name: str = typer.Argument(..., help="Catalogue name, data file, or hub:NAME(:CONFIG)."),
    split: str = typer.Option("train", "--split"),
    n: int = typer.Option(5, "-n", help="Rows to print."),
    text: str = typer.Option(None, "--text", help="Text column (files)."),
    pair: str = typer.Option(None, "--pair", help="Text-pair column (files)."),
    label: str = typer.Option(None, "--label", help="Label column (files)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Show a data set's labels, size, provenance and first rows."""
    from fute.data.loaders import load_data

    ex = load_data(name, split=split, text=text, pair=pair, label=label)
    counts: dict[str, int] = {}
    for y in ex.labels or []:
        counts[y] = counts.get(y, 0) + 1
    rows = [
        {
            "text": ex.texts[i],
            **({"text_pair": ex.text_pairs[i]} if ex.text_pairs else {}),
            "label": ex.labels[i],
        }
        for i in range(min(n, len(ex)))
    ]
    info = {
        "name": ex.name,
        "split": split,
        "rows": len(ex),
        "arity": ex.arity,
        "labels": list(ex.label_names),
        "label_counts": counts,
        "provenance": ex.provenance,
        "head": rows,
    }
    if as_json:
        typer.echo(json.dumps(info, indent=1))
        return
    typer.echo(f"{ex.name} [{split}]: {len(ex)} rows, arity {ex.arity}, labels {counts}")
    for key in ("package", "version", "file", "sha256", "licence", "citation"):
        if key in ex.provenance:
            typer.echo(f"  {key}: {ex.provenance[key]}")
    for r in rows:
        pair_txt = f"  ||  {r['text_pair'][:80]}" if "text_pair" in r else ""
        typer.echo(f"  [{r['label']}] {r['text'][:100]}{pair_txt}")


@app.command("pool")
def pool_cmd(
    as_json: bool = typer.Option(False, "--json", help="Print the composition as JSON."),
    sample: int = typer.Option(0, "--sample", help="Also print this many sampled items."),
    arity: int = typer.Option(1, "--arity"),
    seed: int = typer.Option(0, "--seed"),
    exclude: list[str] = typer.Option(
        None, "--exclude", help="Catalogue names whose sources leave the pool."
    ),
    cache: Path = CacheOpt,
) -> None:
    """Describe the unlabelled pool U (sources, sizes, origin)."""
    from fute.data.pool import describe_pool, sample_pool

    info = describe_pool(cache)
    if sample:
        ex = sample_pool(sample, arity=arity, seed=seed, exclude=exclude or (), cache=cache)
        info["sample"] = [
            {"source": s, "text": t, **({"text_pair": ex.text_pairs[i]} if ex.text_pairs else {})}
            for i, (s, t) in enumerate(zip(ex.provenance["sources"], ex.texts, strict=True))
        ]
    if as_json:
        typer.echo(json.dumps(info, indent=1))
        return
    typer.echo(
        f"pool version {info['version']}: {info['sources']} sources in {info['genres']} genres, "
        f"{info['items']} items prepared (cap {info['source_cap']} per source, "
        f"at most {info['max_share']:.0%} of a draw from one source)"
    )
    for r in info["per_source"]:
        items = r["items"] if r["items"] is not None else r["status"]
        pairs = "pairs" if r["natural_pairs"] else ""
        why = f"  ({r['unavailable_reason']})" if r["unavailable_reason"] else ""
        typer.echo(f"  {r['tag']:<36} {r['genre']:<14} {items!s:>12} {pairs:<5}{why}")
    for item in info.get("sample", []):
        typer.echo(f"  <{item['source']}> {item['text'][:100]}")
