"""`write_report`: files, self-contained images, one section per space, ranked tables."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser

import numpy as np
import pytest

from fute.core.embedding import TaskEmbedding
from fute.core.errors import FuteError
from fute.report import write_report
from fute.store import Store
from reportdata import mean_embedding_dtes

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class Page(HTMLParser):
    """Collects the images, tables (with their rows) and headings of a report."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict] = []
        self.tables: list[dict] = []
        self.headings: list[str] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._heading = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.images.append(a)
        elif tag == "table":
            self.tables.append({**a, "rows": []})
        elif tag == "tr":
            self._row = []
        elif tag == "td":
            self._cell = []
        elif tag in ("h2", "h3"):
            self._heading = True
            self.headings.append("")

    def handle_endtag(self, tag):
        if tag == "td" and self._row is not None:
            self._row.append("".join(self._cell or []).strip())
            self._cell = None
        elif tag == "tr" and self._row:
            self.tables[-1]["rows"].append(self._row)
            self._row = None
        elif tag in ("h2", "h3"):
            self._heading = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._heading:
            self.headings[-1] += data


slow = pytest.mark.slow  # loads and hashes the real surrogate once (~20 s)


@pytest.fixture(scope="module")
def dtes():
    return list(mean_embedding_dtes())


def parse(path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


@slow
def test_report_is_self_contained_with_map_heatmap_and_tables(dtes, tmp_path):
    index = write_report(dtes, tmp_path / "report", title="Test report")
    assert index == tmp_path / "report" / "index.html"
    page = parse(index)
    assert {img["id"].split("-")[0] for img in page.images} == {"map", "heatmap"}
    for img in page.images:
        assert img["src"].startswith("data:image/png;base64,")
        inline = base64.b64decode(img["src"].split(",", 1)[1])
        assert inline.startswith(PNG_MAGIC)
        # the same picture is also written next to the page
        files = [
            p for p in index.parent.glob("*.png") if p.name.startswith(img["id"].split("-")[0])
        ]
        assert any(p.read_bytes() == inline for p in files)

    names = sorted(e.name for e in dtes)
    assert [h for h in page.headings[1:]] == names  # one section per data set, sorted
    nearest = [t for t in page.tables if t.get("data-kind") == "Nearest data sets"]
    assert sorted(t["data-dataset"] for t in nearest) == names
    for table in nearest:
        rows = table["rows"]
        assert len(rows) == len(dtes) - 1  # every other data set, not itself
        assert table["data-dataset"] not in [r[1] for r in rows]
        sims = [float(r[2]) for r in rows]
        assert sims == sorted(sims, reverse=True)
    # only data sets here: the model and prompt tables say so instead of being empty
    models = [t for t in page.tables if t.get("data-kind") == "Models"]
    assert all(t["rows"] == [["none in this space"]] for t in models)


@slow
def test_report_tables_match_ranking(dtes, tmp_path):
    from fute.ranking import rank

    page = parse(write_report(dtes, tmp_path))
    target = dtes[0]
    expected = [(r.embedding.name, f"{r.similarity:.3f}") for r in rank(target, dtes)]
    table = next(
        t
        for t in page.tables
        if t.get("data-dataset") == target.name and t.get("data-kind") == "Nearest data sets"
    )
    assert [(r[1], r[2]) for r in table["rows"]] == expected


@slow
def test_report_from_a_store_splits_spaces(dtes, tmp_path):
    store = Store(tmp_path / "s.sqlite")
    store.add_many(dtes)
    rng = np.random.default_rng(0)
    store.add_many(
        [TaskEmbedding(rng.normal(size=16), "other-space", "dataset", f"d{i}") for i in range(3)]
    )
    index = write_report(store, tmp_path / "r")
    html = index.read_text()
    assert html.count('<section class="space"') == 2
    assert re.search(r"Space <code>other-space</code>", html)
    assert len(list((tmp_path / "r").glob("*.png"))) == 4  # map + heat-map per space


def test_empty_input_is_a_one_line_error(tmp_path):
    with pytest.raises(FuteError, match="nothing to report"):
        write_report(Store(tmp_path / "empty.sqlite"), tmp_path / "r")
    with pytest.raises(FuteError, match="TaskEmbedding"):
        write_report(["not an embedding"], tmp_path / "r")


def test_a_large_space_gives_a_small_readable_page(tmp_path, monkeypatch):
    """1,500 stored embeddings: tables for the first data sets only, a heat-map of at most
    40 x 40, a sampled map that says so, a capped inventory, a page of bounded size; the
    tables equal the exact ranking of every stored row."""
    from fute.ranking import rank_stored
    from fute.report import page as report_page

    monkeypatch.setattr(report_page, "MAP_PER_KIND", 200)
    monkeypatch.setattr(report_page, "MAX_TARGETS", 30)
    monkeypatch.setattr(report_page, "INVENTORY_MAX", 300)
    rng = np.random.default_rng(0)
    kinds = ["dataset", "model", "model", "prompted-lm"]
    store = Store(tmp_path / "s.sqlite")
    store.add_many(
        [
            TaskEmbedding(rng.normal(size=64), "big-space", kinds[i % 4], f"e{i:04d}")
            for i in range(1500)
        ]
    )
    index = write_report(store, tmp_path / "r")
    html = index.read_text()
    page = parse(index)
    assert len(html.encode()) < 2_000_000
    rankings = [t for t in page.tables if t.get("data-kind")]
    assert len(rankings) == 3 * 30
    assert "345 more are not shown here" in html  # 375 data sets, 30 with tables
    assert "600 of the 1,500 embeddings, sampled at random" in html  # 200 of each kind
    (inventory,) = [t for t in page.tables if t.get("class") == "inventory"]
    assert len(inventory["rows"]) == 300 and "The first 300 of the 1500" in html
    from matplotlib.image import imread

    (heat,) = (tmp_path / "r").glob("heatmap-*.png")
    assert "20 data sets and their nearest embeddings (40 of the 1,500" in html
    assert imread(heat).shape[0] < 2600  # 40 rows at most: a picture a person can read
    first = sorted(e.name for e in store.list(kind="dataset"))[0]
    table = next(t for t in rankings if t["data-dataset"] == first and t["data-kind"] == "Models")
    want = rank_stored(store, store.get(first), kind="model", top=10)
    assert [(r[1], r[2]) for r in table["rows"]] == [
        (r.embedding.name, f"{r.similarity:.3f}") for r in want
    ]
