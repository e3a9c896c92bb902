"""The per-space vector index: same ranking as cosine over every row, rebuilt when the store
changes, never trusted when stale or damaged, and never needed (delete it: same results).

Small real SQLite stores of random vectors; the CLI runs through `fute.cli.main`.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess

import numpy as np
import pytest

from fute.cli import main
from fute.embedding import TaskEmbedding
from fute.ranking import rank, rank_stored
from fute.store import Store
from fute.vector_index import SUFFIX, index_folder, open_index
from readonly import read_only_folder

SPACE = "minilm@abc/mean-embedding/1/seed0"
OTHER = "minilm@abc/fisher/2/seed0"
DIM = 48


def emb(name: str, seed: int, kind: str = "dataset", space: str = SPACE) -> TaskEmbedding:
    v = np.random.default_rng(seed).normal(size=DIM).astype(np.float32)
    return TaskEmbedding(v, space, kind, name, {})


def make_store(path, n: int = 60) -> Store:
    store = Store(path, notify=lambda m: None)
    kinds = ("dataset", "model", "prompted-lm")
    store.add_many([emb(f"e{i}", seed=i, kind=kinds[i % 3]) for i in range(n)])
    store.add_many([emb(f"o{i}", seed=100 + i, space=OTHER) for i in range(5)])
    return store


def plain(store: Store, target: TaskEmbedding, kind=None, top=None):
    """The reference: every row of the space read and ranked in memory."""
    ranked = rank(target, store.load(kind=kind, space_key=target.space_key), top=top)
    return [(r.embedding.name, r.similarity) for r in ranked]


def indexed(store: Store, target: TaskEmbedding, kind=None, top=10):
    return [
        (r.embedding.name, r.similarity) for r in rank_stored(store, target, kind=kind, top=top)
    ]


def assert_same(a, b) -> None:
    assert [n for n, _ in a] == [n for n, _ in b]
    np.testing.assert_allclose([s for _, s in a], [s for _, s in b], rtol=0, atol=1e-12)


def cli(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    captured = capsys.readouterr()
    return info.value.code, captured.out, captured.err


def test_index_ranking_equals_cosine_over_every_row(tmp_path):
    store = make_store(tmp_path / "s.sqlite")
    for name in ("e0", "e7", "e31"):
        target = store.get(name)
        for kind in (None, "model", "prompted-lm"):
            for top in (1, 5, 100):
                want = plain(store, target, kind)[:top]
                assert_same(indexed(store, target, kind, top), want)
    folder = tmp_path / f"s.sqlite{SUFFIX}"
    assert folder.is_dir() and any(folder.glob("*.f32"))
    assert not any(p.name.startswith(".") for p in folder.iterdir())  # no partial files left


def test_ties_keep_the_order_of_the_plain_ranking(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    base = np.random.default_rng(1).normal(size=DIM).astype(np.float32)
    store.add(TaskEmbedding(base, SPACE, "dataset", "target"))
    for i in range(20):  # the same direction at different lengths: all tie at cosine 1
        store.add(TaskEmbedding(base * (i + 1), SPACE, "model", f"m{i:02d}"))
    target = store.get("target")
    assert_same(indexed(store, target, top=7), plain(store, target)[:7])


def test_index_is_rebuilt_after_add_replace_and_delete(tmp_path):
    store = make_store(tmp_path / "s.sqlite")
    target = store.get("e0")
    first = open_index(store, SPACE)
    assert_same(indexed(store, target), plain(store, target)[:10])
    # add: a copy of the target's direction must come first
    store.add(TaskEmbedding(target.vector * 3, SPACE, "model", "twin"))
    assert indexed(store, target)[0][0] == "twin"
    assert open_index(store, SPACE).data != first.data  # rebuilt, under a new name
    # replace in place (same id): the new vector counts, not the old one
    store.add(TaskEmbedding(-target.vector, SPACE, "model", "twin"), dtype="float32")
    assert "twin" not in [n for n, _ in indexed(store, target)]
    assert indexed(store, target, top=200)[-1][0] == "twin"
    # delete
    best = indexed(store, target)[0][0]
    store.delete(best, space_key=SPACE)
    assert best not in [n for n, _ in indexed(store, target, top=200)]
    assert_same(indexed(store, target, top=200), plain(store, target))
    # only the newest data files of the space are kept
    folder = index_folder(store.path)
    assert len(list(folder.glob("*.f32"))) == 1


def test_a_stale_or_damaged_index_is_rebuilt_not_trusted(tmp_path):
    store = make_store(tmp_path / "s.sqlite")
    target = store.get("e3")
    want = plain(store, target)[:10]
    index = open_index(store, SPACE)
    data = index.data
    # garbage in the data file (same size): the meta file still matches, so it would be
    # used; a write elsewhere bumps the generation and the index is rebuilt from the store
    data.write_bytes(np.full(data.stat().st_size // 4, 0.5, dtype="<f4").tobytes())
    store.add(emb("o-new", seed=999, space=OTHER))
    assert_same(indexed(store, target), want)
    # a truncated data file, a meta file that is not JSON, a missing folder
    data = open_index(store, SPACE).data
    data.write_bytes(data.read_bytes()[:100])
    assert_same(indexed(store, target), want)
    meta = next(index_folder(store.path).glob("*.json"))
    meta.write_text("{not json")
    assert_same(indexed(store, target), want)
    subprocess.run(["rm", "-rf", str(index_folder(store.path))], check=True)
    assert_same(indexed(store, target), want)


def test_deleting_the_index_changes_nothing_on_the_command_line(tmp_path, capsys):
    path = tmp_path / "s.sqlite"
    make_store(path)
    runs = []
    for _ in range(3):
        code, out, err = cli(capsys, "rank", "e5", "--top", "8", "--store", str(path), "--json")
        assert code == 0, err
        runs.append(json.loads(out)["results"])
        subprocess.run(["rm", "-rf", str(index_folder(path))], check=True)
    assert runs[0] == runs[1] == runs[2]
    assert len(runs[0]) == 8


def test_damaged_rows_are_left_out_of_the_index_and_named_once(tmp_path, capsys):
    path = tmp_path / "s.sqlite"
    store = make_store(path)
    target = store.get("e0")
    bad = plain(store, target)[0][0]  # the best candidate, so it would show
    con = sqlite3.connect(path)
    (blob,) = con.execute(
        "SELECT vector FROM vectors WHERE id = (SELECT id FROM embeddings WHERE name = ?)", (bad,)
    ).fetchone()
    blob = bytearray(blob)
    blob[len(blob) // 2] ^= 0x5A
    con.execute(
        "UPDATE vectors SET vector = ? WHERE id = (SELECT id FROM embeddings WHERE name = ?)",
        (bytes(blob), bad),
    )
    con.commit()
    con.close()
    for _ in range(2):  # building the index, then using it: each run names the row once
        code, out, err = cli(capsys, "rank", "e0", "--store", str(path), "--json")
        assert code == 0, err
        assert bad not in [r["name"] for r in json.loads(out)["results"]]
        warnings = [line for line in err.splitlines() if line.startswith("warning: ")]
        assert len(warnings) == 1 and repr(bad) in warnings[0] and "checksum" in warnings[0]
    notes = []
    reader = Store(path, readonly=True, notify=notes.append)
    assert bad not in [n for n, _ in indexed(reader, target)]
    assert len(notes) == 1


def test_a_row_damaged_after_the_index_was_built_is_not_ranked(tmp_path):
    path = tmp_path / "s.sqlite"
    store = make_store(path)
    target = store.get("e0")
    bad = indexed(store, target)[0][0]
    con = sqlite3.connect(path)  # damage without a write through the store: same generation
    con.execute(
        "UPDATE vectors SET vector = x'72' WHERE id = (SELECT id FROM embeddings WHERE name = ?)",
        (bad,),
    )
    con.commit()
    con.close()
    notes = []
    store = Store(path, notify=notes.append)
    got = indexed(store, target)
    assert bad not in [n for n, _ in got] and len(got) == 10
    assert len(notes) == 1 and repr(bad) in notes[0]


@pytest.fixture
def readonly_store(tmp_path, monkeypatch):
    """A store in a folder nobody can write to (read-only bind mount as root, else chmod)."""
    monkeypatch.setenv("FUTE_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "src"
    src.mkdir()
    make_store(src / "s.sqlite")
    with read_only_folder(src) as folder:
        yield folder / "s.sqlite"


def test_a_read_only_store_is_ranked_with_an_index_in_the_cache(readonly_store, tmp_path):
    store = Store(readonly_store, readonly=True)
    target = store.get("e2")
    assert_same(indexed(store, target, kind="model"), plain(store, target, "model")[:10])
    folder = index_folder(readonly_store)
    assert folder.is_relative_to(tmp_path / "cache") and any(folder.glob("*.f32"))
    assert not (readonly_store.parent / f"s.sqlite{SUFFIX}").exists()


def test_an_old_store_read_as_it_is_is_ranked_without_an_index(tmp_path):
    """Schema 2 (vector inside the row, no generation): read-only rank reads the rows."""
    path = tmp_path / "old.sqlite"
    make_store(path, n=12)
    con = sqlite3.connect(path)  # turn it back into a schema-2 file
    con.executescript(
        "ALTER TABLE embeddings ADD COLUMN vector BLOB;"
        "UPDATE embeddings SET vector = (SELECT vector FROM vectors WHERE vectors.id = embeddings.id);"
        "DROP TABLE vectors; DELETE FROM store_info WHERE key IN ('generation', 'uuid');"
        "UPDATE store_info SET value = '2' WHERE key = 'schema_version';"
    )
    con.close()
    reader = Store(path, readonly=True)
    assert reader.generation() is None and open_index(reader, SPACE) is None
    target = reader.get("e1")
    want = plain(reader, target)[:5]
    assert_same(indexed(reader, target, top=5), want)
    assert not index_folder(path).exists()
    # the first write migrates it (vectors move to their own table) and the index works
    Store(path).add(emb("new", seed=77, space=OTHER))
    writer = Store(path)
    assert writer.generation() is not None
    assert_same(indexed(writer, target, top=5), want)


def test_an_update_reads_only_new_and_replaced_rows(tmp_path, monkeypatch):
    store = make_store(tmp_path / "s.sqlite", n=30)
    target = store.get("e0")
    open_index(store, SPACE)
    reads = []
    read = Store._read

    def counting(self, con, head):
        reads.append(head[2])
        return read(self, con, head)

    monkeypatch.setattr(Store, "_read", counting)
    store.add(emb("fresh", seed=500))
    store.add(emb("e3", seed=501))  # replaced in place: same id, new vector
    store.delete("e5")
    index = open_index(store, SPACE)
    assert sorted(reads) == ["e3", "fresh"]
    assert len(index) == 30 and store.list(name="e4")[0].id + 1 not in index.ids  # e5 gone
    monkeypatch.undo()
    assert_same(indexed(store, target, top=40), plain(store, target))


def test_a_target_not_read_from_the_store_ranks_like_the_plain_ranking(tmp_path):
    store = make_store(tmp_path / "s.sqlite")
    stored = store.get("e9")
    outside = TaskEmbedding(stored.vector.copy(), SPACE, stored.kind, stored.name, {})
    assert_same(indexed(store, outside, top=5), plain(store, outside)[:5])
    assert "e9" not in [n for n, _ in indexed(store, outside, top=5)]
