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
from fute.core.embedding import TaskEmbedding
from fute.ranking import rank, rank_stored
from fute.store import Store
from fute.store.sqlite import StoreSnapshot
from fute.store.vector_index import SUFFIX, index_folder, open_index
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
    read = StoreSnapshot.embedding

    def counting(self, head, extras=False):
        reads.append(head.name)
        return read(self, head, extras)

    monkeypatch.setattr(StoreSnapshot, "embedding", counting)
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


def _searches(index, queries, groups):
    """Every group's (positions, scores) of `index.search_groups`, as plain lists."""
    out = index.search_groups(queries, groups)
    return {k: (p.tolist(), s.tolist()) for k, (p, s) in out.items()}


def _float32_only(index):
    from fute.store import vector_index

    return vector_index.SpaceIndex(
        index.space_key, index.dim, index.ids, index.kinds, index.data, handle=None
    )


def test_repeated_searches_use_float16_and_find_the_float32_top_k(tmp_path):
    """The second search of one index reads it into a float16 matrix; its shortlist,
    re-scored in float32, gives exactly the float32 pass's positions and scores, with
    kind masks, per-query masks and near-ties."""
    store = Store(tmp_path / "s.sqlite", notify=lambda m: None)
    rng = np.random.default_rng(3)
    base = rng.normal(size=(40, DIM)).astype(np.float32)
    rows = [base[i % 40] + 1e-4 * rng.normal(size=DIM).astype(np.float32) for i in range(400)]
    kinds = ("dataset", "model", "prompted-lm")
    store.add_many([TaskEmbedding(v, SPACE, kinds[i % 3], f"r{i}") for i, v in enumerate(rows)])
    index = open_index(store, SPACE)
    queries = rng.normal(size=(3, DIM)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    per_query = rng.random((3, len(index))) < 0.7
    groups = {
        "all": (10, None),
        "models": (25, index.kind_mask("model")),
        "masked": (7, per_query),
        "more-than-allowed": (1000, index.kind_mask("dataset")),
    }
    reference = _searches(_float32_only(index), queries, groups)
    index.search(queries[:1], 1)
    got = _searches(index, queries, groups)
    assert index.half is not None and index.whole is None
    for name in groups:
        assert got[name][0] == reference[name][0], name
        np.testing.assert_allclose(got[name][1], reference[name][1], rtol=0, atol=1e-6)


def test_float16_shortlist_of_many_near_ties_falls_back_to_float32(tmp_path, monkeypatch):
    from fute.store import vector_index

    store = make_store(tmp_path / "s.sqlite")
    monkeypatch.setattr(vector_index, "HALF_RESCORE_MAX", 0)  # and 60 rows // 8 < top 10
    index = open_index(store, SPACE)
    q = np.ones((1, DIM), np.float32) / np.sqrt(DIM)
    want = _searches(_float32_only(index), q, {"": (10, None)})
    index.search(q, 1)
    assert _searches(index, q, {"": (10, None)}) == want
    assert index.half is not None
    assert index._search_half(q, {"": (10, None)}) is None


def test_a_float16_product_that_errs_past_the_bound_is_not_used(tmp_path, monkeypatch):
    import torch

    from fute.store import vector_index

    store = make_store(tmp_path / "s.sqlite")
    target = store.get("e3")
    want = plain(store, target)[:10]
    real_mv = torch.mv
    monkeypatch.setattr(torch, "mv", lambda m, v: real_mv(m, v) + 0.01)  # a bad product
    for _ in range(3):
        assert_same(indexed(store, target), want)
    index = open_index(store, SPACE)  # the object the rankings used
    assert index.searches >= 2 and index.half is None and index.whole is not None
    assert vector_index.half_error_bound(DIM) < 0.01 / 2


def test_the_float16_error_bound_holds_on_hard_vectors():
    """Heavy-tailed, aligned and tiny coordinates: torch's float16 product of unit float32
    vectors never errs by more than `half_error_bound` against float64."""
    import torch

    from fute.store.vector_index import half_error_bound

    rng = np.random.default_rng(0)
    for dim in (48, 4096):
        m = rng.standard_t(1.5, size=(2000, dim)).astype(np.float32)
        m[:500] = m[0] + 1e-3 * m[:500]  # nearly parallel to the query: scores near 1
        m[500:700] *= 1e-7  # below float16's normal range once normalised
        m[500:700, 0] = 1.0
        m /= np.linalg.norm(m, axis=1, keepdims=True)
        q = m[0]
        got = torch.mv(torch.from_numpy(m).half(), torch.from_numpy(q).half()).double().numpy()
        exact = m.astype(np.float64) @ q.astype(np.float64)
        assert np.abs(got - exact).max() <= half_error_bound(dim)
