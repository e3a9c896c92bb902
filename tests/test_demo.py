"""The demo's pieces that are not covered by `make demo` itself: the word cut its models read
inputs through, its plan checks, and its agreement with the prompt-selection benchmark."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fute.cli.demo import DemoPlan, FirstWords, benchmark_agreement
from fute.core.errors import FuteError
from fute.models import CallableModel, VaderModel
from fute.models.answers import cached_predict
from fute.models.protocol import model_identity


class Recorder:
    """A pair model that records what it was asked (to see what FirstWords passes on)."""

    labels = ("no", "yes")
    arity = 2
    name = "recorder"
    batch_size = 3

    def __init__(self) -> None:
        self.seen: list = []

    def identity(self) -> str:
        return "recorder:v1"

    def predict_proba(self, inputs):
        self.seen += list(inputs)
        return np.full((len(inputs), 2), 0.5)


def test_first_words_cuts_each_text_of_an_input_and_keeps_short_ones():
    inner = Recorder()
    model = FirstWords(inner, 3)
    probs = model.predict_proba([("one two three four five", "a b"), ("x", "p q r s")])
    assert probs.shape == (2, 2)
    assert inner.seen == [("one two three", "a b"), ("x", "p q r")]
    assert (model.labels, model.arity, model.batch_size, model.name) == (
        ("no", "yes"),
        2,
        3,
        "recorder",
    )


def test_first_words_answers_are_cached_apart_from_whole_text_answers(tmp_path):
    vader = VaderModel()
    text = "The plot was fine. " + "Awful, dreadful, horrible acting ruined it. " * 3
    whole = cached_predict(vader, [text], cache=tmp_path, progress=False)
    cut = cached_predict(FirstWords(vader, 4), [text], cache=tmp_path, progress=False)
    assert model_identity(FirstWords(vader, 4)) != model_identity(vader)
    assert model_identity(FirstWords(vader, 4)) != model_identity(FirstWords(vader, 5))
    # VADER reads "The plot was fine." as positive and the whole text as negative
    assert cut[0, 1] > 0.5 > whole[0, 1]


def test_first_words_keeps_the_prompt_of_a_prompted_model():
    class Prompted(Recorder):
        prompt = "a prompt object"

    assert FirstWords(Prompted(), 5).prompt == "a prompt object"
    assert FirstWords(CallableModel(lambda xs: [[1.0]] * len(xs), labels=["a"]), 5).prompt is None


@pytest.mark.parametrize("bad", [0, -3])
def test_bad_word_caps_are_refused(bad):
    with pytest.raises(FuteError, match="max_words must be at least 1"):
        FirstWords(Recorder(), bad)
    with pytest.raises(FuteError, match="max_words must be at least 1"):
        DemoPlan(max_words=bad).check()
    DemoPlan(max_words=None).check()  # None: models read whole inputs


def demo_result(similarities: dict) -> dict:
    return {
        "target": "sentiment-imdb",
        "prompt_similarities": {f"smollm2/{p}": s for p, s in similarities.items()},
    }


def benchmark_file(tmp_path, prompts: dict) -> str:
    path = tmp_path / "prompt_selection.json"
    path.write_text(json.dumps({"truth": {"sentiment-imdb": {"prompts": prompts}}}))
    return str(path)


def test_benchmark_agreement_is_the_spearman_over_shared_prompts(tmp_path):
    truth = {
        "p1": {"accuracy": 0.9, "macro_f1": 0.9},
        "p2": {"accuracy": 0.6, "macro_f1": 0.2},
        "p3": {"accuracy": 0.5, "macro_f1": 0.5},
        "not-in-demo": {"accuracy": 0.1, "macro_f1": 0.1},
    }
    result = demo_result({"p1": 0.8, "p2": 0.7, "p3": 0.1, "not-in-benchmark": 0.9})
    agreement = benchmark_agreement(result, benchmark_file(tmp_path, truth))
    assert agreement["n_prompts"] == 3
    assert agreement["spearman_accuracy"] == pytest.approx(1.0)
    assert agreement["spearman_macro_f1"] == pytest.approx(0.5)


def test_benchmark_agreement_says_what_is_wrong_with_its_input(tmp_path):
    with pytest.raises(FuteError, match="cannot read benchmark results"):
        benchmark_agreement(demo_result({"p1": 1.0}), tmp_path / "missing.json")
    other = tmp_path / "other.json"
    other.write_text("[1, 2]")
    with pytest.raises(FuteError, match="no prompt-selection truth for 'sentiment-imdb'"):
        benchmark_agreement(demo_result({"p1": 1.0}), other)
    one = benchmark_file(tmp_path, {"p1": {"accuracy": 0.5}})
    with pytest.raises(FuteError, match="share 1 prompts; need at least 2"):
        benchmark_agreement(demo_result({"p1": 1.0, "p2": 0.5}), one)


def test_a_stored_model_embedding_counts_as_done_only_with_the_plans_caps():
    from fute.cli.demo import _same_caps

    def meta(n, identity):
        return {"pool": {"n": n}, "model": {"identity": identity}}

    plan = DemoPlan(pool_size=32, max_words=48)
    assert _same_caps(meta(32, "vader:3.3.2|first 48 words"), plan)
    assert not _same_caps(meta(64, "vader:3.3.2|first 48 words"), plan)
    assert not _same_caps(meta(32, "vader:3.3.2|first 12 words"), plan)
    assert not _same_caps(meta(32, "vader:3.3.2"), plan)
    whole = DemoPlan(pool_size=64, max_words=None)
    assert _same_caps(meta(64, "vader:3.3.2"), whole)
    assert not _same_caps(meta(64, "vader:3.3.2|first 48 words"), whole)
    assert not _same_caps({}, whole)
