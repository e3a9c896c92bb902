"""Issue 26: bad input as a user types it, through the CLI, with real files and a real store.

Each case checks the one-line error (exit 2, no traceback) and the store's rows before and
after: nothing stored is lost, changed or reached by a name that means another row.
"""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import unicodedata
from contextlib import closing
from pathlib import Path

import pandas as pd
import pytest

from httpserver import http_server

CSV_ROWS = [
    ("a good film, I loved it", "positive"),
    ("dull and far too long", "negative"),
    ("great acting and a fine story", "positive"),
    ("I want my money back", "negative"),
    ("warm, funny and clever", "positive"),
    ("the worst evening this year", "negative"),
]
FAST = ("--method", "mean-embedding")  # no training: these tests are about names and files


def run_fute(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "fute", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )


def one_error_line(run) -> str:
    assert run.returncode == 2, (run.returncode, run.stdout, run.stderr)
    assert "Traceback" not in run.stdout + run.stderr
    lines = [x for x in run.stderr.strip().splitlines() if not x.startswith("warning: ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    return lines[0]


def ok(run):
    assert run.returncode == 0, (run.returncode, run.stdout, run.stderr)
    return run


def rows(store: Path) -> list[tuple]:
    """Every row of the store as stored: (id, kind, name, space_key, checksum)."""
    with closing(sqlite3.connect(store)) as con:
        return con.execute(
            "SELECT id, kind, name, space_key, checksum FROM embeddings ORDER BY id"
        ).fetchall()


def rename(store: Path, row_id: int, name: str) -> None:
    with closing(sqlite3.connect(store)) as con, con:
        con.execute("UPDATE embeddings SET name = ? WHERE id = ?", (name, row_id))


def write_csv(path: Path, data=CSV_ROWS, **extra) -> Path:
    frame = pd.DataFrame(data, columns=["text", "label"])
    for key, values in extra.items():
        frame[key] = values
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A store holding two data sets, good (id 1) and other (id 2), made once."""
    folder = tmp_path_factory.mktemp("template")
    path = folder / "s.sqlite"
    for name in ("good", "other"):
        csv = write_csv(folder / f"{name}.csv")
        ok(run_fute("embed", "dataset", csv, *FAST, "--name", name, "--store", path))
    assert [(r[0], r[2]) for r in rows(path)] == [(1, "good"), (2, "other")]
    return path


@pytest.fixture
def store(template, tmp_path) -> Path:
    """A copy of the template store (and its CSV files) for one test."""
    for f in template.parent.iterdir():
        if f.suffix in (".sqlite", ".csv"):
            shutil.copy(f, tmp_path / f.name)
    return tmp_path / "s.sqlite"


# --- 1. names are not ids -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["#1", "#2", " #12 "])
def test_a_name_that_reads_like_an_id_is_refused_before_any_work(store, tmp_path, name):
    before = rows(store)
    run = run_fute(
        "embed", "dataset", tmp_path / "good.csv", *FAST, "--name", name, "--store", store
    )
    assert "looks like a store id" in one_error_line(run)
    assert rows(store) == before


def test_ids_and_names_are_told_apart(store):
    assert "(dataset, #2)" in ok(run_fute("store", "show", "#2", "--store", store)).stdout
    assert "(dataset, #2)" in ok(run_fute("store", "show", "--id", "2", "--store", store)).stdout
    shown = ok(run_fute("store", "show", "--name", "other", "--store", store)).stdout
    assert shown.startswith("other")
    one = one_error_line(run_fute("store", "show", "#1", "--id", "1", "--store", store))
    assert "exactly one" in one
    before = rows(store)
    ok(run_fute("store", "delete", "--id", "2", "--store", store))
    assert rows(store) == before[:1]


def test_a_row_stored_under_an_id_like_name_stays_reachable_and_never_hits_another(store):
    rename(store, 2, "#1")  # as an older fute allowed
    before = rows(store)
    # '#1' is the id of 'good' and the name of row 2: refused, naming both, nothing deleted
    line = one_error_line(run_fute("store", "delete", "#1", "--store", store))
    assert "ambiguous" in line and "--id 1" in line and "--name '#1'" in line
    line = one_error_line(run_fute("store", "show", "#1", "--store", store))
    assert "ambiguous" in line
    assert rows(store) == before
    # each is still reachable, unambiguously
    assert ok(run_fute("store", "show", "--name", "#1", "--store", store)).stdout.startswith("#1")
    assert ok(run_fute("store", "show", "--id", "1", "--store", store)).stdout.startswith("good")
    ok(run_fute("store", "delete", "--name", "#1", "--store", store))
    assert rows(store) == before[:1]  # only the row named '#1' went
    # with no row named '#1' left, '#1' is the id again
    assert ok(run_fute("store", "show", "#1", "--store", store)).stdout.startswith("good")


def test_a_name_that_reads_like_a_missing_id_is_found_by_name(store):
    rename(store, 2, "#7")
    assert ok(run_fute("store", "show", "#7", "--store", store)).stdout.startswith("#7")


# --- 2-4. columns and label cells -----------------------------------------------------------


def test_the_label_column_cannot_be_the_text(store, tmp_path):
    before = rows(store)
    run = run_fute(
        "embed",
        "dataset",
        tmp_path / "good.csv",
        *FAST,
        "--text",
        "label",
        "--label",
        "label",
        "--store",
        store,
    )
    assert "both the text and the label" in one_error_line(run)
    write_csv(tmp_path / "pairs.csv", hypothesis=[t for t, _ in CSV_ROWS])
    run = run_fute(
        "embed",
        "dataset",
        tmp_path / "pairs.csv",
        *FAST,
        "--pair",
        "label",
        "--label",
        "label",
        "--store",
        store,
    )
    assert "both the text pair and the label" in one_error_line(run)
    assert rows(store) == before


@pytest.mark.parametrize(("cell", "word"), [(["negative"], "array"), ({"a": "negative"}, "object")])
def test_label_cells_must_be_scalars(store, tmp_path, cell, word):
    lines = [{"text": t, "label": y} for t, y in CSV_ROWS]
    lines[3]["label"] = cell
    path = tmp_path / "cells.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    before = rows(store)
    line = one_error_line(run_fute("embed", "dataset", path, *FAST, "--store", store))
    assert "row 3" in line and f"is a {word}" in line
    assert rows(store) == before


def test_composed_and_decomposed_labels_are_one_class(tmp_path):
    nfc, nfd = unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")
    assert nfc != nfd
    texts = [f"the {w} on the corner {i}" for i, w in enumerate(["bar", "shop"] * 4)]
    labels = [nfc, "bar", nfd, "bar", nfc, "bar", nfd, "bar"]
    path = tmp_path / "cafe.csv"
    pd.DataFrame({"text": texts, "label": labels}).to_csv(path, index=False)
    store = tmp_path / "s.sqlite"
    ok(run_fute("embed", "dataset", path, *FAST, "--store", store))
    shown = json.loads(ok(run_fute("store", "show", "cafe", "--json", "--store", store)).stdout)
    assert shown["meta"]["data"]["labels"] == ["bar", nfc]
    from fute.data import load_data

    assert load_data(path).texts == texts  # texts are not changed


# --- 5. honest warnings -------------------------------------------------------------------------


def test_long_texts_do_not_print_transformers_false_length_warning(tmp_path):
    """Without the fix this printed transformers' line once (checked 2026-12-06)."""
    long_rows = [(("word " * 3000) + t, y) for t, y in CSV_ROWS]
    path = write_csv(tmp_path / "long.csv", long_rows)
    run = ok(run_fute("embed", "dataset", path, *FAST, "--store", tmp_path / "s.sqlite"))
    assert "Token indices sequence length" not in run.stderr + run.stdout
    assert "indexing errors" not in run.stderr


# --- 6. a full disk -----------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 96 KiB tmpfs (needs root, as on the CI machine); unmounted afterwards."""
    folder = tmp_path / "small"
    folder.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(folder)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {made.stderr.decode().strip()}")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


def _fill(folder: Path, leave: int) -> None:
    free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
    (folder / "fill").write_bytes(b"\0" * max(0, free - leave))


@pytest.mark.parametrize("leave", [8 << 10, 16 << 10, 40 << 10])
def test_opening_a_store_on_a_full_disk_says_the_disk_is_full(small_disk, tmp_path, leave):
    _fill(small_disk, leave)
    target = small_disk / "s.sqlite"
    line = one_error_line(
        run_fute("embed", "dataset", write_csv(tmp_path / "g.csv"), *FAST, "--store", target)
    )
    assert "is full" in line and "disk I/O error" not in line
    assert sorted(p.name for p in small_disk.iterdir()) == ["fill"]  # no half-made store


def test_a_full_disk_leaves_an_existing_store_intact(small_disk, store, tmp_path):
    target = small_disk / "s.sqlite"
    target.write_bytes(store.read_bytes())
    before = rows(target)
    _fill(small_disk, 4 << 10)
    run = run_fute(
        "embed",
        "dataset",
        write_csv(tmp_path / "third.csv"),
        *FAST,
        "--name",
        "third",
        "--store",
        target,
    )
    line = one_error_line(run)
    assert "is full" in line  # at open (before any work) or at the write, as space ran out
    if "was kept in " in line:  # at the write: the computed embedding is not lost either
        kept = Path(line.split("was kept in ")[1].split(": fix the cause")[0])
        assert kept.is_file() and "fute store import" in line
        kept.unlink()
    (small_disk / "fill").unlink()
    assert rows(target) == before


# --- 7-8. empty names, model files, option words ------------------------------------------------


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("embed", "dataset", ""), "empty"),
        (("embed", "dataset", "   "), "empty"),
        (("embed", "model", ""), "empty"),
        (("store", "show", ""), "empty"),
        (("store", "delete", ""), "empty"),
        (("rank", ""), "empty"),
        (("embed", "dataset", "good.csv", "--name", ""), "cannot be empty"),
    ],
)
def test_empty_names_are_one_line(store, tmp_path, args, words):
    before = rows(store)
    run = subprocess.run(
        [sys.executable, "-m", "fute", *args, "--store", str(store)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    line = one_error_line(run)
    assert words in line and "Hugging Face" not in line
    assert rows(store) == before


def test_a_text_file_named_joblib_is_not_a_joblib_file(tmp_path):
    path = tmp_path / "garbage.joblib"
    path.write_text("garbage\n")
    line = one_error_line(run_fute("embed", "model", path, "--store", tmp_path / "s.sqlite"))
    assert "not a joblib/pickle file" in line and "110" not in line


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("rank", "good", "--kind", "modle"), "--kind"),
        (("rank", "good", "--target-kind", "modle"), "--target-kind"),
        (("store", "list", "--kind", "modle"), "--kind"),
    ],
)
def test_an_unknown_kind_names_the_option(store, args, option):
    line = one_error_line(run_fute(*args, "--store", store))
    assert f"{option} must be one of dataset, model, prompt" in line


