"""Assemble the report: one self-contained `index.html` (images inlined) plus the PNG files.

Per space: a similarity heat-map, a 2-D map, and for every data set its ranked models,
ranked (LLM, prompt) pairs and nearest data sets. The page opens from a mail attachment or
a CI artefact without its folder, because every image is embedded as base64.

A big space stays readable and quick: the rankings come from one exact pass over the
space's vector index for all data sets together (tables for the first MAX_TARGETS data
sets by name, the others named), the heat-map shows at most HEATMAP_MAX rows (the first
data sets and their nearest embeddings), the map a seeded sample of at most MAP_PER_KIND
points per kind laid out by PCA, and the inventory its first INVENTORY_MAX rows; the page
says so wherever it shows a part.
"""

from __future__ import annotations

import base64
import datetime as _dt
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import numpy as np

from fute._version import __version__
from fute.core.embedding import TaskEmbedding
from fute.core.errors import FuteError
from fute.core.kinds import Kind
from fute.ranking import group_by_space
from fute.report.plots import KIND_STYLE, heatmap_png, map_png
from fute.store.vector_index import SpaceIndex, from_embeddings, open_index

TABLE_TOP = 10
MAX_TARGETS = 100  # data sets given ranking tables; the others are named, for `fute rank`
HEATMAP_MAX = 40  # rows and columns a person can read
HEATMAP_TARGETS = 20  # data sets in the heat-map of a bigger space, with their nearest others
MAP_FULL = 500  # up to this many points: every point, UMAP / t-SNE of the cosine distances
MAP_PER_KIND = 2000  # above: at most this many points per kind, sampled, PCA
INVENTORY_MAX = 1000  # rows of the inventory table
REC_TARGETS = 10  # data sets given a "Recommendations" table (`fute recommend`'s evidence)
REC_TOP = 5  # candidates per recommendation table
REC_MAX_CANDIDATES = 500  # per kind; above, the page names `fute recommend` instead


@dataclass
class Item:
    """What the report shows of one embedding (no vector)."""

    name: str
    kind: str
    dim: int
    meta: dict


@dataclass
class SpaceSection:
    key: str
    slug: str
    counts: dict[str, int]
    heatmap: dict
    heatmap_note: str
    map: dict
    map_method: str
    map_note: str
    datasets: list[dict] = field(default_factory=list)
    more_datasets: list[str] = field(default_factory=list)
    inventory: list[dict] = field(default_factory=list)
    inventory_more: int = 0
    recommendations: list[dict] = field(default_factory=list)
    recommendations_note: str = ""


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "space"


def _image(path: Path, alt: str) -> dict:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return {"file": path.name, "src": f"data:image/png;base64,{data}", "alt": alt}


def _neighbours(
    index: SpaceIndex, targets: list[int], chosen: list[int], top: int
) -> tuple[list[int], dict[str, tuple]]:
    """One exact pass over the space's rows for the table targets and the heat-map rows:
    per kind the `top` + 1 nearest rows of each target (+1: itself), and the HEATMAP_MAX
    nearest rows of any kind. Returns (query rows, results by group)."""
    queries = list(targets) + [c for c in chosen if c not in set(targets)]
    groups = {
        kind: (top + 1, mask)
        for kind in KIND_STYLE
        if (mask := index.kind_mask(kind)) is not None and mask.any()
    }
    if chosen:
        groups["all"] = (HEATMAP_MAX, None)
    if not queries or not groups:
        return queries, {}
    return queries, index.search_groups(index.rows(queries), groups)


def _table(found: dict, items: list[Item], row: int, target: int, kind: str, top: int) -> list:
    """The ranking table of one target (query row `row`) for one kind, itself left out."""
    if kind not in found:
        return []
    pos, scores = found[kind][0][row], found[kind][1][row]
    keep = [(int(j), float(v)) for j, v in zip(pos, scores, strict=True) if j != target]
    return [
        {
            "rank": r + 1,
            "name": items[j].name,
            "kind": items[j].kind,
            "similarity": v,
            "bar": max(0.0, v) * 100,
        }
        for r, (j, v) in enumerate(keep[:top])
    ]


def _heatmap_rows(chosen: list[int], queries: list[int], found: dict) -> list[int]:
    """The chosen rows and, in turn, each one's nearest other rows, until HEATMAP_MAX."""
    picked = dict.fromkeys(chosen[:HEATMAP_MAX])
    if "all" not in found:
        return list(picked)
    pos = found["all"][0][[queries.index(c) for c in chosen]]
    for depth in range(pos.shape[1]):
        for row in pos[:, depth]:
            if len(picked) >= HEATMAP_MAX:
                return list(picked)
            picked.setdefault(int(row))
    return list(picked)


