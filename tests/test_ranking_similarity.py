"""Ranking by a named similarity: hand-made embeddings whose right order is known for each
similarity, candidates without extras, frozen centres, the CLI flag, and one real run of
Fisher and prefix embeddings ranked by every similarity."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fute.cli import main
from fute.core.embedding import TaskEmbedding
from fute.core.errors import FuteError
from fute.ranking import rank, rank_stored
from fute.ranking.similarity import SIMILARITIES, SimilarityError
from fute.store import Store
from tinyspace import tiny_caps

SPACE = "minilm@abc/fisher/123/seed0"


def emb(name, vector, kind="model", **extras) -> TaskEmbedding:
    meta = {"space": {"method": "fisher"}}
    return TaskEmbedding(np.asarray(vector, dtype=np.float32), SPACE, kind, name, meta, extras)


def order(ranked) -> list[str]:
    return [r.embedding.name for r in ranked]


def silent(message: str) -> None:
    pass


# -- each similarity puts hand-made candidates in the known order ---------------------------


def test_cosine_is_the_default_and_unchanged():
    t = emb("t", [1, 0, 0], kind="dataset")
    cands = [emb("far", [0, 1, 0]), emb("near", [1, 0.1, 0]), emb("anti", [-1, 0, 0])]
    assert order(rank(t, cands)) == ["near", "far", "anti"]
    same = rank(t, cands, similarity="cosine")
    assert [r.similarity for r in same] == [r.similarity for r in rank(t, cands)]


def test_centred_cosine_removes_what_every_vector_shares():
    # a big shared direction (x) makes "shares-x" look closest by cosine; centred on x,
    # the residue of the target (y) matches "same-residue"
    t = emb("t", [5, 1, 0], kind="dataset")
    cands = [emb("shares-x", [5, 0, 1]), emb("same-residue", [1, 1, 0])]
    assert order(rank(t, cands)) == ["shares-x", "same-residue"]
    x = np.array([1.0, 0, 0])
    centres = {"dataset": x, "model": x}
    ranked = rank(t, cands, similarity="centred-cosine", centres=centres, notify=silent)
    assert order(ranked) == ["same-residue", "shares-x"]
    assert ranked[0].similarity > 0.9 and abs(ranked[1].similarity) < 0.05


def test_task2vec_ranks_by_shared_fisher_mass_not_size():
    t = emb("t", [1, 0, 0], kind="dataset", fisher_units=np.array([1, 1, 1, 1e-3]))
    cands = [
        emb("other-units", [1, 0, 0], fisher_units=np.array([0, 0, 0, 5.0])),
        emb("flat", [1, 0, 0], fisher_units=np.array([1, 1, 1, 1.0])),
        emb("proportional", [1, 0, 0], fisher_units=np.array([200, 200, 200, 0.2])),
    ]
    ranked = rank(t, cands, similarity="task2vec")
    assert order(ranked) == ["proportional", "flat", "other-units"]
    assert ranked[0].similarity == pytest.approx(1.0)


def test_rrf_components_rewards_agreement_on_every_layer():
    bounds = np.array([[0, 2], [2, 4]])

    def c(name, comps):
        return emb(name, [1, 0], components=np.array(comps, float), component_bounds=bounds)

    t = emb("t", [1, 0], components=np.array([10.0, 0, 1, 0]), component_bounds=bounds)
    # whole-vector cosine is dominated by the big first layer and prefers "first-layer-only";
    # per layer, "both-layers" is 2nd and 1st, "first-layer-only" 1st and shares the last
    cands = [c("first-layer-only", [10, 1, 0, 1]), c("both-layers", [10, 3, 1, 0])]
    cands.append(c("neither", [0, 1, 0, 1]))
    ranked = rank(t, cands, similarity="rrf-components")
    assert order(ranked) == ["both-layers", "first-layer-only", "neither"]
    assert ranked[0].similarity == pytest.approx(1 / 61 + 1 / 62)


def test_maxsim_matches_positions_within_each_layer_in_any_order():
    rng = np.random.default_rng(0)
    layers = rng.normal(size=(2, 3, 4))  # (layers, positions, dims)
    t = emb("t", [1, 0], prefix_positions=layers)
    shuffled = layers[:, ::-1]  # same positions, another order: MaxSim 1
    swapped = layers[::-1]  # layer 0's positions in layer 1: not matched across layers
    noisy = layers + rng.normal(scale=0.3, size=layers.shape)
    cands = [
        emb("layers-swapped", [1, 0], prefix_positions=swapped),
        emb("noisy", [1, 0], prefix_positions=noisy),
        emb("reordered", [1, 0], prefix_positions=shuffled),
    ]
    ranked = rank(t, cands, similarity="maxsim")
    assert order(ranked) == ["reordered", "noisy", "layers-swapped"]
    assert ranked[0].similarity == pytest.approx(1.0)


def test_behaviour_compares_answers_on_the_shared_pool_items_by_label_name():
    p = np.array([0.9, 0.1, 0.7, 0.2, 0.5, 0.8])
    answers = np.stack([1 - p, p], 1)  # negative, positive
    items = np.arange(6, dtype=np.uint64)
    labels = np.array(["negative", "positive"])
    t = emb("t", [1, 0], kind="dataset", pool_answers=answers, answer_labels=labels,
            pool_items=items)  # fmt: skip
    keep = [5, 0, 2, 3]  # another pool sample: fewer items, another order
    cands = [
        emb(
            "inverse", [1, 0], pool_answers=answers[:, ::-1], answer_labels=labels, pool_items=items
        ),  # fmt: skip
        emb(
            "constant",
            [1, 0],
            pool_answers=np.full((6, 2), 0.5),
            answer_labels=labels,
            pool_items=items,
        ),  # fmt: skip
        emb(
            "same-function",
            [1, 0],
            pool_answers=answers[keep][:, ::-1],
            answer_labels=labels[::-1],
            pool_items=items[keep],
        ),  # fmt: skip
    ]
    ranked = rank(t, cands, similarity="behaviour")
    assert order(ranked) == ["same-function", "constant", "inverse"]
    np.testing.assert_allclose([r.similarity for r in ranked], [1, 0, -1], atol=1e-9)


# -- what is missing, and unknown names --------------------------------------------------


def test_candidates_without_the_extra_are_named_in_one_line_and_the_rest_ranked():
    t = emb("t", [1, 0], kind="dataset", fisher_units=np.ones(3))
    cands = [emb("old-1", [1, 0]), emb("ok", [1, 0], fisher_units=np.ones(3)), emb("old-2", [0, 1])]
    cands.append(emb("other-size", [1, 0], fisher_units=np.ones(5)))
    said: list[str] = []
    ranked = rank(t, cands, similarity="task2vec", notify=said.append)
    assert order(ranked) == ["ok"]
    assert len(said) == 1 and "\n" not in said[0]
    assert all(n in said[0] for n in ("'old-1'", "'old-2'", "'other-size'", "embed them again"))


def test_a_target_without_the_extra_is_one_clear_error():
    with pytest.raises(SimilarityError, match="the target 't' has no a per-position prefix"):
        rank(emb("t", [1, 0]), [emb("c", [1, 0])], similarity="maxsim")
    prefix_space = emb("t", [1, 0])
    prefix_space.meta["space"]["method"] = "mean-embedding"
    with pytest.raises(SimilarityError, match="needs embeddings of method fisher or prefix"):
        rank(prefix_space, [emb("c", [1, 0])], similarity="behaviour")


def test_an_unknown_similarity_lists_the_known_ones():
    with pytest.raises(SimilarityError, match="unknown similarity 'cosin'.*task2vec"):
        rank(emb("t", [1, 0]), [emb("c", [1, 0])], similarity="cosin")


# -- the store: extras read back, centres kept by writes, read by rankings ----------------


def filled_store(path) -> Store:
    rng = np.random.default_rng(3)
    shared = rng.normal(size=8) * 4
    store = Store(path, notify=silent)
    embs = [emb(f"d{i}", shared + rng.normal(size=8), kind="dataset") for i in range(3)]
    embs += [emb(f"m{i}", shared + rng.normal(size=8)) for i in range(4)]
    for e in embs:
        e.extras["fisher_units"] = rng.random(5)
    store.add_many(embs)
    return store


@pytest.mark.parametrize("similarity", ["cosine", "centred-cosine", "task2vec"])
def test_rank_stored_equals_rank_of_the_loaded_rows(tmp_path, similarity):
    store = filled_store(tmp_path / "s.sqlite")
    target = store.get("d0")
    got = rank_stored(store, target, kind="model", top=None, similarity=similarity)
    centres = None
    if similarity == "centred-cosine":
        centres = {k: store.centre(SPACE, k)[0] for k in ("dataset", "model")}
    want = rank(
        target,
        store.load(kind="model", extras=True),
        similarity=similarity,
        centres=centres,
    )
    assert order(got) == order(want)
    np.testing.assert_allclose([r.similarity for r in got], [r.similarity for r in want])


def centred_scores(store, **kw) -> dict[str, float]:
    target = store.get("d0")
    ranked = rank_stored(store, target, top=None, similarity="centred-cosine", **kw)
    return {r.embedding.name: r.similarity for r in ranked}


def test_centres_are_kept_by_writes_and_rankings_only_read_them(tmp_path):
    from fute.ranking.centres import centres_of

    store = filled_store(tmp_path / "s.sqlite")
    assert {c["kind"]: c["meta"]["n"] for c in store.centres()} == {"dataset": 3, "model": 4}
    said: list[str] = []
    generation = store.generation()
    first = centred_scores(store, notify=said.append)
    assert said == [] and store.generation() == generation  # read, never written
    # the centre of each kind is the one of the rows stored: as ranking them in memory
    want = rank(store.get("d0"), store.load(), similarity="centred-cosine")
    assert first == pytest.approx({r.embedding.name: r.similarity for r in want}, rel=1e-9)
    # another kind or another space leaves these centres, so these scores, as they were
    store.add(emb("p0", np.full(8, 50.0), kind="prompted-lm"))
    other = TaskEmbedding(np.full(8, 9.0, np.float32), "other/space", "model", "m9", {})
    store.add(other)
    again = centred_scores(store, notify=silent)
    assert {k: v for k, v in again.items() if k != "p0"} == first
    # a model written refreshes the model centre: the mean of the models stored now
    store.add(emb("m-new", np.full(8, 50.0)))
    kept = store.centre(SPACE, "model")[0]
    np.testing.assert_allclose(kept, centres_of(store.load(kind="model", space_key=SPACE))["model"])
    assert centred_scores(store, notify=silent)["m0"] != first["m0"]


def test_a_store_without_centres_is_centred_in_memory_and_not_written(tmp_path):
    import sqlite3

    store = filled_store(tmp_path / "s.sqlite")
    kept = centred_scores(store, notify=silent)
    con = sqlite3.connect(store.path)  # as a store written by an older fute
    con.execute("DELETE FROM centres")
    con.commit()
    con.close()
    said: list[str] = []
    generation = store.generation()
    assert centred_scores(store, notify=said.append) == pytest.approx(kept, rel=1e-9)
    assert len(said) == 2 and all("for this ranking only" in s for s in said)
    assert all("fute store centre --reset" in s for s in said)
    assert store.generation() == generation and store.centres() == []
    assert store.remake_centres() == 2 and len(store.centres()) == 2


# -- the command line ------------------------------------------------------------------


def cli(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    captured = capsys.readouterr()
    return info.value.code, captured.out, captured.err


def test_cli_similarity_flag(tmp_path, capsys):
    path = tmp_path / "s.sqlite"
    filled_store(path)
    code, out, err = cli(capsys, "rank", "d0", "--kind", "model", "--store", str(path), "--json")
    assert code == 0 and json.loads(out)["similarity"] == "cosine"
    for name in SIMILARITIES:
        code, out, err = cli(
            capsys, "rank", "d0", "--similarity", name, "--store", str(path), "--json"
        )
        if name in ("cosine", "centred-cosine", "task2vec"):
            assert code == 0, err
            doc = json.loads(out)
            assert doc["similarity"] == name and len(doc["results"]) == 6
        else:  # these stored rows have no such extras: one line, exit 2
            assert code == 2
            lines = err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: ") and name in lines[0]
    # the centres the writes kept, then remade from the rows
    code, out, _ = cli(capsys, "store", "centre", "--store", str(path), "--json")
    assert [c["kind"] for c in json.loads(out)["centres"]] == ["dataset", "model"]
    code, out, _ = cli(capsys, "store", "centre", "--reset", "--store", str(path))
    assert code == 0 and "2 kept" in out
    code, out, err = cli(capsys, "rank", "d0", "--similarity", "task2vec", "--store", str(path))
    assert code == 0 and "task2vec" in out
    code, _, err = cli(capsys, "rank", "d0", "--similarity", "cosin", "--store", str(path))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ")
    assert "cosin" in lines[0] and "centred-cosine" in lines[0]


def test_cli_names_left_out_candidates_in_a_warning(tmp_path, capsys):
    path = tmp_path / "s.sqlite"
    store = filled_store(path)
    store.add(emb("m-old", np.ones(8)))  # no extras
    code, out, err = cli(
        capsys, "rank", "d0", "--similarity", "task2vec", "--store", str(path), "--json"
    )
    assert code == 0
    warnings = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and "'m-old'" in warnings[0]
    assert json.loads(out)["notes"] == [warnings[0][len("warning: ") :]]


# -- real embeddings ---------------------------------------------------------------------


@pytest.mark.slow
def test_real_fisher_and_prefix_embeddings_rank_by_every_similarity(tmp_path):
    """Tiny DTEs and an MTE with the real surrogate, stored, read back and ranked by each
    similarity their method supports (maxsim: prefix only; the others on Fisher)."""
    from fute.core.examples import Examples
    from fute.models.adapters import CallableModel
    from fute.space import Space

    words = ("great fun", "awful mess", "loved it", "boring and slow")
    texts = [f"{w} {n}" for w in words for n in ("movie", "film", "show")] * 3
    labels = [y for y in ("positive", "negative", "positive", "negative") for _ in range(3)] * 3
    sentiment = Examples.from_labels(texts, labels, name="toy-sentiment")
    flipped = Examples.from_labels(texts, labels[::-1], name="toy-shuffled")

    def keyword(text: str) -> dict:
        good = any(w in text.lower() for w in ("good", "great", "love", "best", "fun"))
        return {"positive": 0.8 if good else 0.3, "negative": 0.2 if good else 0.7}

    model = CallableModel(keyword, ["positive", "negative"], per_input=True, name="keyword")
    caps = tiny_caps(examples=36, batch=12)
    store = Store(tmp_path / "s.sqlite", notify=silent)
    for method, hp in caps.items():
        space = Space(method=method, seed=0, pool_size=48, progress=False, **hp)
        embs = [space.dataset_embedding(d) for d in (sentiment, flipped)]
        embs.append(space.model_embedding(model))
        if method == "fisher":  # the same inputs and seed give the same extras
            for first, again in (
                (embs[0], space.dataset_embedding(sentiment)),
                (embs[-1], space.model_embedding(model)),
            ):
                assert sorted(again.extras) == sorted(first.extras)
                for name in first.extras:
                    np.testing.assert_array_equal(again.extras[name], first.extras[name])
        store.add_many(embs)
        target = store.get("toy-sentiment", space_key=space.key)
        for similarity in SIMILARITIES:
            if similarity not in USABLE[method]:
                with pytest.raises(FuteError, match=f"{similarity} needs embeddings of method"):
                    rank_stored(store, target, similarity=similarity, notify=silent)
                continue
            ranked = rank_stored(store, target, top=None, similarity=similarity, notify=silent)
            assert sorted(order(ranked)) == ["keyword", "toy-shuffled"], similarity
            assert all(np.isfinite(r.similarity) for r in ranked)
            if similarity == "behaviour":
                assert all(-1 <= r.similarity <= 1 for r in ranked)


USABLE = {
    "fisher": {"cosine", "centred-cosine", "task2vec", "rrf-components", "behaviour"},
    "prefix": {"cosine", "centred-cosine", "maxsim", "rrf-components", "behaviour"},
}


@pytest.mark.parametrize("centres", ["kept", "none"])
def test_cli_centred_cosine_on_a_read_only_store_writes_nothing(tmp_path, capsys, centres):
    import sqlite3

    from readonly import read_only_folder

    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "s.sqlite"
    want = centred_scores(filled_store(path), notify=silent)
    con = sqlite3.connect(path)  # rollback-journal mode: every write would change the file
    assert con.execute("PRAGMA journal_mode = DELETE").fetchone()[0] == "delete"
    if centres == "none":  # as a store written by an older fute
        con.execute("DELETE FROM centres")
        con.commit()
    con.close()
    before = path.read_bytes()
    with read_only_folder(folder) as ro:  # chmod 0444 / 0555, or a read-only mount as root
        args = ("rank", "d0", "--similarity", "centred-cosine", "--store", str(ro / path.name))
        code, out, err = cli(capsys, *args, "--json")
        assert code == 0, err
        got = {r["name"]: r["similarity"] for r in json.loads(out)["results"]}
        assert got == pytest.approx(want, rel=1e-9)
        said = err.count("for this ranking only")
        assert said == (2 if centres == "none" else 0)
    assert path.read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["s.sqlite"]
