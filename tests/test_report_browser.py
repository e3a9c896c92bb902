"""The report as a person sees it: rendered by headless Chromium, checked from DOM and pixels.

Needs Debian's `chromium`: `make test` installs it with apt-get when it runs as root (or with
sudo that asks no password); otherwise it says what to install and this test skips itself,
saying so too. The embeddings are real: a tiny fisher space with data sets, VADER and
prompted SmolLM2. The Makefile's `browser` step is tested here as well, with stand-ins for
`id`, `sudo` and `apt-get`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from fute.report import write_report
from reportdata import tiny_fisher_embeddings

ROOT = Path(__file__).resolve().parents[1]
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


@pytest.mark.slow
@pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed: sudo apt-get install chromium "
    "(make test installs it when run as root)",
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


# -- the Makefile's `browser` step -----------------------------------------------------------


def make_browser_step(tmp_path, uid: int, sudo_ok: bool = False, apt_ok: bool = True):
    """Run `make browser` for a browser that is not installed, as user `uid`; return the
    finished process and the commands that reached the stand-in `sudo` / `apt-get`."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    stand_ins = {
        "id": f"echo {uid}",
        "sudo": f'echo "sudo $*" >> {calls}; [ "$1" = -n ] && shift; '
        + ('[ "$1" = true ] && exit 0; exec "$@"' if sudo_ok else "exit 1"),
        "apt-get": f'echo "apt-get $*" >> {calls}; exit {0 if apt_ok else 100}',
    }
    for name, body in stand_ins.items():
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), "browser", "BROWSER=fute-no-browser"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    return done, calls.read_text().splitlines() if calls.exists() else []


def test_browser_step_without_root_says_what_to_install_and_passes(tmp_path):
    done, calls = make_browser_step(tmp_path, uid=1000)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and "sudo apt-get install fute-no-browser" in lines[0], lines
    assert "skipped" in lines[0]
    assert not [c for c in calls if c.startswith("apt-get")], calls  # nothing was attempted


def test_browser_step_as_root_installs_with_apt_get(tmp_path):
    done, calls = make_browser_step(tmp_path, uid=0)
    assert done.returncode == 0, done.stderr
    assert calls == ["apt-get update -qq", "apt-get install -y -qq fute-no-browser"]
    assert done.stdout.splitlines() == [
        "[test] installing Debian's fute-no-browser for the report's browser test"
    ]


def test_browser_step_uses_sudo_only_when_it_needs_no_password(tmp_path):
    done, calls = make_browser_step(tmp_path, uid=1000, sudo_ok=True)
    assert done.returncode == 0, done.stderr
    assert "apt-get install -y -qq fute-no-browser" in calls
    assert any(c.startswith("sudo -n ") and "apt-get install" in c for c in calls), calls


def test_browser_step_failing_apt_get_lets_the_other_tests_run(tmp_path):
    done, calls = make_browser_step(tmp_path, uid=0, apt_ok=False)
    assert done.returncode == 0, done.stderr
    assert calls == ["apt-get update -qq"]
    assert "could not install fute-no-browser" in done.stdout.splitlines()[-1]