# --- 9. the checks that needed the pool -----------------------------------------------------

SMALL = ("--max-examples", "16", "--fisher-examples", "8")


def answer_files() -> dict[str, int]:
    from fute.core.paths import cache_subdir

    return {p.name: p.stat().st_size for p in cache_subdir("answers").glob("*")}


@pytest.mark.slow
def test_pool_size_does_not_split_spaces(tmp_path):
    store = tmp_path / "s.sqlite"
    for size in (12, 20):
        ok(
            run_fute(
                "embed",
                "model",
                "vader",
                "--pool-size",
                size,
                "--name",
                f"vader-{size}",
                *SMALL,
                "--store",
                store,
            )
        )
    (a, b) = rows(store)
    assert a[3] == b[3]  # one space key
    ranked = json.loads(ok(run_fute("rank", "vader-12", "--json", "--store", store)).stdout)
    assert [r["name"] for r in ranked["results"]] == ["vader-20"]


@pytest.mark.parametrize(
    ("body", "words"), [(b"<html>Welcome to nginx!</html>", "not JSON"), (None, "answered nothing")]
)
def test_a_failed_openai_run_is_one_line_and_leaves_no_empty_cache_files(tmp_path, body, words):
    store = tmp_path / "s.sqlite"
    before = answer_files()
    with http_server() as server:
        for path in ("v1/models", "v1/completions"):
            server.put(path, body or b"", "hang" if body is None else "ok")
        run = run_fute(
            "embed",
            "model",
            f"openai:{server.url}/v1#m",
            "--prompt",
            "sent-tone",
            "--pool-size",
            "8",
            *SMALL,
            "--store",
            store,
            env={
                "FUTE_OPENAI_FIRST_TIMEOUT": "1",
                "FUTE_OPENAI_TIMEOUT": "1",
                "FUTE_OPENAI_RETRIES": "0",
            },
        )
    assert words in one_error_line(run)
    after = answer_files()
    new = {name: size for name, size in after.items() if name not in before}
    assert all(size > 0 for size in new.values()), new
    assert not store.exists() or rows(store) == []


