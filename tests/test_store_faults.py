"""The store under faults: read-only files, typos in --store, damaged rows, broken files,
a full disk, replaced rows and outputs that cannot be written.

Each fault is made for real: a read-only bind mount or permissions, bytes overwritten in the
SQLite file, a tiny tmpfs or SQLite's own page limit for the full disk. The commands run
through `fute.cli.main`, as a user's would; user errors must be one `error:` line, exit 2.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import zlib

import numpy as np
import pytest

from fute.cli import main
from fute.core.embedding import TaskEmbedding
from fute.core.errors import StoreError
from fute.store import Store, StoreWarning, checksum, encode_vector
from readonly import read_only_folder

SPACE = "minilm@abc/fisher/123/seed0"


def emb(name: str, seed: int = 0, dim: int = 64, kind: str = "dataset", **meta) -> TaskEmbedding:
    v = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    return TaskEmbedding(v, SPACE, kind, name, dict(meta))


def make_store(path, names=("a", "b", "c"), dim: int = 64) -> Store:
    store = Store(path, notify=lambda m: None)
    store.add_many([emb(n, seed=i, dim=dim) for i, n in enumerate(names)])
    return store


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run `fute ARGS` in this process; return (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as info:
        main(list(args))
    captured = capsys.readouterr()
    return info.value.code, captured.out, captured.err


def assert_one_line_error(code: int, stderr: str, *words: str) -> None:
    assert code == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    for w in words:
        assert w in lines[0], (w, lines[0])


def warnings_of(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning: ")]


# vectors live in their own table (schema 3), keyed by the row id of their embedding
VECTOR_OF = "{} WHERE id = (SELECT id FROM embeddings WHERE name = ?)"


def set_blob(path, name: str, blob: bytes, check: str | None) -> None:
    con = sqlite3.connect(path)
    if "checksum" in {r[1] for r in con.execute("PRAGMA table_info(embeddings)")}:
        con.execute("UPDATE embeddings SET checksum = ? WHERE name = ?", (check, name))
    con.execute(VECTOR_OF.format("UPDATE vectors SET vector = ?"), (blob, name))
    con.commit()
    con.close()


def get_blob(path, name: str) -> bytes:
    con = sqlite3.connect(path)
    (blob,) = con.execute(VECTOR_OF.format("SELECT vector FROM vectors"), (name,)).fetchone()
    con.close()
    return blob


def flip_a_byte(path, name: str) -> None:
    blob = bytearray(get_blob(path, name))
    blob[len(blob) // 2] ^= 0x5A
    con = sqlite3.connect(path)  # the checksum stays: what a bad disk sector would do
    con.execute(VECTOR_OF.format("UPDATE vectors SET vector = ?"), (bytes(blob), name))
    con.commit()
    con.close()


# -- read commands open read-only ------------------------------------------------------


@pytest.fixture
def readonly_store(tmp_path, monkeypatch):
    """A store in a folder nobody can write to: a read-only bind mount as root, else chmod.
    (`rank` keeps its vector index in the cache then: a cache of the test's own.)"""
    monkeypatch.setenv("FUTE_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "src"
    src.mkdir()
    make_store(src / "s.sqlite")
    with read_only_folder(src) as folder:
        yield folder / "s.sqlite"


def test_read_only_store_can_be_listed_shown_ranked_and_exported(readonly_store, tmp_path, capsys):
    assert not os.access(readonly_store.parent, os.W_OK)
    code, out, err = cli(capsys, "store", "list", "--store", str(readonly_store), "--json")
    assert code == 0, err
    assert [r["name"] for r in json.loads(out)["embeddings"]] == ["a", "b", "c"]
    code, out, err = cli(capsys, "store", "show", "b", "--store", str(readonly_store), "--json")
    assert code == 0 and json.loads(out)["vector"]["size"] == 64, err
    code, out, err = cli(capsys, "rank", "a", "--store", str(readonly_store), "--json")
    assert code == 0, err
    assert {r["name"] for r in json.loads(out)["results"]} == {"b", "c"}
    dest = tmp_path / "out.npz"
    code, out, err = cli(capsys, "store", "export", str(dest), "--store", str(readonly_store))
    assert code == 0 and dest.is_file(), err
    # writing is refused with one line, and the store is unchanged
    code, out, err = cli(capsys, "store", "delete", "a", "--store", str(readonly_store))
    assert_one_line_error(code, err, "read-only")
    assert len(Store(readonly_store, readonly=True)) == 3


def test_read_commands_do_not_write_to_the_store_file(tmp_path, capsys):
    """No schema script, no switch to WAL: a store kept in rollback-journal mode stays so."""
    path = tmp_path / "s.sqlite"
    make_store(path)
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode = DELETE").fetchone()[0] == "delete"
    con.close()
    before = path.read_bytes()
    for args in (["store", "list"], ["store", "show", "a"], ["rank", "a"]):
        code, _, err = cli(capsys, *args, "--store", str(path))
        assert code == 0, err
    assert path.read_bytes() == before
    # only the vector index of `rank` appears beside it, a derived file (fute.store.vector_index)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.sqlite", "s.sqlite.index"]


@pytest.mark.parametrize(
    "args",
    [
        ["store", "list"],
        ["store", "show", "a"],
        ["store", "export", "{tmp}/out.npz"],
        ["store", "delete", "a"],
        ["rank", "a"],
        ["report", "--out", "{tmp}/report"],
    ],
)
def test_commands_refuse_a_store_that_does_not_exist(tmp_path, capsys, args):
    typo = tmp_path / "stroe.sqlite"
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    code, _, err = cli(capsys, *args, "--store", str(typo))
    assert_one_line_error(code, err, f"no store at {typo}")
    assert list(tmp_path.iterdir()) == []  # nothing created: no store, no export, no report


def test_a_store_without_checksums_is_read_and_migrated_on_write(tmp_path):
    """A store written before checksums (schema 1) reads as before; a write adds the column."""
    path = tmp_path / "old.sqlite"
    con = sqlite3.connect(path)
    con.executescript(
        "CREATE TABLE embeddings (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL,"
        " name TEXT NOT NULL, space_key TEXT NOT NULL, dtype TEXT NOT NULL, shape TEXT NOT NULL,"
        " dim INTEGER NOT NULL, vector BLOB NOT NULL, meta TEXT NOT NULL, created REAL NOT NULL,"
        " UNIQUE (kind, name, space_key));"
        "CREATE TABLE store_info (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO store_info VALUES ('schema_version', '1');"
    )
    old = emb("old", seed=3)
    blob, dtype, shape = encode_vector(old.vector)
    con.execute(
        "INSERT INTO embeddings (kind, name, space_key, dtype, shape, dim, vector, meta, created)"
        " VALUES ('dataset', 'old', ?, ?, ?, 64, ?, '{}', 0)",
        (SPACE, dtype, shape, blob),
    )
    con.commit()
    con.close()
    np.testing.assert_array_equal(Store(path, readonly=True).get("old").vector, old.vector)
    store = Store(path)
    store.add(emb("new", seed=4))
    np.testing.assert_array_equal(store.get("old").vector, old.vector)
    con = sqlite3.connect(path)
    rows = dict(con.execute("SELECT name, checksum FROM embeddings").fetchall())
    assert rows["old"] is None and rows["new"] == checksum(get_blob(path, "new"))


# -- damaged rows and broken files -----------------------------------------------------


def nan_blob() -> bytes:
    return b"r" + np.full(64, np.nan, dtype="<f4").tobytes()


def broken_zlib_blob() -> bytes:
    good = zlib.compress(np.zeros(64, dtype="<f4").tobytes())
    return b"z" + good[:6] + b"\x00garbage" + good[14:]


@pytest.mark.parametrize(
    "damage, why",
    [
        (lambda p: flip_a_byte(p, "b"), "checksum"),
        (lambda p: set_blob(p, "b", nan_blob(), None), "NaN"),  # a row without a checksum
        (lambda p: set_blob(p, "b", broken_zlib_blob(), None), "cannot decode"),
    ],
    ids=["flipped-byte", "nan-bytes", "broken-zlib"],
)
def test_a_damaged_row_is_named_and_the_others_stay_usable(tmp_path, capsys, damage, why):
    path = tmp_path / "s.sqlite"
    make_store(path)
    damage(path)
    code, _, err = cli(capsys, "store", "show", "b", "--store", str(path))
    assert_one_line_error(code, err, "'b'", "damaged", why, "fute store delete")
    code, out, err = cli(capsys, "rank", "a", "--store", str(path), "--json")
    assert code == 0, err
    assert [r["name"] for r in json.loads(out)["results"]] == ["c"]
    (warning,) = warnings_of(err)
    assert "'b'" in warning and why in warning
    dest = tmp_path / "out.npz"
    code, out, err = cli(capsys, "store", "export", str(dest), "--store", str(path), "--json")
    assert code == 0 and json.loads(out)["embeddings"] == 2, err
    assert len(warnings_of(err)) == 1
    index = json.loads(str(np.load(dest)["index"]))
    assert sorted(r["name"] for r in index["records"]) == ["a", "c"]
    code, out, err = cli(capsys, "store", "list", "--store", str(path), "--json")
    assert code == 0 and len(json.loads(out)["embeddings"]) == 3  # listing reads no vectors


# The table's root page (page 2) overwritten: with noise, or with what an empty page looks
# like (then SQLite itself sees no error, and a plain listing shows an empty store).
NOISE = b"\xff" * 4096
EMPTY_LEAF = b"\x0d\x00\x00\x00\x00\x10\x00\x00" + bytes(4096 - 8)


@pytest.mark.parametrize("page", [NOISE, EMPTY_LEAF], ids=["noise", "empty-leaf"])
@pytest.mark.parametrize(
    "args",
    [["store", "list"], ["store", "list", "--json"], ["store", "export", "{tmp}/x.npz"]],
)
def test_a_malformed_store_file_is_one_error(tmp_path, capsys, args, page):
    path = tmp_path / "s.sqlite"
    make_store(path)
    data = bytearray(path.read_bytes())
    data[4096:8192] = page
    path.write_bytes(bytes(data))
    before = path.read_bytes()
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    code, out, err = cli(capsys, *args, "--store", str(path))
    assert_one_line_error(code, err, str(path), "is damaged", "malformed")
    assert out == "" and path.read_bytes() == before
    assert not (tmp_path / "x.npz").exists()


def test_an_empty_file_is_not_taken_for_an_empty_store(tmp_path, capsys):
    path = tmp_path / "s.sqlite"
    path.write_bytes(b"")
    code, _, err = cli(capsys, "store", "list", "--store", str(path))
    assert_one_line_error(code, err, "not a fute store")
    assert path.read_bytes() == b""


# -- a full disk -----------------------------------------------------------------------


def limit_pages(monkeypatch, pages: int) -> None:
    """Make every writing connection stop at `pages` pages: SQLite's own 'disk is full'."""
    configure = Store._configure

    def limited(self, con):
        configure(self, con)
        con.execute(f"PRAGMA max_page_count = {pages}")

    monkeypatch.setattr(Store, "_configure", limited)


def test_disk_full_is_one_error_and_keeps_the_embedding(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FUTE_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "s.sqlite"
    make_store(path)
    pages = sqlite3.connect(path).execute("PRAGMA page_count").fetchone()[0]
    limit_pages(monkeypatch, pages + 2)
    big = emb("big", seed=9, dim=50_000)  # 200 kB of noise: ~50 more pages
    with pytest.raises(StoreError) as info:
        Store(path).add(big)
    message = str(info.value)
    assert "\n" not in message and "full" in message and "fute store import" in message
    (kept,) = (tmp_path / "cache" / "pending").glob("*.npz")
    assert str(kept) in message
    assert [r.name for r in Store(path, readonly=True).list()] == ["a", "b", "c"]
    # space again: the command in the message stores it, and the kept file goes away
    monkeypatch.undo()
    monkeypatch.setenv("FUTE_CACHE", str(tmp_path / "cache"))
    code, out, err = cli(capsys, "store", "import", str(kept), "--store", str(path))
    assert code == 0, err
    np.testing.assert_array_equal(Store(path).get("big").vector, big.vector)
    assert not kept.exists()


def test_import_into_a_full_store_is_one_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FUTE_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "s.sqlite"
    make_store(path)
    dump = tmp_path / "dump.npz"
    src = tmp_path / "src.sqlite"
    Store(src).add(emb("big", seed=9, dim=50_000))
    Store(src).export(dump)
    pages = sqlite3.connect(path).execute("PRAGMA page_count").fetchone()[0]
    limit_pages(monkeypatch, pages + 2)
    code, _, err = cli(capsys, "store", "import", str(dump), "--store", str(path))
    assert_one_line_error(code, err, "full")
    assert dump.is_file() and len(Store(path, readonly=True)) == 3


@pytest.mark.slow  # loads the real surrogate to embed a small CSV file
def test_embed_on_a_full_disk_is_one_line_and_the_result_can_be_stored_later(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("FUTE_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "s.sqlite"
    make_store(path, dim=900)  # rows of 3.6 kB: every page is nearly full
    csv = tmp_path / "reviews.csv"
    rows = [f'"review {i}: {"great fun" if i % 2 else "dull and slow"}",{i % 2}' for i in range(40)]
    csv.write_text("text,label\n" + "\n".join(rows) + "\n")
    pages = sqlite3.connect(path).execute("PRAGMA page_count").fetchone()[0]
    limit_pages(monkeypatch, pages)  # not one page more: the new row of 384 floats needs one
    args = ["embed", "dataset", str(csv), "--method", "mean-embedding", "--store", str(path)]
    code, _, err = cli(capsys, *args)
    assert_one_line_error(code, err, "full", "fute store import")
    (kept,) = (tmp_path / "cache" / "pending").glob("*.npz")
    assert len(Store(path, readonly=True)) == 3
    monkeypatch.undo()
    monkeypatch.setenv("FUTE_CACHE", str(tmp_path / "cache"))
    command = err.split("run `")[1].split("`")[0].split()
    assert command[:3] == ["fute", "store", "import"]
    code, out, err = cli(capsys, *command[1:])
    assert code == 0, err
    assert Store(path).get("reviews").vector.shape == (384,)
    assert not kept.exists()


@pytest.fixture
def tiny_disk(tmp_path):
    """A 320 kB tmpfs (root only): the real 'No space left on device'."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tiny tmpfs needs root; the page-limit test covers the rest")
    where = tmp_path / "tiny"
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=320k", "tmpfs", str(where)], check=False
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)


def test_a_really_full_disk_keeps_the_store_and_the_result(tiny_disk, tmp_path, monkeypatch):
    monkeypatch.setenv("FUTE_CACHE", str(tmp_path / "cache"))
    path = tiny_disk / "s.sqlite"
    make_store(path)
    big = emb("big", seed=9, dim=200_000)  # 800 kB of noise on a 320 kB disk
    with pytest.raises(StoreError) as info:
        Store(path).add(big)
    assert "\n" not in str(info.value) and "fute store import" in str(info.value)
    assert [r.name for r in Store(path).list()] == ["a", "b", "c"]
    np.testing.assert_array_equal(Store(path).get("a").vector, emb("a", seed=0).vector)
    (kept,) = (tmp_path / "cache" / "pending").glob("*.npz")
    Store(tmp_path / "elsewhere.sqlite").import_file(kept)
    np.testing.assert_array_equal(
        Store(tmp_path / "elsewhere.sqlite").get("big").vector, big.vector
    )


# -- replacing a row -------------------------------------------------------------------


def test_replacing_says_what_differed_and_keeps_the_id(tmp_path):
    notes: list[str] = []
    store = Store(tmp_path / "s.sqlite", notify=notes.append)
    first = store.add(emb("x", seed=1, data={"content_sha256": "1" * 64, "n": 800}))
    store.add(emb("y", seed=2))
    again = store.add(emb("x", seed=3, data={"content_sha256": "2" * 64, "n": 64}))
    assert again == first and store.get("x").meta["store_id"] == first
    (note,) = notes
    assert "replaced" in note and "'x'" in note and f"#{first}" in note
    assert "n 800 -> 64" in note and "data hash 111111111111 -> 222222222222" in note
    assert "vector changed" in note
    np.testing.assert_array_equal(store.get("x").vector, emb("x", seed=3).vector)
    assert [r.id for r in store.list()] == sorted([first, store.get("y").meta["store_id"]])


def test_storing_the_same_name_twice_warns_on_the_command_line(tmp_path, capsys):
    src = tmp_path / "src.sqlite"
    Store(src).add(emb("x", seed=1, data={"n": 10}))
    one = Store(src).export(tmp_path / "one.npz")
    with pytest.warns(StoreWarning, match="n 10 -> 20"):  # the library's default notice
        Store(src).add(emb("x", seed=2, data={"n": 20}))
    two = Store(src).export(tmp_path / "two.npz")
    path = tmp_path / "s.sqlite"
    code, out, err = cli(capsys, "store", "import", str(one), "--store", str(path), "--json")
    assert code == 0 and not warnings_of(err)
    ids = json.loads(out)["imported"][0]["ids"]
    code, out, err = cli(capsys, "store", "import", str(two), "--store", str(path), "--json")
    assert code == 0 and json.loads(out)["imported"][0]["ids"] == ids
    (warning,) = warnings_of(err)
    assert "replaced" in warning and "n 10 -> 20" in warning


# -- outputs that cannot be written ----------------------------------------------------


def test_export_refuses_an_existing_file_unless_forced(tmp_path, capsys):
    path = tmp_path / "s.sqlite"
    make_store(path)
    dest = tmp_path / "mine.npz"
    dest.write_bytes(b"precious")
    code, _, err = cli(capsys, "store", "export", str(dest), "--store", str(path))
    assert_one_line_error(code, err, "already exists", "--force")
    assert dest.read_bytes() == b"precious"
    code, _, err = cli(capsys, "store", "export", str(dest), "--store", str(path), "--force")
    assert code == 0, err
    assert len(json.loads(str(np.load(dest)["index"]))["records"]) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.npz", "s.sqlite"]


@pytest.mark.parametrize("fmt", ["npz", "parquet"])
def test_export_into_an_unwritable_place_is_one_error(tmp_path, capsys, fmt):
    path = tmp_path / "s.sqlite"
    make_store(path)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, _, err = cli(capsys, "store", "export", str(blocker / f"out.{fmt}"), "--store", str(path))
    assert_one_line_error(code, err, "cannot write")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "s.sqlite"]


def test_export_into_a_read_only_folder_leaves_nothing(readonly_store, tmp_path, capsys):
    dest = readonly_store.parent / "out.npz"
    code, _, err = cli(capsys, "store", "export", str(dest), "--store", str(readonly_store))
    assert_one_line_error(code, err, "cannot write", str(dest))
    assert sorted(p.name for p in readonly_store.parent.iterdir()) == ["s.sqlite"]


def test_report_out_onto_a_file_or_an_unwritable_place_is_one_error(tmp_path, capsys):
    path = tmp_path / "s.sqlite"
    make_store(path)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, _, err = cli(capsys, "report", "--out", str(blocker), "--store", str(path))
    assert_one_line_error(code, err, "is a file")
    code, _, err = cli(capsys, "report", "--out", str(blocker / "r"), "--store", str(path))
    assert_one_line_error(code, err, "cannot write the report")
    assert blocker.read_text() == "not a folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "s.sqlite"]


def test_report_refuses_to_replace_a_report_unless_forced(tmp_path, capsys):
    path = tmp_path / "s.sqlite"
    make_store(path)
    folder = tmp_path / "report"
    code, _, err = cli(capsys, "report", "--out", str(folder), "--store", str(path))
    assert code == 0, err
    first = (folder / "index.html").read_bytes()
    code, _, err = cli(capsys, "report", "--out", str(folder), "--store", str(path))
    assert_one_line_error(code, err, "already holds a report", "--force")
    assert (folder / "index.html").read_bytes() == first
    code, _, err = cli(capsys, "report", "--out", str(folder), "--store", str(path), "--force")
    assert code == 0, err
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no staging left


# -- the prompt a stored MTE was made with ---------------------------------------------


@pytest.mark.slow  # the real SmolLM2 answers a pool of 8 inputs, then a Fisher pass
def test_the_store_keeps_the_prompt_text_after_the_file_changed(tmp_path, capsys):
    from fute.models import PromptedLM, default_lm
    from fute.models.prompts import load_prompt
    from fute.space import Space

    prompt_file = tmp_path / "mine.json"
    prompt = {
        "id": "mine-1",
        "task": "sentiment",
        "template": "Review: {{ text }}\nThe review is",
        "verbalizer": {"negative": ["bad"], "positive": ["good", "great"]},
    }
    prompt_file.write_text(json.dumps(prompt))
    space = Space(method="fisher", pool_size=8, progress=False, max_steps=1, max_length=16)
    e = space.model_embedding(PromptedLM(default_lm(), load_prompt(str(prompt_file))))
    path = tmp_path / "s.sqlite"
    Store(path).add(e)
    prompt_file.write_text(json.dumps({**prompt, "template": "Text: {{ text }}\nMood:"}))
    code, out, err = cli(capsys, "store", "show", e.name, "--store", str(path), "--json")
    assert code == 0, err
    kept = json.loads(out)["meta"]["prompt"]
    assert kept["template"] == prompt["template"] and kept["id"] == "mine-1"
    assert kept["verbalizer"] == prompt["verbalizer"] and kept["chat"] is False
    assert kept["hash"] in e.meta["model"]["identity"]  # the hash of the answers' cache key
    code, out, err = cli(capsys, "store", "show", e.name, "--store", str(path))
    assert code == 0 and "Review: {{ text }}" in out and "'great'" in out
