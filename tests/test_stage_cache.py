"""benchmarks.harness.carry carries cached benchmark stages to a fresh cache and back."""

from pathlib import Path

import numpy as np

import benchmarks.harness.carry as sc
from fute.models.answers import AnswerCache

META = {"model": "m", "identity": "id", "prompt_hash": "p", "labels": ["neg", "pos"]}


def fill(cache: Path, rows: dict) -> None:
    store = AnswerCache(cache / "answers" / "abc.sqlite", 2, META)
    store.put_many(list(rows), np.array(list(rows.values())))
    store.close()


def read(cache: Path) -> dict:
    store = AnswerCache(cache / "answers" / "abc.sqlite", 2, META)
    try:
        return {h: r.tolist() for h, r in store.get_many(["h1", "h2", "h3"]).items()}
    finally:
        store.close()


def test_save_then_restore_gives_the_same_results_and_skips_weights(tmp_path):
    old, carried, new = tmp_path / "old", tmp_path / "carried", tmp_path / "new"
    fill(old, {"h1": [0.25, 0.75], "h2": [0.5, 0.5]})
    (old / "bench" / "embeddings").mkdir(parents=True)
    np.save(old / "bench" / "embeddings" / "k1.npy", np.arange(3.0))
    (old / "bench" / "embeddings" / ".k2.npy.123.tmp").write_text("half written")
    (old / "bench" / "transfer-models" / "src-seed0").mkdir(parents=True)
    (old / "bench" / "transfer-models" / "src-seed0" / "model.safetensors").write_text("w")

    assert sc.save(old, carried) == {"bench_files": 1, "skipped_large": 0, "answer_rows": 2}
    assert not (carried / "bench" / "transfer-models").exists()
    assert sc.restore(carried, new) == {"bench_files": 1, "answer_rows": 2}
    assert read(new) == {"h1": [0.25, 0.75], "h2": [0.5, 0.5]}
    assert np.load(new / "bench" / "embeddings" / "k1.npy").tolist() == [0.0, 1.0, 2.0]
    assert not (new / "bench" / "transfer-models").exists()


def test_a_second_save_writes_only_new_rows_in_a_new_file(tmp_path):
    old, carried = tmp_path / "old", tmp_path / "carried"
    fill(old, {"h1": [0.25, 0.75]})
    sc.save(old, carried)
    assert sc.save(old, carried)["answer_rows"] == 0
    fill(old, {"h3": [1.0, 0.0]})
    assert sc.save(old, carried)["answer_rows"] == 1
    files = sorted((carried / "answers" / "abc").glob("*.npz"))
    assert len(files) == 2
    with np.load(files[0]) as a, np.load(files[1]) as b:
        assert sorted([*a["hashes"].tolist(), *b["hashes"].tolist()]) == ["h1", "h3"]


def test_restore_keeps_rows_the_cache_already_has_and_adds_the_rest(tmp_path):
    old, carried, new = tmp_path / "old", tmp_path / "carried", tmp_path / "new"
    fill(old, {"h1": [0.25, 0.75], "h2": [0.5, 0.5]})
    sc.save(old, carried)
    fill(new, {"h1": [0.25, 0.75], "h3": [1.0, 0.0]})
    assert sc.restore(carried, new)["answer_rows"] == 1
    assert read(new) == {"h1": [0.25, 0.75], "h2": [0.5, 0.5], "h3": [1.0, 0.0]}
    assert sc.restore(carried, new) == {"bench_files": 0, "answer_rows": 0}


def test_a_bench_file_over_the_size_cap_is_not_carried(tmp_path, monkeypatch):
    old, carried = tmp_path / "old", tmp_path / "carried"
    (old / "bench" / "transfer").mkdir(parents=True)
    (old / "bench" / "transfer" / "big.json").write_text("x" * 100)
    (old / "bench" / "transfer" / "small.json").write_text("0.5")
    monkeypatch.setattr(sc, "MAX_FILE_BYTES", 50)
    assert sc.save(old, carried) == {"bench_files": 1, "skipped_large": 1, "answer_rows": 0}
    assert sorted(p.name for p in (carried / "bench" / "transfer").iterdir()) == ["small.json"]
