"""Extras in the store: round trip, checksums, damaged extras, replacement, export/import,
frozen centres, and stores of older schemas opened, ranked and migrated."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from fute.core.embedding import TaskEmbedding
from fute.core.errors import FuteError, StoreError
from fute.core.extras import decode_extra, encode_extra, pool_item_ids
from fute.ranking import rank_stored
from fute.store import SCHEMA_VERSION, Store, checksum, read_npz

SPACE = "minilm@abc/fisher/123/seed0"


def extras(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "fisher_units": rng.random(40).astype(np.float32),
        "components": rng.normal(size=12).astype(np.float32),
        "component_bounds": np.array([[0, 6], [6, 12]], dtype=np.int64),
        "component_names": np.array(["layer.0", "layer.1"]),
        "pool_items": np.arange(10, dtype=np.uint64) * np.uint64(2**60),
    }


def emb(name: str, seed: int = 0, kind: str = "dataset", with_extras: bool = True):
    v = np.random.default_rng(seed).normal(size=16).astype(np.float32)
    return TaskEmbedding(v, SPACE, kind, name, {}, extras(seed) if with_extras else {})


def quiet(path) -> Store:
    notes: list[str] = []
    store = Store(path, notify=notes.append)
    store.notes = notes
    return store


def test_extras_round_trip_exactly_and_only_when_asked(tmp_path):
    store = quiet(tmp_path / "s.sqlite")
    e = emb("a", seed=1)
    store.add(e)
    back = store.get("a")
    assert sorted(back.extras) == sorted(e.extras)
    for name, arr in e.extras.items():
        assert back.extras[name].dtype == arr.dtype
        np.testing.assert_array_equal(back.extras[name], arr)
    assert store.load()[0].extras == {}  # many rows: no extras unless asked
    some = store.load(extras=["fisher_units"])[0].extras
    assert list(some) == ["fisher_units"]
    assert store.get("a", extras=False).extras == {}


def test_encoding_keeps_dtype_shape_and_text():
    for arr in (np.arange(6, dtype=np.uint64).reshape(2, 3), np.array(["négatif", "pos"])):
        back = decode_extra(encode_extra(arr))
        assert back.dtype == arr.dtype and back.shape == arr.shape
        np.testing.assert_array_equal(back, arr)


def test_pool_item_ids_are_stable_and_tell_pairs_apart():
    a = pool_item_ids(["x", "y"])
    assert a.dtype == np.uint64 and len(set(a.tolist())) == 2
    np.testing.assert_array_equal(a, pool_item_ids(["x", "y"]))
    assert pool_item_ids(["x"], ["y"])[0] != pool_item_ids(["x y"])[0]


def test_bad_extras_are_refused_before_writing(tmp_path):
    store = quiet(tmp_path / "s.sqlite")
    bad = emb("a")
    bad.extras["fisher_units"] = np.array([1.0, np.nan])
    with pytest.raises(StoreError, match="extra 'fisher_units' of 'a' holds NaN"):
        store.add(bad)
    bad.extras = {"x": np.array([object()])}
    with pytest.raises(StoreError, match="only numbers and text"):
        store.add(bad)
    assert len(store) == 0


def test_replacing_a_row_replaces_its_extras_and_delete_removes_them(tmp_path):
    store = quiet(tmp_path / "s.sqlite")
    store.add(emb("a", seed=1))
    store.add(emb("a", seed=2, with_extras=False))
    assert store.get("a").extras == {}
    store.add(emb("a", seed=3))
    np.testing.assert_array_equal(store.get("a").extras["fisher_units"], extras(3)["fisher_units"])
    store.delete("a")
    con = sqlite3.connect(store.path)
    assert con.execute("SELECT COUNT(*) FROM extras").fetchone()[0] == 0


def test_a_damaged_extra_is_named_and_left_out_the_rest_stays(tmp_path):
    store = quiet(tmp_path / "s.sqlite")
    store.add_many([emb("a", seed=1), emb("b", seed=2)])
    con = sqlite3.connect(store.path)
    (data,) = con.execute(
        "SELECT data FROM extras WHERE name = 'fisher_units' AND id = 1"
    ).fetchone()
    damaged = data[:-3] + bytes(b ^ 0xFF for b in data[-3:])
    con.execute("UPDATE extras SET data = ? WHERE name = 'fisher_units' AND id = 1", (damaged,))
    con.commit()
    con.close()
    a = store.get("a")
    assert "fisher_units" not in a.extras and "components" in a.extras
    np.testing.assert_array_equal(a.vector, emb("a", seed=1).vector)  # the vector is fine
    assert len(store.notes) == 1
    note = store.notes[0]
    assert "'fisher_units'" in note and "'a' (#1)" in note and "checksum" in note
    assert store.skipped_extras == [(1, "fisher_units", "its bytes do not match their checksum")]
    # ranking by task2vec leaves the damaged candidate out and says so
    said: list[str] = []
    ranked = rank_stored(store, store.get("b"), similarity="task2vec", notify=said.append)
    assert ranked == [] and any("'a'" in s and "fisher_units" in s for s in said)


def test_checksums_cover_every_extra(tmp_path):
    store = quiet(tmp_path / "s.sqlite")
    store.add(emb("a", seed=1))
    con = sqlite3.connect(store.path)
    rows = con.execute("SELECT name, data, checksum FROM extras").fetchall()
    assert {r[0] for r in rows} == set(extras(1))
    assert all(checksum(data) == check for _, data, check in rows)


def test_export_import_and_pending_keep_extras(tmp_path):
    store = quiet(tmp_path / "s.sqlite")
    store.add_many([emb("a", seed=1), emb("b", seed=2, with_extras=False)])
    out = store.export(tmp_path / "x.npz")
    back = {e.name: e for e in read_npz(out)}
    np.testing.assert_array_equal(back["a"].extras["component_names"], ["layer.0", "layer.1"])
    assert back["b"].extras == {}
    other = quiet(tmp_path / "t.sqlite")
    other.import_file(out)
    np.testing.assert_array_equal(other.get("a").extras["fisher_units"], extras(1)["fisher_units"])


def unit_mean_of(*embeddings) -> np.ndarray:
    return np.mean([e.vector / np.linalg.norm(e.vector.astype(np.float64)) for e in embeddings], 0)


def test_every_write_keeps_the_centres_and_they_are_checked(tmp_path):
    store = quiet(tmp_path / "s.sqlite")
    a, b, c = (emb(n, seed=i, kind="model") for i, n in enumerate("abc"))
    store.add(a)
    assert store.centre(SPACE, "model") is None  # one embedding: no centre
    store.add_many([b, c])
    got, meta = store.centre(SPACE, "model")
    np.testing.assert_allclose(got, unit_mean_of(a, b, c), rtol=1e-12)
    assert (meta["n"], meta["rows"], meta["kind"]) == (3, 3, "model")
    assert [x["kind"] for x in store.centres()] == ["model"]
    b2 = emb("b", seed=7, kind="model")
    store.add(b2)  # replaced in place: its old vector leaves the centre, the new one joins
    np.testing.assert_allclose(store.centre(SPACE, "model")[0], unit_mean_of(a, b2, c), rtol=1e-12)
    store.delete("c")
    np.testing.assert_allclose(store.centre(SPACE, "model")[0], unit_mean_of(a, b2), rtol=1e-12)
    store.delete("b")
    assert store.centre(SPACE, "model") is None and store.centres() == []
    store.add_many([b, c])
    con = sqlite3.connect(store.path)
    con.execute("UPDATE centres SET checksum = 'crc32:00000000'")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="frozen model centre .* is damaged"):
        store.centre(SPACE, "model")
    assert store.remake_centres(SPACE) == 1
    np.testing.assert_allclose(store.centre(SPACE, "model")[0], unit_mean_of(a, b, c), rtol=1e-12)


def test_a_centre_an_older_fute_left_is_recomputed_at_the_next_write(tmp_path):
    store = quiet(tmp_path / "s.sqlite")
    a, b, c = (emb(n, seed=i, kind="model") for i, n in enumerate("abc"))
    store.add_many([a, b])
    con = sqlite3.connect(store.path)  # as a fute that froze it at the first ranking left it
    con.execute("UPDATE centres SET meta = '{\"n\": 2}'")
    con.commit()
    con.close()
    assert store.centre(SPACE, "model")[1] == {"n": 2}
    store.add(c)
    got, meta = store.centre(SPACE, "model")
    np.testing.assert_allclose(got, unit_mean_of(a, b, c), rtol=1e-12)
    assert meta["n"] == 3 and meta["rows"] == 3


def make_schema3(path, n: int = 4) -> list[TaskEmbedding]:
    """A store as fute wrote it before extras: schema 3, no extras or centres tables."""
    store = quiet(path)
    embs = [emb(f"e{i}", seed=i, with_extras=False) for i in range(n)]
    store.add_many(embs)
    con = sqlite3.connect(path)
    con.executescript(
        "DROP TRIGGER embeddings_delete_extras; DROP TABLE extras; DROP TABLE centres;"
        "UPDATE store_info SET value = '3' WHERE key = 'schema_version';"
    )
    con.close()
    return embs


def test_a_schema_3_store_is_read_and_ranked_as_it_is(tmp_path):
    path = tmp_path / "old.sqlite"
    embs = make_schema3(path)
    before = path.read_bytes()
    reader = Store(path, readonly=True, notify=lambda m: None)
    target = reader.get("e0")
    assert target.extras == {} and reader.centres() == []
    cosine = rank_stored(reader, target, top=3)
    assert [r.embedding.name for r in cosine] == [
        r.embedding.name for r in rank_stored(reader, target, top=None)[:3]
    ]
    said: list[str] = []
    # centred-cosine works from the vectors alone; the read-only store cannot freeze it
    centred = rank_stored(reader, target, similarity="centred-cosine", notify=said.append)
    assert len(centred) == len(embs) - 1
    assert any("for this ranking only" in s for s in said)
    # a similarity that needs extras cannot rank a target without them: one clear error
    with pytest.raises(FuteError, match="task2vec: the target 'e0' has no"):
        rank_stored(reader, target, similarity="task2vec")
    assert path.read_bytes() == before  # reading wrote nothing


def test_a_schema_3_store_is_migrated_on_the_first_write(tmp_path):
    path = tmp_path / "old.sqlite"
    make_schema3(path)
    store = quiet(path)  # opening for writing migrates
    con = sqlite3.connect(path)
    version = con.execute("SELECT value FROM store_info WHERE key = 'schema_version'").fetchone()
    assert version == (str(SCHEMA_VERSION),)
    store.add(emb("new", seed=9))
    assert sorted(store.get("new").extras) == sorted(extras(9))
    assert store.get("e1").extras == {}
    said: list[str] = []
    ranked = rank_stored(store, store.get("new"), similarity="task2vec", notify=said.append)
    assert ranked == []
    assert len(said) == 1 and "left out 4 candidates" in said[0] and "'e0'" in said[0]
    assert "embed them again" in said[0]
