"""Training helpers give models `load_model` opens, with the data set's labels."""

import pytest

from fute.core.examples import Examples
from fute.models import HFClassifier, load_model, predict
from fute.models.train import train_minilm_classifier

pytestmark = pytest.mark.slow


def test_minilm_classifier_round_trip(tmp_path):
    pos = [
        "I loved this film",
        "what a wonderful day",
        "great service, very happy",
        "brilliant and moving",
    ]
    neg = [
        "I hated this film",
        "what an awful day",
        "terrible service, very angry",
        "boring and painful",
    ]
    data = Examples.from_labels((pos + neg) * 4, (["positive"] * 4 + ["negative"] * 4) * 4)
    out = train_minilm_classifier(data, tmp_path / "minilm", epochs=3, batch_size=8, lr=1e-4)
    for model in (HFClassifier(out), load_model(str(out)), load_model(f"hf:{out}")):
        assert model.labels == ["negative", "positive"]
    p = predict(HFClassifier(out), ["a wonderful, happy film", "an awful, boring day"])
    assert p[0, 1] > 0.5 > p[1, 1]
