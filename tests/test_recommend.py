"""`fute recommend` / `fute.recommend`: the order, evidence, caution, errors, report section.

Hand-made embeddings with hand-made extras (no torch): the right answers are known.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from fute.core.embedding import TaskEmbedding
from fute.core.errors import FuteError
from fute.evaluation.priors import reciprocal_rank_fusion
from fute.evaluation.prompt_baselines import mutual_information
from fute.ranking.recommend import DEFAULT, NOISE_GAP, recommend, recommend_among
from fute.store import Store

SPACE = "toy@0000/fisher/abc/seed0"
P = 40  # pool items


def silent(message: str) -> None:
    pass


def answers(p_pos: np.ndarray) -> np.ndarray:
    return np.stack([1 - p_pos, p_pos], 1).astype(np.float32)  # negative, positive


def emb(name, vector, kind="prompted-lm", p_pos=None, units=None) -> TaskEmbedding:
    extras = {"fisher_units": np.abs(units if units is not None else np.asarray(vector)[:5])}
    if p_pos is not None:
        extras |= {
            "pool_answers": answers(p_pos),
            "answer_labels": np.array(["negative", "positive"]),
            "pool_items": np.arange(P, dtype=np.uint64),
        }
    meta = {"space": {"method": "fisher", "seed": 0, "hparams": {}}}
    return TaskEmbedding(np.asarray(vector, np.float32), SPACE, kind, name, meta, extras)


def toy(twin: bool = True) -> tuple[TaskEmbedding, list[TaskEmbedding]]:
    rng = np.random.default_rng(0)
    t = rng.normal(size=8)
    truth = 1 / (1 + np.exp(-3 * rng.normal(size=P)))
    target = emb("target", t, kind="dataset", p_pos=truth)
    good = emb("good", t + 0.05 * rng.normal(size=8), p_pos=np.clip(truth * 1.1, 0.01, 0.99))
    cands = [
        good,
        emb("middling", t + 1.0 * rng.normal(size=8), p_pos=0.3 + 0.4 * truth),
        emb("constant", rng.normal(size=8), p_pos=np.full(P, 0.5)),
        emb("far", -t + 0.2 * rng.normal(size=8), p_pos=1 - truth),
    ]
    if twin:
        cands.append(emb("twin", good.vector.copy(), p_pos=good.extras["pool_answers"][:, 1]))
    return target, cands


def pool_mis(cands) -> list[float]:
    return [mutual_information(c.extras["pool_answers"] / c.extras["pool_answers"].sum(1, keepdims=True)) for c in cands]  # fmt: skip


def cosines(target, cands) -> np.ndarray:
    unit = np.stack([c.vector / np.linalg.norm(c.vector) for c in cands])
    return unit @ (target.vector / np.linalg.norm(target.vector))


def test_the_order_is_the_pre_registered_default_cosine_alone():
    assert DEFAULT["similarity"] == "cosine" and DEFAULT["prior"] is None
    assert DEFAULT["fusion"] is None and DEFAULT["provisional"] is False
    assert DEFAULT["method"] == "fisher" and DEFAULT["pool_anchor"] is True
    target, cands = toy(twin=False)
    rec = recommend_among(target, cands, kind="prompted-lm")
    names = [s.name for s in rec.signals]
    for expected in ("cosine", "centred-cosine", "task2vec", "behaviour", "pool-mi", "pool-cbm-mi"):
        assert expected in names
    assert "maxsim" not in names  # the candidates carry no prefix positions
    cos = cosines(target, cands)
    assert [c.name for c in rec.candidates] == [cands[i].name for i in np.argsort(-cos)]
    np.testing.assert_allclose([c.fused for c in rec.candidates], np.sort(cos)[::-1], rtol=1e-5)
    first = rec.candidates[0]
    assert first.name == "good" and first.signals["cosine"][1] == 1  # rank 1 by cosine
    mi = pool_mis(cands)
    assert first.signals["pool-mi"][0] == pytest.approx(max(mi), rel=1e-5)  # evidence, not order
    const = next(c for c in rec.candidates if c.name == "constant")
    assert const.signals["behaviour"][0] == pytest.approx(0.0, abs=1e-9)  # constant answers: 0
    assert const.signals["pool-mi"][0] == pytest.approx(0.0, abs=1e-9)
    assert {s.name for s in rec.signals if s.in_fusion} == {"cosine"}
    cos_signal = next(s for s in rec.signals if s.name == "cosine")
    assert cos_signal.kendall == pytest.approx(1.0)  # the order is the cosine order
    assert all(s.kendall is None or -1 <= s.kendall <= 1 for s in rec.signals)
    assert rec.caution is None  # "good" is ahead on every signal
    doc = rec.to_dict(top=2)
    assert doc["default_provisional"] is False and doc["default"]["similarity"] == "cosine"
    assert len(doc["candidates"]) == 2 and doc["n_candidates"] == 4
    low, high = doc["candidates"][0]["rank_range"]
    assert low == 1 and high >= 1
    json.dumps(doc)  # plain JSON


def test_rrf_fusion_when_the_default_names_a_prior(monkeypatch):
    monkeypatch.setitem(DEFAULT, "prior", "pool-mi")
    monkeypatch.setitem(DEFAULT, "fusion", "rrf")
    target, cands = toy(twin=False)
    rec = recommend_among(target, cands, kind="prompted-lm")
    mi = pool_mis(cands)
    want = reciprocal_rank_fusion([cosines(target, cands), mi], k=DEFAULT["k"])
    assert [c.name for c in rec.candidates] == [cands[i].name for i in np.argsort(-want, kind="stable")]  # fmt: skip
    np.testing.assert_allclose([c.fused for c in rec.candidates], np.sort(want)[::-1])
    assert {s.name for s in rec.signals if s.in_fusion} == {"cosine", "pool-mi"}


def in_space(e: TaskEmbedding, method: str, hparams: dict) -> TaskEmbedding:
    meta = {**e.meta, "space": {"method": method, "seed": 0, "hparams": hparams}}
    return TaskEmbedding(e.vector, e.space_key, e.kind, e.name, meta, e.extras)


def test_a_space_other_than_the_defaults_is_said_for_prompts_not_for_sources():
    target, cands = toy(twin=False)
    notes = recommend_among(target, cands, kind="prompted-lm").notes  # plain fisher
    assert any("chosen for fisher --pool-anchor spaces" in n and "measured it weaker" in n for n in notes)  # fmt: skip
    anchored = in_space(target, "fisher", {"pool_anchor": True})
    assert not any("chosen for" in n for n in recommend_among(anchored, cands).notes)
    prefix = in_space(target, "prefix", {})
    assert any("space is prefix" in n for n in recommend_among(prefix, cands).notes)
    sources = [emb(f"src{i}", c.vector, kind="dataset") for i, c in enumerate(cands)]
    assert not any("chosen for" in n for n in recommend_among(target, sources).notes)


def test_a_twin_at_the_top_is_within_noise():
    target, cands = toy(twin=True)
    rec = recommend_among(target, cands)
    assert {c.name for c in rec.candidates[:2]} == {"good", "twin"}
    assert rec.caution is not None and "within noise" in rec.caution
    gap = rec.noise["gaps"][0]
    assert gap["median_gap"] == pytest.approx(0.0, abs=1e-6) and gap["median_gap"] < NOISE_GAP
    assert rec.noise["threshold"] == NOISE_GAP


def test_data_set_candidates_get_no_prior_and_missing_answers_are_said():
    target, cands = toy(twin=False)
    sources = [emb(f"src{i}", c.vector, kind="dataset", p_pos=None) for i, c in enumerate(cands)]
    rec = recommend_among(target, sources, kind="dataset")
    assert all(s.type == "similarity" for s in rec.signals)
    cos = [c.signals["cosine"][0] for c in rec.candidates]
    assert cos == sorted(cos, reverse=True)  # one fused list: the cosine order
    bare = emb("bare", cands[0].vector)  # a prompt stored before fute kept pool answers
    rec = recommend_among(target, [*cands[1:], bare], kind="prompted-lm")
    assert any("no answers on the pool" in n for n in rec.notes)
    assert "pool-mi" not in next(c for c in rec.candidates if c.name == "bare").signals


@pytest.fixture
def store_path(tmp_path):
    target, cands = toy(twin=True)
    path = tmp_path / "s.sqlite"
    st = Store(path, notify=silent)
    st.add_many([target, *cands, emb("other-set", cands[2].vector, kind="dataset", p_pos=None)])
    return path


def test_recommend_from_a_store_reads_only(store_path):
    import fute

    before = Store(store_path, readonly=True)
    generation, centres = before.generation(), before.centres()
    rec = fute.recommend("target", kind="prompt", top=3, store=store_path)
    assert rec.kind == "prompted-lm" and len(rec.candidates) == 5
    assert rec.to_dict()["candidates"][0]["id"] is not None
    assert len(rec.to_dict()["candidates"]) == 3
    import fute.ranking.recommend as module

    assert fute.recommend is module.recommend  # the face's function, whatever was imported
    assert recommend("target", store=str(store_path)).kind == "prompted-lm"  # kind: first found
    assert recommend("target", kind="dataset", store=store_path).candidates[0].name == "other-set"
    after = Store(store_path, readonly=True)
    assert after.generation() == generation and after.centres() == centres  # nothing written


def test_errors_are_one_line(store_path, tmp_path):
    with pytest.raises(FuteError, match="no data set 'nope'.*stored data sets: other-set, target"):
        recommend("nope", store=store_path)
    with pytest.raises(FuteError, match="is a prompted-lm embedding"):
        recommend("good", store=store_path)
    good_id = Store(store_path, readonly=True).get("good").meta["store_id"]
    with pytest.raises(FuteError, match="'good' is a prompted-lm embedding"):
        recommend(f"#{good_id}", store=store_path)
    target_id = Store(store_path, readonly=True).get("target").meta["store_id"]
    assert recommend(f"#{target_id}", store=store_path).target.name == "target"
    with pytest.raises(FuteError, match="no model embeddings"):
        recommend("target", kind="model", store=store_path)
    with pytest.raises(FuteError, match="use one of prompt, model, dataset"):
        recommend("target", kind="tasks", store=store_path)
    empty = tmp_path / "empty.sqlite"
    Store(empty, notify=silent)
    with pytest.raises(FuteError, match="holds no embeddings"):
        recommend("target", store=empty)


def fute_cli(*args: str, columns: int = 80, timeout: int = 120) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "COLUMNS": str(columns),
    }
    return subprocess.run(
        [sys.executable, "-m", "fute", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def test_cli_table_fits_80_columns_json_and_errors(store_path):
    os.chmod(store_path, 0o444)  # read-only access is enough
    proc = fute_cli("recommend", "target", "--kind", "prompt", "--store", str(store_path))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, proc.stdout
    assert "Recommended prompts for target" in proc.stdout
    assert "caution: #1" in proc.stdout and "pre-registered default" in proc.stdout
    proc = fute_cli("recommend", "target", "--top", "2", "--json", "--store", str(store_path))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["default_provisional"] is False and doc["default"]["fusion"] is None
    assert len(doc["candidates"]) == 2 and doc["caution"]
    assert {"cosine", "pool-mi", "pool-cbm-mi", "behaviour"} <= {s["name"] for s in doc["signals"]}
    for args in (("nope",), ("target", "--kind", "model")):
        proc = fute_cli("recommend", *args, "--store", str(store_path))
        assert proc.returncode == 2 and proc.stderr.startswith("error: ")
        assert proc.stderr.count("\n") == 1, proc.stderr


def test_report_shows_the_recommendations(store_path, tmp_path):
    from fute.report import write_report

    index = write_report(Store(store_path, readonly=True), tmp_path / "rep")
    html = index.read_text()
    assert "Recommendations" in html and 'class="recommendation"' in html
    assert "within noise" in html and "pre-registered default" in html
    target, cands = toy()
    html = write_report([target, *cands], tmp_path / "mem").read_text()
    assert 'data-rec-dataset="target"' in html and 'class="recommendation"' in html


@pytest.mark.slow  # tiny real fisher and prefix spaces (~1 min on 2 busy cores)
@pytest.mark.parametrize("method", ["fisher", "prefix"])
def test_real_embeddings_give_every_signal_their_method_makes(tmp_path, method):
    from fute.core.examples import Examples
    from fute.models import CallableModel
    from fute.space import Space

    words = ("great fun", "awful mess", "loved it", "boring and slow")
    texts = [f"{w} {n}" for w in words for n in ("movie", "film", "show")] * 3
    labels = [y for y in ("positive", "negative", "positive", "negative") for _ in range(3)] * 3
    data = Examples.from_labels(texts, labels, name="toy-sentiment")

    def keyword(text: str) -> dict:
        good = any(w in text.lower() for w in ("good", "great", "love", "best", "fun"))
        return {"positive": 0.8 if good else 0.3, "negative": 0.2 if good else 0.7}

    def flat(text: str) -> dict:
        return {"positive": 0.5, "negative": 0.5}

    hp = {
        "fisher": dict(max_examples=36, max_steps=3, batch_size=12, fisher_examples=12,
                       dev_fraction=0.0, projection_dim=256),
        "prefix": dict(max_examples=36, max_steps=3, batch_size=12, positions=4, dev_fraction=0.0),
    }[method]  # fmt: skip
    space = Space(method=method, seed=0, pool_size=48, progress=False, **hp)
    st = Store(tmp_path / "s.sqlite", notify=silent)
    st.add(space.dataset_embedding(data))
    for fn, name in ((keyword, "keyword"), (flat, "flat")):
        model = CallableModel(fn, ["positive", "negative"], per_input=True, name=name)
        st.add(space.model_embedding(model))
    rec = recommend("toy-sentiment", store=tmp_path / "s.sqlite")
    assert rec.kind == "model" and {c.name for c in rec.candidates} == {"keyword", "flat"}
    made = {"fisher": "task2vec", "prefix": "maxsim"}[method]
    names = {s.name for s in rec.signals}
    assert {"cosine", "centred-cosine", "rrf-components", "behaviour", made} <= names
    assert {"pool-mi", "pool-cbm-mi"} <= names
    flat_c = next(c for c in rec.candidates if c.name == "flat")
    assert flat_c.signals["pool-mi"][0] == pytest.approx(0.0, abs=1e-6)
    assert flat_c.signals["behaviour"][0] == pytest.approx(0.0, abs=1e-6)  # constant answers
    json.dumps(rec.to_dict())


def test_show_recommendation_prints_the_table_in_80_columns(store_path):
    from rich.console import Console

    from fute.cli.recommend import show_recommendation

    console = Console(record=True, width=80, highlight=False)
    rec = show_recommendation("target", kind="prompt", top=3, store=store_path, console=console)
    text = console.export_text()
    assert rec.candidates[0].name in text and "caution:" in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_the_default_space_of_space_and_the_cli_is_the_one_recommend_was_chosen_for():
    from fute.cli.embed import _space
    from fute.ranking.recommend import _space_note
    from fute.space import Space

    target, _ = toy(twin=False)

    def note(space) -> str | None:
        meta = {**target.meta, "space": space.describe()}
        return _space_note(TaskEmbedding(target.vector, space.key, "dataset", "t", meta), "model")

    default = Space()
    assert default.pool_anchor and default.method.name == DEFAULT["method"]
    assert note(default) is None
    assert _space("fisher", 0, None, None).key == default.key  # `fute embed ...` as typed
    plain = _space("fisher", 0, None, None, pool_anchor=False)  # --no-pool-anchor
    assert not plain.pool_anchor and "pool_anchor" not in plain.hparams
    assert "chosen for fisher --pool-anchor spaces" in note(plain)
    assert not _space("mean-embedding", 0, None, None).pool_anchor  # cannot be anchored


@pytest.mark.slow  # a real DTE and MTE with small caps (~1-2 min on 2 busy cores)
def test_the_readmes_commands_give_a_recommendation_in_the_measured_space(tmp_path):
    """README, "Command line": embed a data set, embed a model, `fute recommend`: no note
    that the space is not the one the default order was chosen for."""
    store = str(tmp_path / "s.sqlite")
    for args in (
        ("embed", "dataset", "sentiment-imdb", "--max-examples", "32"),
        ("embed", "model", "vader", "--max-examples", "32", "--pool-size", "64"),
    ):
        proc = fute_cli(*args, "--store", store, timeout=900)
        assert proc.returncode == 0, proc.stderr
    proc = fute_cli("recommend", "sentiment-imdb", "--json", "--store", store)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert [c["name"] for c in doc["candidates"]] == ["vader"]
    assert not any("chosen for" in n for n in doc["notes"]), doc["notes"]
    assert "chosen for" not in proc.stderr
