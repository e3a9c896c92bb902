"""The report as a person sees it: rendered by headless Chromium, checked from DOM and pixels.

Needs Debian's `chromium` (`make test` installs it); skipped with a reason where it is absent.
The embeddings are real: a tiny fisher space with data sets, VADER and prompted SmolLM2.
"""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest

from fute.report import write_report
from reportdata import tiny_fisher_embeddings

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


class Rendered(HTMLParser):
    """What the browser's DOM holds: images with their natural size, ranking tables and rows."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict] = []
        self.tables: list[dict] = []
        self.rows = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.images.append(a)
        elif tag == "table" and "ranking" in a.get("class", ""):
            self.tables.append(a)
        elif tag == "tr":
            self.rows += 1


def chromium(url: str, profile, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, url],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it)"
)
def test_report_renders_in_headless_chromium(tmp_path):
    embeddings = list(tiny_fisher_embeddings())
    kinds = {e.kind for e in embeddings}
    assert kinds == {"dataset", "model", "prompted-lm"}
    index = write_report(embeddings, tmp_path / "report")
    url = index.as_uri()

    dom = chromium(url, tmp_path / "profile-dom", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = Rendered()
    page.feed(dom.stdout)
    ids = {img.get("id", "").split("-")[0] for img in page.images}
    assert ids == {"map", "heatmap"}
    assert all(img["src"].startswith("data:image/png;base64,") for img in page.images)
    datasets = sorted(e.name for e in embeddings if e.kind == "dataset")
    assert sorted({t["data-dataset"] for t in page.tables}) == datasets
    assert {t["data-kind"] for t in page.tables} == {"Models", "LLM + prompt", "Nearest data sets"}
    assert "vader" in dom.stdout and "smollm2/" in dom.stdout

    shot = tmp_path / "report" / "screenshot.png"
    run = chromium(
        url, tmp_path / "profile-shot", "--window-size=1280,1800", f"--screenshot={shot}"
    )
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    from matplotlib.image import imread

    pixels = imread(shot)[..., :3]
    assert pixels.shape[0] >= 1000 and pixels.shape[1] >= 1200
    # not blank: the map's coloured markers and dark text cover a real share of the page
    assert pixels.std() > 0.1
    saturated = (pixels.max(axis=2) - pixels.min(axis=2)) > 0.3
    assert saturated.mean() > 0.01, "no coloured pixels: the images did not render"
    # the map image has the three kind colours (Okabe-Ito blue, orange, green)
    for colour in ((0x00, 0x72, 0xB2), (0xE6, 0x9F, 0x00), (0x00, 0x9E, 0x73)):
        close = np.abs(pixels - np.array(colour) / 255.0).max(axis=2) < 0.08
        assert close.sum() > 20, f"colour {colour} missing from the screenshot"