def _map_rows(items: list[Item], seed: int = 0) -> list[int]:
    if len(items) <= MAP_FULL:
        return list(range(len(items)))
    rng = np.random.default_rng(seed)
    rows: list[int] = []
    for kind in KIND_STYLE:
        of_kind = [i for i, it in enumerate(items) if it.kind == kind]
        if len(of_kind) > MAP_PER_KIND:
            of_kind = sorted(rng.choice(of_kind, MAP_PER_KIND, replace=False).tolist())
        rows += of_kind
    return rows


def _space_section(
    key: str, index: SpaceIndex, items: list[Item], out_dir: Path, number: int, top: int
) -> SpaceSection:
    slug = f"{number}-{_slug(key)}"
    n = len(items)
    by_name = sorted(range(n), key=lambda i: (items[i].name, i))
    datasets = [i for i in by_name if items[i].kind == "dataset"]

    shown = datasets[:MAX_TARGETS]
    small = n <= HEATMAP_MAX
    chosen = [] if small else (list(datasets[:HEATMAP_TARGETS]) or list(range(HEATMAP_TARGETS)))
    queries, found = _neighbours(index, shown, chosen, top)
    heat_rows = list(range(n)) if small else _heatmap_rows(chosen, queries, found)
    heat_items = [items[i] for i in heat_rows]
    unit = index.rows(heat_rows).astype(np.float64)
    sims = np.clip(unit @ unit.T, -1.0, 1.0)
    heat = heatmap_png(heat_items, sims, out_dir / f"heatmap-{slug}.png", "Cosine similarity")
    if len(heat_rows) == n:
        heat_note = "Cosine similarity of every pair, grouped by kind"
    else:
        heat_note = (
            f"Cosine similarity of {min(len(datasets), HEATMAP_TARGETS)} data sets and their "
            f"nearest embeddings ({len(heat_rows)} of the {n:,} in this space), grouped by kind"
        )

    map_rows = _map_rows(items)
    map_items = [items[i] for i in map_rows]
    mp, method = map_png(
        map_items, index.rows(map_rows), out_dir / f"map-{slug}.png", "Map of the space"
    )
    map_note = (
        ""
        if len(map_rows) == n
        else (
            f"{len(map_rows):,} of the {n:,} embeddings, sampled at random (seed 0, at most "
            f"{MAP_PER_KIND:,} per kind); "
        )
    )
    section = SpaceSection(
        key=key,
        slug=slug,
        counts={k: sum(it.kind == k for it in items) for k in KIND_STYLE},
        heatmap=_image(heat, f"similarity heat-map of space {key}"),
        heatmap_note=heat_note,
        map=_image(mp, f"2-D map of space {key}"),
        map_method=method,
        map_note=map_note,
    )
    section.more_datasets = [items[i].name for i in datasets[MAX_TARGETS:]]
    columns = (
        ("Models", Kind.MODEL),
        ("LLM + prompt", Kind.PROMPTED_LM),
        ("Nearest data sets", Kind.DATASET),
    )
    for k, d in enumerate(shown):
        section.datasets.append(
            {
                "name": items[d].name,
                "anchor": f"{slug}-{_slug(items[d].name)}-{d}",
                "tables": [(c, _table(found, items, k, d, kind, top)) for c, kind in columns],
            }
        )
    order = sorted(
        range(n),
        key=lambda i: (
            list(KIND_STYLE).index(items[i].kind) if items[i].kind in KIND_STYLE else 9,
            items[i].name,
        ),
    )
    section.inventory_more = max(0, n - INVENTORY_MAX)
    for i in order[:INVENTORY_MAX]:
        meta = items[i].meta or {}
        section.inventory.append(
            {
                "name": items[i].name,
                "kind": items[i].kind,
                "dim": items[i].dim,
                "source": _describe_source(meta),
                "created": _fmt_time(meta.get("created")),
            }
        )
    return section


