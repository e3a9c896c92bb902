"""Top-level product commands: `fute store ...`, `fute rank`, `fute report`, `fute demo`.

Each command is one library call (`fute.store`, `fute.ranking`, `fute.report`, `fute.cli.demo`)
plus printing; every command that prints results takes `--json`.
"""

from __future__ import annotations

import datetime as dt
import enum
from pathlib import Path

import numpy as np
import typer
from rich import box
from rich.table import Table

from fute.cli.output import (
    JsonOption,
    StoreOption,
    emit_json,
    err,
    kind_of,
    open_store,
    out,
    space_key_of,
    warn,
    working,
)
from fute.core.errors import FuteError
from fute.ranking.similarity import SIMILARITIES

# the choices of --similarity: the registry's names (an unknown one is a usage error, exit 2)
SimilarityName = enum.Enum("SimilarityName", {n: n for n in SIMILARITIES}, type=str)

store_app = typer.Typer(
    help="List, show, delete, export and import stored task embeddings.", no_args_is_help=True
)

KindOption = typer.Option(None, "--kind", help="Only this kind: dataset, model or prompt.")
SpaceOption = typer.Option(None, "--space", help="Only this space key.")
IdOption = typer.Option(None, "--id", help="The embedding with this store id (as listed).")
NameOption = typer.Option(
    None, "--name", help="The embedding(s) with this name, even one that reads #N."
)
ForceOption = typer.Option(False, "--force", help="Replace an existing output.")


def _when(t: float) -> str:
    return dt.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M")


LIST_LIMIT = 50  # rows of the `store list` table unless --limit / --all


def _space_legend(spaces: dict[str, tuple[dict, int]], width: int) -> list[str]:
    """One line per space (space key -> (its `meta["space"]`, number of embeddings)): short
    id, method, seed, count, and the space-defining settings that tell it apart from other
    spaces of its method."""
    import textwrap

    from fute.space import short_key

    described = {k: d for k, (d, _) in spaces.items()}
    ids = {k: short_key(k) for k in spaces}
    pad = max(len(i) for i in ids.values()) + 4
    lines = ["spaces (full keys: --wide or --json):"]
    for key, (d, count) in spaces.items():
        peers = [o for o in described.values() if o.get("method") == d.get("method")]
        hp = d.get("hparams") or {}
        varying = [
            f"{n}={hp[n]}"
            for n in sorted(hp)
            if any((o.get("hparams") or {}).get(n) != hp[n] for o in peers)
        ]
        text = f"{d.get('method', '?')}, seed {d.get('seed', '?')}, {count:,} embedding" + (
            "s" if count != 1 else ""
        )
        if varying:
            text += "; " + ", ".join(varying)
        lines += textwrap.wrap(
            text,
            width=max(width, pad + 20),
            initial_indent=f"  {ids[key]}".ljust(pad),
            subsequent_indent=" " * pad,
            break_on_hyphens=False,
        )
    surrogates = sorted(
        {f"{d.get('surrogate')}@{str(d.get('surrogate_sha256'))[:16]}" for d in described.values()}
    )
    for s in surrogates:
        lines += textwrap.wrap(f"surrogate {s}", width=max(width, 40), subsequent_indent="  ")
    return lines


def _listed_spaces(st, kind: str | None, space_key: str | None) -> dict[str, tuple[dict, int]]:
    """Space key -> (description, count) of the rows a listing covers, from the per-space
    counts and one record per space: never every row's metadata."""
    counts = {k: n for k, n in st.spaces().items() if space_key in (None, k)}
    if kind is not None:  # GROUP BY space uses its index; GROUP BY (space, kind) would sort
        counts = {k: c for k in counts if (c := st.count(kind=kind, space_key=k))}
    out = {}
    for key, n in counts.items():
        (rec,) = st.list(space_key=key, kind=kind, limit=1) or [None]
        out[key] = ((rec.meta.get("space") or {}) if rec else {}, n)
    return out


