"""Pool-anchored DTEs (`Space(pool_anchor=True)`) and clipped pool inputs (`clip_pool=True`).

Issue 12, point 2: a DTE made on the pool inputs with the trained surrogate's soft answers as
targets differs from an MTE only in the function learned; an MTE's model can be asked the
text the surrogate reads. Tiny hyper-parameters: these check mechanics, not meaning.
"""

from __future__ import annotations

import numpy as np
import pytest

from fute.core.embedding import cosine
from fute.core.errors import FuteError
from fute.core.examples import Examples
from fute.core.extras import ANSWER_LABELS, POOL_ANSWERS, POOL_ITEMS
from fute.models import CallableModel
from fute.space import Space, load_surrogate
from reportdata import TEXTS
from tinyspace import tiny_caps

TINY = tiny_caps(examples=16, steps=2, fisher_batch_size=8, max_length=32)
POOL = 16


def movies() -> Examples:
    texts, labels = TEXTS["sentiment-movies"]
    return Examples.from_labels(texts, labels, name="movies")


@pytest.fixture
def uncached(monkeypatch):
    """Answers are not cached on disk here, and every input a model is asked is recorded."""
    import fute.models.answers as answers

    asked: list = []
    real = answers.cached_predict

    def predict(model, data, **kw):
        asked.extend(data.inputs() if isinstance(data, Examples) else data)
        return real(model, data, **{**kw, "cache": False})

    monkeypatch.setattr(answers, "cached_predict", predict)
    return asked


def test_pool_anchor_defines_the_space_and_old_keys_stay():
    plain, anchored = Space(pool_anchor=False), Space(pool_anchor=True)
    assert "pool_anchor" not in plain.hparams  # spaces made before the option keep their key
    assert anchored.hparams["pool_anchor"] is True
    assert anchored.key != plain.key
    # anchored is the default where the method can be anchored (fisher, prefix)
    assert Space().pool_anchor and Space().key == anchored.key
    assert Space(method="prefix").pool_anchor
    assert not Space(method="mean-embedding").pool_anchor
    assert plain.with_settings(max_examples=8).key == plain.key  # stays not anchored
    assert anchored.with_settings(max_examples=8).key == anchored.key
    with pytest.raises(FuteError, match="defines the space"):
        plain.with_settings(pool_anchor=True)
    with pytest.raises(FuteError, match="pool_anchor needs a method that trains"):
        Space(method="mean-embedding", pool_anchor=True)
    with pytest.raises(FuteError, match="True or False"):
        Space(pool_anchor="yes")
    # clipping is per embedding: recorded in the settings, not in the key
    assert Space(clip_pool=True, pool_anchor=False).key == plain.key
    assert Space(clip_pool=True).settings["clip_pool"] is True
    assert plain.with_settings(clip_pool=True).clip_pool


@pytest.mark.slow  # four tiny trainings and pool answers (~30-60 s on 2 busy cores)
@pytest.mark.parametrize("method", ["fisher", "prefix"])
def test_anchored_dte_is_the_mte_of_its_own_classifier(method, uncached):
    """The anchored DTE is made exactly as the MTE of a model answering the pool as the
    DTE's trained surrogate does: same inputs, same targets, same vector, bit for bit."""
    space = Space(method=method, pool_anchor=True, pool_size=POOL, progress=False, **TINY[method])
    dte = space.dataset_embedding(movies())
    assert dte.vector.size > 0 and np.isfinite(dte.vector).all()
    assert dte.meta["anchor"]["inputs"] == "pool" and dte.meta["anchor"]["n"] == POOL
    assert dte.meta["training"]["teacher"]["steps"] >= 1
    answers = dte.extras[POOL_ANSWERS]  # the teacher's answers: kept for `behaviour`
    assert answers.shape == (POOL, 2)

    pool = space.pool(1)
    table = {t: row for t, row in zip(pool.texts, answers.astype(np.float64), strict=True)}
    labels = [str(v) for v in dte.extras[ANSWER_LABELS]]
    teacher = CallableModel(
        lambda text: dict(zip(labels, table[text], strict=True)),
        labels,
        per_input=True,
        name="teacher",
    )
    mte = space.model_embedding(teacher)
    np.testing.assert_array_equal(mte.extras[POOL_ITEMS], dte.extras[POOL_ITEMS])
    np.testing.assert_allclose(mte.extras[POOL_ANSWERS], answers, atol=1e-6)
    assert cosine(dte, mte) > 0.9999, cosine(dte, mte)

    plain = Space(method=method, pool_anchor=False, pool_size=POOL, progress=False, **TINY[method])
    again = plain.dataset_embedding(movies())
    assert again.space_key != dte.space_key
    # the unanchored DTE's surrogate answers the pool the same way (same training on the data)
    np.testing.assert_allclose(again.extras[POOL_ANSWERS], answers, atol=1e-6)


