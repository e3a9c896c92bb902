"""The black-box protocol: validation errors name the model and the input; adapters work."""

import numpy as np
import pytest

from fute.core.errors import ModelError
from fute.core.examples import Examples
from fute.models import CallableModel, SklearnModel, VaderModel, load_model, predict
from fute.models.train import train_tfidf_logreg

TEXTS = ["a lovely, warm film", "dull and far too long"]


def fixed(output, labels=("negative", "positive")):
    return CallableModel(lambda xs: output, labels, name="fixture-model")


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (np.ones((2, 3)) / 3, "shape"),
        ([[0.5, 0.5], [np.nan, 1.0]], "NaN"),
        ([[0.5, 0.5], [-0.2, 1.2]], "negative"),
        ([[0.5, 0.5], [0.7, 0.7]], "sum to 1"),
        ([{"negative": 0.5, "positive": 0.5}, {"negative": 0.5, "neutral": 0.5}], "undeclared"),
        ([{"negative": 0.5, "positive": 0.5}, {"negative": 1.0}], "no probability"),
    ],
)
def test_bad_outputs_name_model_and_input(output, message):
    with pytest.raises(ModelError, match=message) as err:
        predict(fixed(output), TEXTS)
    text = str(err.value)
    assert "fixture-model" in text
    if message != "shape":  # a wrong shape concerns the whole batch, not one input
        assert "dull and far too long" in text


def test_dict_rows_follow_declared_label_order():
    model = CallableModel(
        lambda x: {"positive": 0.9, "negative": 0.1}, ["negative", "positive"], per_input=True
    )
    assert predict(model, TEXTS).tolist() == [[0.1, 0.9], [0.1, 0.9]]


def test_wrong_arity_is_refused():
    pair_model = CallableModel(lambda xs: np.full((len(xs), 2), 0.5), ["a", "b"], arity=2)
    with pytest.raises(ModelError, match="text pair"):
        predict(pair_model, TEXTS)


def test_vader_maps_compound_to_probabilities():
    p = predict(
        VaderModel(), ["I love this, it is wonderful!", "This is terrible and sad.", "A table."]
    )
    assert p[0, 1] > 0.8 and p[1, 0] > 0.7
    assert p[2].tolist() == [0.5, 0.5]  # no sentiment words: compound 0


def test_sklearn_pipeline_round_trip(tmp_path):
    texts = ["great fun", "loved it", "wonderful cast", "awful plot", "boring mess", "hated it"] * 3
    labels = ["positive"] * 3 + ["negative"] * 3
    path = train_tfidf_logreg(Examples.from_labels(texts, labels * 3), tmp_path / "m.joblib")
    for model in (SklearnModel(path), load_model(str(path)), load_model(f"sklearn:{path}")):
        assert list(model.labels) == ["negative", "positive"]
        p = predict(model, ["loved the wonderful cast", "a boring, awful mess"])
        assert p[0, 1] > 0.5 > p[1, 1]
    assert SklearnModel(path).identity() == SklearnModel(path).identity()


def test_load_model_errors_say_what_to_write():
    with pytest.raises(ModelError, match="prompt"):
        load_model("lm:smollm2")
    with pytest.raises(ModelError, match="openai:BASE_URL#MODEL"):
        load_model("openai:http://127.0.0.1:1", prompt="sent-review-colon")
    with pytest.raises(ModelError, match="cannot tell"):
        load_model("no-such-model")
