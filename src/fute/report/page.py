"""Assemble the report: one self-contained `index.html` (images inlined) plus the PNG files.

Per space: a similarity heat-map, a 2-D map, and for every data set its ranked models,
ranked (LLM, prompt) pairs and nearest data sets. The page opens from a mail attachment or
a CI artefact without its folder, because every image is embedded as base64.
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

from fute import __version__
from fute.embedding import TaskEmbedding
from fute.errors import FuteError
from fute.ranking import group_by_space, rank, similarity_matrix
from fute.report.plots import KIND_STYLE, heatmap_png, map_png

TABLE_TOP = 10


@dataclass
class SpaceSection:
    key: str
    slug: str
    counts: dict[str, int]
    heatmap: dict
    map: dict
    map_method: str
    datasets: list[dict] = field(default_factory=list)
    inventory: list[dict] = field(default_factory=list)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "space"


def _image(path: Path, alt: str) -> dict:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return {"file": path.name, "src": f"data:image/png;base64,{data}", "alt": alt}


def _rows(target: TaskEmbedding, pool: list[TaskEmbedding], top: int) -> list[dict]:
    return [
        {
            "rank": r.rank,
            "name": r.embedding.name,
            "kind": r.embedding.kind,
            "similarity": r.similarity,
            "bar": max(0.0, r.similarity) * 100,
        }
        for r in rank(target, pool, top=top)
    ]


def _space_section(
    key: str, embs: list[TaskEmbedding], out_dir: Path, index: int, top: int
) -> SpaceSection:
    slug = f"{index}-{_slug(key)}"
    sims = similarity_matrix(embs)
    heat = heatmap_png(
        embs, sims, out_dir / f"heatmap-{slug}.png", "Cosine similarity of every pair"
    )
    mp, method = map_png(embs, sims, out_dir / f"map-{slug}.png", "Map of the space")
    counts = {k: sum(e.kind == k for e in embs) for k in KIND_STYLE}
    section = SpaceSection(
        key=key,
        slug=slug,
        counts=counts,
        heatmap=_image(heat, f"similarity heat-map of space {key}"),
        map=_image(mp, f"2-D map of space {key}"),
        map_method=method,
    )
    by_kind = {k: [e for e in embs if e.kind == k] for k in KIND_STYLE}
    for d in sorted(by_kind["dataset"], key=lambda e: e.name):
        section.datasets.append(
            {
                "name": d.name,
                "anchor": f"{slug}-{_slug(d.name)}",
                "tables": [
                    ("Models", _rows(d, by_kind["model"], top)),
                    ("LLM + prompt", _rows(d, by_kind["prompted-lm"], top)),
                    ("Nearest data sets", _rows(d, by_kind["dataset"], top)),
                ],
            }
        )
    for e in sorted(
        embs, key=lambda e: (list(KIND_STYLE).index(e.kind) if e.kind in KIND_STYLE else 9, e.name)
    ):
        meta = e.meta or {}
        section.inventory.append(
            {
                "name": e.name,
                "kind": e.kind,
                "dim": int(e.vector.size),
                "source": _describe_source(meta),
                "created": _fmt_time(meta.get("created")),
            }
        )
    return section


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


def _collect(source: object) -> list[TaskEmbedding]:
    from fute.store import Store

    if isinstance(source, Store):
        return source.load()
    if isinstance(source, str | os.PathLike):
        return Store(source, readonly=True).load()
    embs = list(source) if isinstance(source, Iterable) else None
    if embs is None or not all(isinstance(e, TaskEmbedding) for e in embs):
        raise FuteError(
            "write_report takes a Store, a store path or a list of TaskEmbedding objects"
        )
    return embs


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
    embs = _collect(store_or_embeddings)
    if not embs:
        raise FuteError(
            "nothing to report: the store holds no embeddings; run `fute embed` or `fute demo` first"
        )
    out = Path(out_dir).expanduser()
    with _staging(out, overwrite) as tmp:
        _draw(embs, tmp, title, top)
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


def _draw(embs: list[TaskEmbedding], out: Path, title: str, top: int) -> None:
    """Draw the PNG files and write index.html into `out`."""
    spaces = group_by_space(embs)
    sections = [
        _space_section(key, group, out, i + 1, top)
        for i, (key, group) in enumerate(sorted(spaces.items(), key=lambda kv: -len(kv[1])))
    ]
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("fute.report", "."),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    html = env.get_template("template.html").render(
        title=title,
        sections=sections,
        kinds=KIND_STYLE,
        version=__version__,
        generated=_dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        n_embeddings=len(embs),
    )
    (out / "index.html").write_text(html, encoding="utf-8")