def _recommendations(source, key: str, items: list[Item], targets: list[str]) -> tuple[list, str]:
    """`fute recommend`'s evidence for the first REC_TARGETS report targets, per kind
    (prompts, models, source data sets) with at most REC_MAX_CANDIDATES candidates: each
    kind's rows are read once (with their extras) for all targets. Never writes."""
    from fute.ranking.recommend import (
        DEFAULT,
        KIND_ORDER,
        SHORT,
        recommend_among,
        stored_candidates,
    )
    from fute.store import Store

    counts = {k: sum(it.kind == k for it in items) for k in KIND_ORDER}
    kinds = [k for k in KIND_ORDER if counts[k] - (k == "dataset") > 0]
    big = [k for k in kinds if counts[k] > REC_MAX_CANDIDATES]
    kinds = [k for k in kinds if k not in big]
    chosen = targets[:REC_TARGETS]
    notes = []
    if len(targets) > REC_TARGETS:
        notes.append(f"for the first {REC_TARGETS} of {len(targets)} data sets")
    if big:
        said = ", ".join(f"{counts[k]:,} {k.noun}s" for k in big)
        notes.append(f"none among {said} (over {REC_MAX_CANDIDATES:,}: use `fute recommend`)")
    if not kinds or not chosen:
        return [], "; ".join(notes)
    loaded: dict[str, tuple[list, dict | None]] = {}
    if isinstance(source, Store):
        for k in kinds:
            rows, centres, _ = stored_candidates(source, key, k)
            loaded[k] = (rows, centres)
        found = {e.name: e for e in loaded.get("dataset", ([], None))[0]}
        want = [n for n in chosen if n not in found]
        for name in want:
            found[name] = source.get(name, kind="dataset", space_key=key, extras=True)
    else:
        group = [e for e in source if e.space_key == key]
        for k in kinds:
            loaded[k] = ([e for e in group if e.kind == k], None)
        found = {e.name: e for e in group if e.kind == "dataset"}
    out = []
    for name in chosen:
        tables = []
        for k in kinds:
            rows, centres = loaded[k]
            rec = recommend_among(found[name], rows, kind=k, centres=centres)
            if not rec.candidates:
                continue
            signals = [s.name for s in rec.signals]
            tables.append(
                {
                    "caption": f"{k.noun.capitalize()}s ({len(rec.candidates)})",
                    "signals": [SHORT.get(n, n) for n in signals],
                    "signal_names": signals,
                    "rows": [
                        {
                            "rank": c.rank,
                            "name": c.name,
                            "score": c.signals.get(DEFAULT["similarity"], (None, None))[0],
                            "ranks": [
                                "-" if n not in c.signals else f"{c.signals[n][1]:g}"
                                for n in signals
                            ],
                        }
                        for c in rec.candidates[:REC_TOP]
                    ],
                    "agreement": ", ".join(
                        f"{SHORT.get(s.name, s.name)} {s.kendall:+.2f}"
                        for s in rec.signals
                        if s.kendall is not None
                    ),
                    "caution": rec.caution,
                }
            )
        if tables:
            out.append({"name": name, "tables": tables})
    return out, "; ".join(notes)


def _describe_source(meta: dict) -> str:
    for key in ("prompt_id", "model", "model_identity", "dataset", "data", "source"):
        val = meta.get(key)
        if val:
            return (val if isinstance(val, str) else str(val))[:120]
    prov = meta.get("provenance")
    if isinstance(prov, dict):
        return ", ".join(f"{k}={v}" for k, v in list(prov.items())[:3])[:120]
    return ""


def _fmt_time(t: object) -> str:
    """Creation times come as epoch seconds (the store) or ISO strings (the space)."""
    try:
        if isinstance(t, str):
            return _dt.datetime.fromisoformat(t).strftime("%Y-%m-%d %H:%M")
        return _dt.datetime.fromtimestamp(float(t)).strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError, OSError):
        return ""


Spaces = list[tuple[str, SpaceIndex, list[Item]]]


def _source(store_or_embeddings: object) -> object:
    """A store path opened read-only; a Store or embeddings as they are."""
    from fute.store import Store

    if isinstance(store_or_embeddings, str | os.PathLike):
        return Store(store_or_embeddings, readonly=True)
    if isinstance(store_or_embeddings, Store):
        return store_or_embeddings
    return list(store_or_embeddings) if isinstance(store_or_embeddings, Iterable) else None


def _collect(source: object) -> Spaces:
    """(space key, index, items) per space, largest space first.

    A store is read through its vector indexes (`fute.store.vector_index`), never by loading
    every vector; only a store of schema 1 or 2 opened read-only is loaded row by row.
    """
    from fute.store import Store

    if isinstance(source, str | os.PathLike):
        source = Store(source, readonly=True)
    if isinstance(source, Store):
        spaces = [_stored_space(source, key) for key in source.spaces()]
        return sorted((s for s in spaces if len(s[2])), key=lambda s: -len(s[2]))
    embs = list(source) if isinstance(source, Iterable) else None
    if embs is None or not all(isinstance(e, TaskEmbedding) for e in embs):
        raise FuteError(
            "write_report takes a Store, a store path or a list of TaskEmbedding objects"
        )
    groups = sorted(group_by_space(embs).items(), key=lambda kv: -len(kv[1]))
    return [(key, from_embeddings(group), [_item(e) for e in group]) for key, group in groups]