@pytest.mark.slow  # four tiny trainings
def test_anchored_dte_is_reproducible():
    space = Space(
        method="fisher", pool_anchor=True, pool_size=POOL, progress=False, **TINY["fisher"]
    )
    first, second = (space.dataset_embedding(movies()) for _ in range(2))
    assert first.vector.tobytes() == second.vector.tobytes()


def test_clip_keeps_exactly_what_the_surrogate_reads():
    surrogate = load_surrogate()
    long = "The Quick brown fox, jumping over ÉLÉGANT dogs; " * 20
    texts, pairs = surrogate.clip([long, "short one"], None, 12)
    assert pairs is None
    assert texts[1] == "short one"  # nothing to cut
    assert long.startswith(texts[0]) and len(texts[0]) < len(long)
    assert texts[0].startswith("The Quick")  # the original characters, not decoded tokens
    cut = surrogate.tokenize([texts[0]], None, 512)[0]["input_ids"]
    full = surrogate.tokenize([long], None, 12)[0]["input_ids"]
    assert cut == full  # re-reading the clipped text gives the same tokens
    # pairs: each side is cut to its part of the truncated (longest-first) pair
    a, b = ["premise " + "word " * 40], ["hypothesis " + "other " * 5]
    ta, tb = surrogate.clip(a, b, 16)
    assert a[0].startswith(ta[0]) and len(ta[0]) < len(a[0])
    assert (
        surrogate.tokenize(ta, tb, 512)[0]["input_ids"]
        == surrogate.tokenize(a, b, 16)[0]["input_ids"]
    )


@pytest.mark.slow  # two tiny MTEs
def test_clipped_pool_is_what_the_model_answers(uncached):
    hp = {**TINY["fisher"], "max_length": 8}

    def first_word(text: str) -> dict:
        good = text.split()[0][:1].lower() in "abcdefghijklm" if text.split() else True
        return {"positive": 0.7 if good else 0.2, "negative": 0.3 if good else 0.8}

    model = CallableModel(first_word, ["positive", "negative"], per_input=True, name="first")
    space = Space(method="fisher", pool_size=POOL, progress=False, **hp)
    plain = space.model_embedding(model)
    n_plain = len(uncached)
    clipped = space.model_embedding(model, clip_pool=True)
    asked = uncached[n_plain:]
    surrogate = load_surrogate()
    assert len(asked) == POOL
    assert all(len(surrogate.tokenize([t], None, 512)[0]["input_ids"]) <= 8 for t in asked)
    pool = space.pool(1)
    assert all(o.startswith(t) for o, t in zip(pool.texts, asked, strict=True))
    assert clipped.meta["pool"]["clipped"]["max_length"] == 8
    assert clipped.meta["pool"]["clipped"]["texts_cut"] > 0
    assert plain.meta["pool"]["clipped"] is None
    assert clipped.meta["settings"]["clip_pool"] is True
    assert clipped.space_key == plain.space_key  # per embedding: they rank together
    # the items keep the ids of the pool inputs, so `behaviour` lines them up with DTEs
    np.testing.assert_array_equal(clipped.extras[POOL_ITEMS], plain.extras[POOL_ITEMS])
    # a model reading only the first word answers the same either way: the same MTE
    np.testing.assert_allclose(clipped.extras[POOL_ANSWERS], plain.extras[POOL_ANSWERS])
    assert cosine(clipped, plain) > 0.99


def test_no_candidates_names_the_pool_anchor_and_its_flag():
    from types import SimpleNamespace

    from fute.ranking import no_candidates_message

    def record(space: Space, kind: str, name: str):
        meta = {"space": {**space.describe(), "key": space.key}}
        return SimpleNamespace(space_key=space.key, kind=kind, name=name, meta=meta)

    plain, anchored = Space(pool_anchor=False), Space(pool_anchor=True)
    target = record(anchored, "dataset", "imdb")
    message = no_candidates_message(target, [record(plain, "model", "vader")], "model")
    assert "pool_anchor (True vs False)" in message, message
    assert (
        "with --no-pool-anchor" in message and "(or the candidates with --pool-anchor)" in message
    )
    assert "older fute" not in message