def _stream_json(st, kind: str | None, space_key: str | None, limit, offset: int) -> None:
    """`store list --json`: one JSON document, written a page of rows at a time (one row per
    line), so 100,000 rows never sit in memory twice."""
    import json
    import sys

    from fute.core.jsonio import json_default
    from fute.space import short_key

    page = 5000
    end = None if limit is None else offset + limit
    write = sys.stdout.write
    first, start = True, offset
    while end is None or offset < end:
        size = page if end is None else min(page, end - offset)
        records = st.list(kind=kind, space_key=space_key, limit=size, offset=offset)
        if offset == start:  # after the first read: a damaged store is one error, no output
            write(f'{{"store": {json.dumps(str(st.path))}, "embeddings": [')
        for r in records:
            row = {**r.to_dict(), "space": short_key(r.space_key)}
            write(("\n  " if first else ",\n  ") + json.dumps(row, default=json_default))
            first = False
        offset += len(records)
        if len(records) < size:
            break
    write("\n]}\n")
    sys.stdout.flush()


@store_app.command("list")
def store_list(
    kind: str = KindOption,
    space: str = SpaceOption,
    wide: bool = typer.Option(
        False, "--wide", help="Show full space keys instead of short ids and a legend."
    ),
    limit: int = typer.Option(
        None,
        "--limit",
        min=1,
        help=f"Show at most this many rows (table default {LIST_LIMIT}; --json: all).",
    ),
    offset: int = typer.Option(0, "--offset", min=0, help="Skip this many rows first."),
    show_all: bool = typer.Option(False, "--all", help="Show every row in the table."),
    store: Path = StoreOption,
    as_json: bool = JsonOption,
) -> None:
    """List stored embeddings (no vectors are read); long tables are paged."""
    from rich.text import Text

    from fute.space import short_key

    st = open_store(store, readonly=True)
    kind, space_key = kind_of(kind), space_key_of(st, space)
    if as_json:
        _stream_json(st, kind, space_key, limit, offset)
        return
    total = st.count(kind=kind, space_key=space_key)
    if total == 0:
        err.print(f"no embeddings in {st.path}; compute some with `fute embed` or `fute demo`")
        return
    page = None if show_all else (limit or LIST_LIMIT)
    records = st.list(kind=kind, space_key=space_key, limit=page, offset=offset)
    table = Table(
        title=f"{total:,} embeddings in {st.path}",
        title_justify="left",
        box=box.SIMPLE_HEAD,  # no side borders, two spaces between columns: fits 80 columns
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    for col in ("id", "kind", "name", "space", "size", "created"):
        table.add_column(
            col,
            justify="right" if col in ("id", "size") else "left",
            no_wrap=col in ("id", "space", "size", "created") and not wide,
            overflow="fold",  # long names wrap onto more lines, never cut
        )
    for r in records:
        table.add_row(
            str(r.id),
            r.kind,
            Text(r.name),
            r.space_key if wide else short_key(r.space_key),
            f"{r.dim:,}",
            _when(r.created),
        )
    out.print(table)
    rest = total - offset - len(records)
    if rest > 0 or offset:
        shown = f"rows {offset + 1:,}-{offset + len(records):,} of {total:,}"
        more = f"; {rest:,} more: --offset {offset + len(records)}, --limit N, --all or --json"
        out.print(Text(f"… {shown}{more if rest > 0 else ''}"))
    if not wide:
        out.print()
        for line in _space_legend(_listed_spaces(st, kind, space_key), out.width):
            out.print(Text(line))


@store_app.command("show")
def store_show(
    ref: str = typer.Argument(None, help="Name or #id of a stored embedding."),
    id_: int = IdOption,
    name: str = NameOption,
    kind: str = KindOption,
    space: str = SpaceOption,
    store: Path = StoreOption,
    as_json: bool = JsonOption,
) -> None:
    """Show one embedding: metadata and a summary of its vector."""
    ref, kind = _one_ref(ref, id_, name), kind_of(kind)
    e = open_store(store, readonly=True).get(ref, kind=kind, space_key=space)
    v = np.asarray(e.vector, dtype=np.float64).ravel()
    summary = {
        "size": int(v.size),
        "norm": float(np.linalg.norm(v)),
        "mean": float(v.mean()),
        "min": float(v.min()),
        "max": float(v.max()),
        "head": [round(float(x), 6) for x in v[:8]],
    }
    info = {
        "id": e.meta.get("store_id"),
        "kind": e.kind,
        "name": e.name,
        "space_key": e.space_key,
        "vector": summary,
        "extras": {k: list(np.shape(v)) for k, v in sorted(e.extras.items())},
        "meta": {k: val for k, val in e.meta.items() if k != "store_id"},
    }
    if as_json:
        emit_json(info)
        return
    out.print(f"[bold]{e.name}[/bold]  ({e.kind}, #{info['id']})")
    out.print(f"space   {e.space_key}")
    out.print(
        f"vector  {summary['size']:,} values, norm {summary['norm']:.4g}, "
        f"range [{summary['min']:.3g}, {summary['max']:.3g}]"
    )
    if info["extras"]:
        shapes = ", ".join(f"{k} {'x'.join(map(str, v))}" for k, v in info["extras"].items())
        out.print(f"extras  {shapes}")
    for key, val in sorted(info["meta"].items()):
        if key == "prompt" and isinstance(val, dict):
            _print_prompt(val)
        else:
            out.print(f"{key:<8}{val}" if len(key) < 8 else f"{key}  {val}")


def _print_prompt(prompt: dict) -> None:
    """The prompt a stored MTE was made with, as it was then (the file may have changed)."""
    out.print(f"prompt  {prompt.get('id')} (hash {str(prompt.get('hash', ''))[:12]})")
    for field in ("template", "verbalizer", "chat", "system", "answer_prefix", "source"):
        if prompt.get(field) not in (None, ""):
            out.print(f"  {field:<14}{prompt[field]!r}")


@store_app.command("delete")
def store_delete(
    ref: str = typer.Argument(None, help="Name or #id of the embedding(s) to delete."),
    id_: int = IdOption,
    name: str = NameOption,
    kind: str = KindOption,
    space: str = SpaceOption,
    store: Path = StoreOption,
    as_json: bool = JsonOption,
) -> None:
    """Delete embeddings by name (all kinds and spaces unless narrowed) or by #id."""
    ref, kind = _one_ref(ref, id_, name), kind_of(kind)
    st = open_store(store, create=False)
    resolved = st.resolve(ref)
    n = st.delete(resolved, kind=kind, space_key=space)
    said = f"#{resolved}" if isinstance(resolved, int) else str(resolved)
    if n == 0:
        raise FuteError(f"no embedding {said!r} in {st.path}; see `fute store list`")
    if as_json:
        emit_json({"deleted": n, "ref": said})
    else:
        out.print(f"deleted {n} embedding{'s' if n != 1 else ''} {said!r} from {st.path}")


@store_app.command("export")
def store_export(
    dest: Path = typer.Argument(..., help="Output file: .npz (NumPy) or .parquet."),
    space: str = SpaceOption,
    force: bool = ForceOption,
    store: Path = StoreOption,
    as_json: bool = JsonOption,
) -> None:
    """Export vectors and metadata to NumPy (.npz) or Parquet (damaged rows are left out)."""
    st = open_store(store, readonly=True)
    with working(f"exporting {st.path}"):
        path = st.export(dest, space_key=space, overwrite=force)
    n = len(st.list(space_key=space)) - len(st.skipped)
    if as_json:
        emit_json({"path": str(path), "embeddings": n, "left_out": [s[0] for s in st.skipped]})
    else:
        out.print(f"wrote {n} embeddings to {path}")


@store_app.command("import")
def store_import(
    files: list[Path] = typer.Argument(
        ..., help="An .npz from `fute store export`, or one kept after a failed write."
    ),
    store: Path = StoreOption,
    as_json: bool = JsonOption,
) -> None:
    """Store the embeddings of .npz files (each file in one transaction).

    A file kept in the cache's pending/ folder after a failed write is removed once stored.
    """
    from fute.core.paths import cache_dir
    from fute.store import PENDING_DIR

    st = open_store(store)
    pending = (cache_dir() / PENDING_DIR).resolve()
    done = []
    for f in files:
        ids = st.import_file(f)
        if f.expanduser().resolve().parent == pending:
            f.expanduser().unlink(missing_ok=True)
        done.append({"file": str(f), "ids": ids})
        if not as_json:
            s = "s" if len(ids) != 1 else ""
            out.print(f"stored {len(ids)} embedding{s} from {f} in {st.path}")
    if as_json:
        emit_json({"store": str(st.path), "imported": done})


def rank_cmd(
    target: str = typer.Argument(
        ..., help="Name or #id of a stored embedding (usually a data set)."
    ),
    kind: str = typer.Option(None, "--kind", help="Rank only this kind: dataset, model or prompt."),
    top: int = typer.Option(10, "--top", min=1, help="How many candidates to show."),
    space: str = SpaceOption,
    target_kind: str = typer.Option(
        None, "--target-kind", help="Kind of the target, when its name is ambiguous."
    ),
    similarity: SimilarityName = typer.Option(
        "cosine",
        "--similarity",
        help="How to compare (docs/similarity.md); all but cosine read every row of the space.",
    ),
    store: Path = StoreOption,
    as_json: bool = JsonOption,
) -> None:
    """Rank stored candidates by similarity to TARGET (cosine by default), within TARGET's space."""
    from fute.ranking import no_candidates_message, rank_stored
    from fute.space import short_key

    name = SimilarityName(similarity).value
    kind_of(kind), kind_of(target_kind, "--target-kind")  # bad words fail before the store
    if not target.strip():
        raise FuteError("the target's name is empty; give a stored embedding's name or #id")
    st = open_store(store, readonly=True)
    tgt = st.get(
        target.strip(),
        kind=kind_of(target_kind, "--target-kind"),
        space_key=space_key_of(st, space),
    )
    notes: list[str] = []

    def note(message: str) -> None:
        notes.append(message)
        warn(message)

    ranked = rank_stored(
        st,
        tgt,
        kind=kind_of(kind),
        top=top,
        similarity=name,
        notify=note,
    )
    # nothing to rank against: say which setting separates the target from the candidates
    # in other spaces; with --json the document still goes to stdout, but the exit is 2
    problem = None if ranked else no_candidates_message(tgt, st.list(kind=kind_of(kind)), kind)
    others = st.count(kind=kind_of(kind), space_key=tgt.space_key)
    others -= 1 if kind_of(kind) in (None, tgt.kind) else 0  # the target itself
    if problem and others > 0:  # candidates are there, but none has what `name` needs
        problem = (
            f"none of the {others} candidates in space {short_key(tgt.space_key)} can be "
            f"ranked by {name} (see the warnings above)"
        )
    if as_json:
        doc = {
            "target": {"name": tgt.name, "kind": tgt.kind, "id": tgt.meta.get("store_id")},
            "space_key": tgt.space_key,
            "space": short_key(tgt.space_key),
            "similarity": name,
            "results": [r.to_dict() for r in ranked],
            "notes": notes,
        }
        emit_json({**doc, "error": problem} if problem else doc)
    if problem:
        raise FuteError(problem)
    if as_json:
        return
    table = Table(
        title=f"Most similar to {tgt.name} ({tgt.kind}) in space {short_key(tgt.space_key)}",
        title_justify="left",
    )
    for col, just in (("#", "right"), ("name", "left"), ("kind", "left"), (name, "right")):
        table.add_column(col, justify=just)
    for r in ranked:
        table.add_row(str(r.rank), r.embedding.name, r.embedding.kind, f"{r.similarity:.4f}")
    out.print(table)


@store_app.command("centre")
def store_centre(
    space: str = SpaceOption,
    kind: str = KindOption,
    reset: bool = typer.Option(
        False,
        "--reset",
        help="Remake them from the embeddings stored now (a store written by an older fute "
        "gets its centres).",
    ),
    store: Path = StoreOption,
    as_json: bool = JsonOption,
) -> None:
    """List the centres of centred-cosine the store keeps (per space and kind; every write
    keeps them up to date), or --reset them."""
    st = open_store(store, create=False) if reset else open_store(store, readonly=True)
    space_key = space_key_of(st, space)
    if reset:
        n = st.remake_centres(space_key, kind_of(kind))
        if as_json:
            emit_json({"remade": n})
        else:
            out.print(f"remade the centres: {n} kept in {st.path}")
        return
    rows = [c for c in st.centres(space_key) if kind is None or c["kind"] == kind_of(kind)]
    if as_json:
        emit_json({"centres": rows})
        return
    if not rows:
        out.print(
            "no centres: a kind gets one when 2 of its embeddings are stored in a space "
            "(`fute store centre --reset` makes them for a store written by an older fute)"
        )
    for c in rows:
        meta = c["meta"]
        out.print(
            f"{c['space_key']}  {c['kind']}: mean of {meta.get('n')} unit vectors, "
            f"made {_when(c['created'])} (fute {meta.get('fute')})"
        )


def report_cmd(
    out_dir: Path = typer.Option(
        Path("fute-report"), "--out", help="Folder for index.html and the PNG files."
    ),
    title: str = typer.Option("fute report", "--title", help="Title of the page."),
    force: bool = typer.Option(False, "--force", help="Replace a report already in --out."),
    store: Path = StoreOption,
    as_json: bool = JsonOption,
) -> None:
    """Write an HTML report (heat-maps, a 2-D map, rankings) of everything in the store."""
    from fute.report import write_report

    st = open_store(store, readonly=True)
    with working("drawing the report"):
        index = write_report(st, out_dir, title=title, overwrite=force)
    if as_json:
        emit_json(
            {
                "report": str(index.resolve()),
                "files": sorted(p.name for p in index.parent.glob("*.png")),
            }
        )
    else:
        out.print(f"report: {index.resolve()}")


def demo_cmd(
    store: Path = StoreOption,
    out_dir: Path = typer.Option(
        None, "--out", help="Report folder (default: <cache>/demo-report)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """The tour: data sets, models and prompted SmolLM2 in one space, a ranking and a report."""
    from fute.cli.demo import run_demo

    result = run_demo(store_path=store, report_dir=out_dir, quiet=as_json)
    if as_json:
        emit_json(result)


def _one_ref(ref: str | None, id_: int | None, name: str | None) -> int | str:
    """Exactly one of REF, --id and --name: an id (int), a name that may read ``#N``
    (`Name`), or REF as typed (the store resolves ``#N``, refusing an ambiguous one)."""
    from fute.store import Name

    given = [x for x in (ref, id_, name) if x is not None]
    if len(given) != 1:
        raise FuteError("name one embedding: REF, --id N or --name NAME (exactly one)")
    if id_ is not None:
        return id_
    if name is not None:
        return Name(name)
    if not ref.strip():
        raise FuteError("the embedding's name is empty; give a name, #id or --id N")
    return ref.strip()


def register(app: typer.Typer) -> None:
    """Add the product commands to the root app."""
    app.add_typer(store_app, name="store")
    app.command("rank")(rank_cmd)
    app.command("report")(report_cmd)
    app.command("demo")(demo_cmd)