def _item(e: TaskEmbedding) -> Item:
    return Item(e.name, e.kind, int(np.asarray(e.vector).size), e.meta or {})


def _stored_space(store, key: str) -> tuple[str, SpaceIndex, list[Item]]:
    index = open_index(store, key)
    if index is None:  # an old store read as it is: no index, so its rows are loaded
        embs = store.load(space_key=key)
        return key, (from_embeddings(embs) if embs else None), [_item(e) for e in embs]
    records = {r.id: r for r in store.list(space_key=key)}
    keep = [i for i, rid in enumerate(index.ids) if int(rid) in records]
    if len(keep) < len(index):  # deleted meanwhile: another process wrote; use what is there
        index = open_index(store, key)
        keep = [i for i, rid in enumerate(index.ids) if int(rid) in records]
    items = [
        Item(
            records[int(index.ids[i])].name,
            records[int(index.ids[i])].kind,
            records[int(index.ids[i])].dim,
            records[int(index.ids[i])].meta,
        )
        for i in keep
    ]
    return key, index, items


def write_report(
    store_or_embeddings: object,
    out_dir: str | os.PathLike,
    *,
    title: str = "fute report",
    top: int = TABLE_TOP,
    overwrite: bool = True,
) -> Path:
    """Write `out_dir/index.html` and its PNG files; return the path of `index.html`.

    `store_or_embeddings`: a `Store`, a store path, or TaskEmbedding objects (any spaces;
    each space gets its own section, since vectors of different spaces never meet).
    The files are drawn in a temporary folder inside `out_dir` and moved in when all are
    done (`index.html` last), so a failure leaves any earlier report as it was;
    `overwrite=False` refuses a folder that already holds an `index.html`.
    """
    out = Path(out_dir).expanduser()
    with _staging(out, overwrite) as tmp:  # checked first: a bad --out costs no index build
        source = _source(store_or_embeddings)
        spaces = _collect(source)
        if not spaces:
            raise FuteError(
                "nothing to report: the store holds no embeddings; run `fute embed` or `fute demo` first"
            )
        _draw(spaces, tmp, title, top, source)
        for png in sorted(tmp.glob("*.png")):
            os.replace(png, out / png.name)
        os.replace(tmp / "index.html", out / "index.html")
    return out / "index.html"


@contextmanager
def _staging(out: Path, overwrite: bool) -> Iterator[Path]:
    """A temporary folder inside `out` (created if needed); unwritable places are one error."""
    if out.exists() and not out.is_dir():
        raise FuteError(f"{out} is a file; give a folder for the report")
    if not overwrite and (out / "index.html").exists():
        raise FuteError(
            f"{out} already holds a report (index.html); pass --force to replace it "
            "or choose another --out folder"
        )
    created = not out.exists()
    tmp = None
    try:
        out.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".fute-report-", dir=out))
        yield tmp
    except OSError as exc:
        raise FuteError(
            f"cannot write the report to {out}: {exc.strerror or exc}; "
            "choose an --out folder you can write to"
        ) from None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        if created and out.is_dir() and not (out / "index.html").exists():
            shutil.rmtree(out, ignore_errors=True)  # nothing of ours made it in


def _draw(spaces: Spaces, out: Path, title: str, top: int, source: object = None) -> None:
    """Draw the PNG files and write index.html into `out`."""
    sections = [
        _space_section(key, index, items, out, i + 1, top)
        for i, (key, index, items) in enumerate(spaces)
    ]
    if source is not None:
        for section, (key, _, items) in zip(sections, spaces, strict=True):
            targets = [d["name"] for d in section.datasets]
            section.recommendations, section.recommendations_note = _recommendations(
                source, key, items, targets
            )
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("fute.report", "."),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    from fute.ranking.recommend import DEFAULT, SHORT, order_words

    html = env.get_template("template.html").render(
        rec_default=order_words(Kind.PROMPTED_LM),
        rec_short=SHORT.get(DEFAULT["similarity"], DEFAULT["similarity"]),
        title=title,
        sections=sections,
        kinds=KIND_STYLE,
        version=__version__,
        generated=_dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        n_embeddings=sum(len(items) for _, _, items in spaces),
    )
    (out / "index.html").write_text(html, encoding="utf-8")
