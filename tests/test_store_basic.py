"""The SQLite store: round trips, replacement, lookup errors, export, bad files."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pyarrow.parquet as pq
import pytest

from fute.core.embedding import TaskEmbedding
from fute.core.errors import StoreError
from fute.store import Store, StoreWarning

SPACE = "minilm@abc/fisher/123/seed0"


def emb(name: str, kind: str = "dataset", space: str = SPACE, dim: int = 50, seed: int = 0, **meta):
    v = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    return TaskEmbedding(v, space, kind, name, dict(meta))


def test_round_trip_keeps_vector_and_metadata(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    e = emb("sentiment-imdb", data={"n": 800, "labels": ["negative", "positive"]})
    row = store.add(e)
    back = store.get("sentiment-imdb")
    np.testing.assert_array_equal(back.vector, e.vector)
    assert (back.kind, back.name, back.space_key) == ("dataset", "sentiment-imdb", SPACE)
    assert back.meta["data"] == {"n": 800, "labels": ["negative", "positive"]}
    assert back.meta["store_id"] == row
    assert back.meta["versions"]["fute"] and back.meta["versions"]["torch"]
    assert isinstance(back.meta["created"], float | str)
    assert store.get(row).name == "sentiment-imdb"


def test_float16_storage_is_compact_and_close(tmp_path):
    e = emb("big", dim=200_000)
    s32, s16 = Store(tmp_path / "a.sqlite"), Store(tmp_path / "b.sqlite", vector_dtype="float16")
    s32.add(e)
    s16.add(e)
    assert s16.list()[0].dtype == "float16"
    np.testing.assert_allclose(s16.get("big").vector, e.vector, rtol=1e-3, atol=1e-3)

    def blob(s):
        return sqlite3.connect(s.path).execute("SELECT length(vector) FROM vectors").fetchone()[0]

    assert blob(s16) < 0.55 * blob(s32)


def test_sparse_vectors_are_compressed(tmp_path):
    v = np.zeros(1_000_000, dtype=np.float32)
    v[::1000] = 1.0
    store = Store(tmp_path / "s.sqlite")
    store.add(TaskEmbedding(v, SPACE, "model", "sparse"))
    size = sqlite3.connect(store.path).execute("SELECT length(vector) FROM vectors").fetchone()[0]
    assert size < 0.1 * v.nbytes
    np.testing.assert_array_equal(store.get("sparse").vector, v)


def test_add_replaces_same_kind_name_and_space_only(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    first = store.add(emb("x", seed=1))
    with pytest.warns(StoreWarning, match="replaced the stored dataset 'x'"):
        assert store.add(emb("x", seed=2)) == first  # same key: replaced in place, same id
    store.add(emb("x", kind="model", seed=3))  # other kind: kept apart
    store.add(emb("x", space="other-space", seed=4))  # other space: kept apart
    assert len(store) == 3
    np.testing.assert_array_equal(
        store.get("x", kind="dataset", space_key=SPACE).vector, emb("x", seed=2).vector
    )
    with pytest.raises(StoreError, match="names 3 embeddings"):
        store.get("x")


def test_list_filters_and_spaces(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    store.add_many([emb("a"), emb("b", kind="model"), emb("c", kind="prompted-lm", space="s2")])
    assert [r.name for r in store.list(kind="model")] == ["b"]
    assert [r.name for r in store.list(space_key="s2")] == ["c"]
    assert store.spaces() == {SPACE: 2, "s2": 1}
    assert store.contains("dataset", "a", SPACE) and not store.contains("dataset", "a", "s2")
    with pytest.raises(StoreError, match="unknown kind"):
        store.list(kind="prompt")


def test_delete_by_name_and_id(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    ids = store.add_many([emb("a"), emb("b"), emb("b", kind="model")])
    assert store.delete(ids[0]) == 1
    assert store.delete("b", kind="model") == 1
    assert store.delete("nope") == 0
    assert [r.name for r in store.list()] == ["b"]


def test_missing_and_invalid_embeddings_raise_store_errors(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    with pytest.raises(StoreError, match="no embedding 'ghost'"):
        store.get("ghost")
    bad = emb("nan")
    bad.vector[3] = np.nan
    with pytest.raises(StoreError, match="NaN"):
        store.add(bad)
    with pytest.raises(StoreError, match="unknown kind"):
        store.add(TaskEmbedding(np.ones(3), SPACE, "classifier", "k"))
    with pytest.raises(StoreError, match="overflows float16"):
        Store(tmp_path / "h.sqlite", vector_dtype="float16").add(
            TaskEmbedding(np.full(3, 1e6), SPACE, "model", "h")
        )
    assert len(store) == 0


def test_add_many_is_all_or_nothing(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    store.add(emb("kept"))

    def produce():
        yield emb("a")
        yield emb("b")
        raise RuntimeError("embedding run failed half-way")

    with pytest.raises(RuntimeError):
        store.add_many(produce())
    bad_meta = emb("c", callback=object())  # not JSON: fails inside the batch
    with pytest.raises(StoreError, match="not JSON"):
        store.add_many([emb("d"), bad_meta])
    assert [r.name for r in store.list()] == ["kept"]


def test_rollback_when_a_transaction_fails_mid_way(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    store.add(emb("a", seed=1))
    with pytest.raises(RuntimeError), store._transaction("write") as con:
        con.execute("DELETE FROM embeddings")
        raise RuntimeError("crash between the delete and the insert")
    np.testing.assert_array_equal(store.get("a").vector, emb("a", seed=1).vector)


@pytest.mark.parametrize(
    "content", [b"hello, this is not a database" * 50, b"SQLite format 3\x00" + b"\xff" * 5000]
)
def test_corrupt_file_gives_one_line_store_error(tmp_path, content):
    path = tmp_path / "store.sqlite"
    path.write_bytes(content)
    with pytest.raises(StoreError) as info:
        Store(path).list()
    message = str(info.value)
    assert "\n" not in message and str(path) in message


def test_folder_path_is_refused(tmp_path):
    with pytest.raises(StoreError, match="is a folder"):
        Store(tmp_path)


def test_export_npz_and_parquet_round_trip(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    items = [emb("a"), emb("b", kind="model", seed=5), emb("c", space="s2", dim=7)]
    store.add_many(items)
    npz = np.load(store.export(tmp_path / "out.npz"), allow_pickle=False)
    index = json.loads(str(npz["index"]))
    by_name = {r["name"]: r for r in index["records"]}
    assert set(by_name) == {"a", "b", "c"}
    for space in index["spaces"]:
        ids = list(npz[space["ids"]])
        vectors = npz[space["array"]]
        for row_id, vector in zip(ids, vectors, strict=True):
            name = next(r["name"] for r in index["records"] if r["id"] == row_id)
            original = next(e for e in items if e.name == name)
            np.testing.assert_array_equal(vector, original.vector)
    table = pq.read_table(store.export(tmp_path / "out.parquet")).to_pylist()
    assert {r["name"] for r in table} == {"a", "b", "c"}
    row_c = next(r for r in table if r["name"] == "c")
    np.testing.assert_allclose(row_c["vector"], items[2].vector)
    assert json.loads(row_c["meta"])["versions"]["fute"]
    only = pq.read_table(store.export(tmp_path / "s2.parquet", space_key="s2")).to_pylist()
    assert [r["name"] for r in only] == ["c"]
    with pytest.raises(StoreError, match=".npz or .parquet"):
        store.export(tmp_path / "out.csv")


def test_list_pages_and_counts(tmp_path, capsys):
    from fute.cli import main

    path = tmp_path / "s.sqlite"
    store = Store(path)
    store.add_many([emb(f"d{i:03d}", dim=8, seed=i) for i in range(120)])
    store.add_many([emb(f"m{i}", kind="model", space="other", dim=8, seed=i) for i in range(3)])
    assert store.count() == 123 and store.count(kind="model") == 3
    assert store.count(space_key=SPACE, kind="model") == 0
    assert [r.name for r in store.list(limit=3, offset=118)] == ["d118", "d119", "m0"]
    assert [(k, kind, n) for k, kind, n, _ in store.summary()] == [
        (SPACE, "dataset", 120),
        ("other", "model", 3),
    ]

    def run(*args):
        with pytest.raises(SystemExit) as info:
            main(["store", "list", "--store", str(path), *args])
        captured = capsys.readouterr()
        assert info.value.code == 0, captured.err
        return captured.out

    def rows(text):
        return [line.split()[2] for line in text.splitlines() if line.split()[1:2] == ["dataset"]]

    table = run("--kind", "dataset")
    assert rows(table) == [f"d{i:03d}" for i in range(50)]
    assert "120 embeddings" in table and "rows 1-50 of 120; 70 more" in table
    assert "120 embeddings" in table.split("spaces (full keys")[1]  # the legend counts all
    page = run("--kind", "dataset", "--limit", "10", "--offset", "110")
    assert rows(page) == [f"d{i:03d}" for i in range(110, 120)] and "more" not in page
    assert len(rows(run("--all"))) == 120
    assert len(json.loads(run("--json"))["embeddings"]) == 123
    assert len(json.loads(run("--json", "--limit", "5"))["embeddings"]) == 5
