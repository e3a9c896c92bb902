"""The real `fute` command line, in a subprocess: store, rank, report, errors, --json.

Embeddings are computed by the real engine through `fute embed dataset` (mean-embedding,
which needs no training), so these tests run the whole path a user's commands take.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from reportdata import TEXTS

pytestmark = pytest.mark.slow  # each `fute embed` loads the real surrogate (~10-20 s)


def fute(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "COLUMNS": "200"}
    proc = subprocess.run(
        [sys.executable, "-m", "fute", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"fute {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """A store with the DTEs of the hand-written sets, made by `fute embed dataset` on CSV files."""
    folder = tmp_path_factory.mktemp("cli")
    path = folder / "store.sqlite"
    for name, (texts, labels) in list(TEXTS.items())[:3]:
        csv = folder / f"{name}.csv"
        lines = ["review,stars"] + [f'"{t}",{y}' for t, y in zip(texts, labels, strict=True)]
        csv.write_text("\n".join(lines) + "\n")
        out = fute(
            "embed",
            "dataset",
            str(csv),
            "--text",
            "review",
            "--label",
            "stars",
            "--method",
            "mean-embedding",
            "--name",
            name,
            "--store",
            str(path),
            "--json",
        )
        info = json.loads(out.stdout)
        assert info["name"] == name and info["kind"] == "dataset" and info["size"] == 384
    return path


def test_store_list_and_show(store):
    listed = json.loads(fute("store", "list", "--store", str(store), "--json").stdout)
    names = [r["name"] for r in listed["embeddings"]]
    assert names == list(TEXTS)[:3]
    assert all("/mean-embedding/" in r["space_key"] for r in listed["embeddings"])
    shown = json.loads(fute("store", "show", "topic-news", "--store", str(store), "--json").stdout)
    assert shown["vector"]["size"] == 384 and shown["meta"]["data"]["n"] == 8
    human = fute("store", "list", "--store", str(store)).stdout
    assert "topic-news" in human and "dataset" in human


def test_rank_matches_library_ranking(store):
    from fute.ranking import rank
    from fute.store import Store

    out = json.loads(
        fute(
            "rank",
            "sentiment-movies",
            "--kind",
            "dataset",
            "--top",
            "2",
            "--store",
            str(store),
            "--json",
        ).stdout
    )
    st = Store(store)
    expected = rank(st.get("sentiment-movies"), st.load(kind="dataset"), top=2)
    assert [r["name"] for r in out["results"]] == [r.embedding.name for r in expected]
    np.testing.assert_allclose(
        [r["similarity"] for r in out["results"]], [r.similarity for r in expected]
    )
    assert "sentiment-movies" not in [r["name"] for r in out["results"]]
    human = fute("rank", "sentiment-movies", "--store", str(store)).stdout
    assert expected[0].embedding.name in human


def test_rank_with_no_candidates_of_a_kind_is_a_one_line_error(store):
    proc = fute("rank", "sentiment-movies", "--kind", "prompt", "--store", str(store), check=False)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: ")
    assert "Traceback" not in proc.stderr


def test_report_command_writes_html(store, tmp_path):
    out = json.loads(
        fute("report", "--out", str(tmp_path / "rep"), "--store", str(store), "--json").stdout
    )
    index = Path(out["report"])
    assert index.is_file() and len(out["files"]) == 2
    assert "sentiment-products" in index.read_text()


def test_export_and_delete(store, tmp_path):
    copy = tmp_path / "copy.sqlite"
    copy.write_bytes(store.read_bytes())
    out = json.loads(
        fute("store", "export", str(tmp_path / "e.npz"), "--store", str(copy), "--json").stdout
    )
    assert out["embeddings"] == 3 and Path(out["path"]).is_file()
    deleted = json.loads(
        fute("store", "delete", "topic-news", "--store", str(copy), "--json").stdout
    )
    assert deleted["deleted"] == 1
    names = [
        r["name"]
        for r in json.loads(fute("store", "list", "--store", str(copy), "--json").stdout)[
            "embeddings"
        ]
    ]
    assert "topic-news" not in names and len(names) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["store", "show", "no-such-thing"], "no embedding 'no-such-thing'"),
        (["store", "delete", "no-such-thing"], "no embedding 'no-such-thing'"),
        (["rank", "no-such-thing"], "no embedding 'no-such-thing'"),
        (["embed", "dataset", "no-such-file.csv", "--method", "mean-embedding"], "no-such-file"),
        (["embed", "model", "vader", "--method", "mean-embedding"], "ignores labels"),
        (["embed", "model", "vader", "--prompt", "sentiment"], "not a language model"),
    ],
)
def test_user_errors_print_one_line(tmp_path, args, message):
    from fute.store import Store

    Store(tmp_path / "s.sqlite")  # an empty store: read commands refuse a missing one
    proc = fute(*args, "--store", str(tmp_path / "s.sqlite"), check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert message in proc.stderr


def test_corrupt_store_is_a_one_line_error(tmp_path):
    bad = tmp_path / "bad.sqlite"
    bad.write_text("this is not sqlite\n" * 100)
    for args in (["store", "list"], ["rank", "x"], ["report"]):
        proc = fute(*args, "--store", str(bad), check=False)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
        assert "not a fute store" in proc.stderr


def test_version():
    from fute import __version__

    assert fute("--version").stdout.strip() == f"fute {__version__}"