PROMPTED = "smollm2-135m-instruct+my-verdict"  # an LLM x prompt MTE is named model+prompt


@pytest.mark.slow
def test_the_store_keeps_the_prompt_text_after_the_file_changes(tmp_path):
    prompt = {
        "id": "my-verdict",
        "task": "sentiment",
        "template": "Text: {{ text }}\nVerdict:",
        "verbalizer": {"negative": ["bad"], "positive": ["good"]},
    }
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(prompt))
    store = tmp_path / "s.sqlite"
    ok(
        run_fute(
            "embed",
            "model",
            "lm:smollm2",
            "--prompt",
            path,
            "--pool-size",
            "8",
            *SMALL,
            "--store",
            store,
        )
    )
    path.write_text(json.dumps({**prompt, "template": "Changed: {{ text }}\nIt was"}))
    shown = json.loads(ok(run_fute("store", "show", PROMPTED, "--json", "--store", store)).stdout)
    assert shown["meta"]["prompt"]["template"] == "Text: {{ text }}\nVerdict:"
    text = ok(run_fute("store", "show", PROMPTED, "--store", store)).stdout
    assert "Text: {{ text }}" in text and "Changed" not in text


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("data", "prepare", ""), "name is empty"),
        (("data", "show", ""), "is empty"),
        (("prompts", "show", ""), "prompt is empty"),
        (("embed", "model", "lm:smollm2", "--prompt", ""), "prompt is empty"),
    ],
)
def test_empty_names_outside_the_store_are_one_line(args, words):
    assert words in one_error_line(run_fute(*args))
