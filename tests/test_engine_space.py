"""Space keys, label alignment by name, determinism and boundary errors."""

import numpy as np
import pytest

import fute
from fute.core.embedding import cosine
from fute.core.errors import FuteError, SpaceMismatchError
from fute.core.examples import Examples
from fute.space import Space, load_surrogate
from tinyspace import tiny_caps

FAST = tiny_caps()

TEXTS = [
    f"{w} {n}"
    for w in ("great fun", "awful mess", "loved it", "boring and slow")
    for n in ("movie", "film", "show")
] * 2
LABELS = [lab for lab in ("positive", "negative", "positive", "negative") for _ in range(3)] * 2


def data() -> Examples:
    return Examples.from_labels(TEXTS, LABELS, name="toy")


def test_key_names_surrogate_method_hparams_and_seed():
    space = Space(method="fisher", seed=3, progress=False, **FAST["fisher"])
    s = load_surrogate()
    assert space.key.startswith(f"{s.name}@{s.weights_sha256[:16]}/fisher/")
    assert space.key.endswith("/seed3")
    assert Space(method="fisher", seed=3, **FAST["fisher"]).key == space.key
    assert Space(method="fisher", seed=4, **FAST["fisher"]).key != space.key
    assert Space(method="fisher", seed=3, **{**FAST["fisher"], "lr": 1e-4}).key != space.key
    assert Space(method="prefix", seed=3).key != space.key
    assert s.identity == f"{s.name}@{s.weights_sha256}"


def test_unknown_method_and_hyperparameter_are_one_line_errors():
    with pytest.raises(FuteError, match="unknown method"):
        Space(method="tfidf")
    with pytest.raises(FuteError, match="no hyper-parameter learning_rate"):
        Space(method="fisher", learning_rate=1.0)
    with pytest.raises(FuteError, match="must be > 0"):
        Space(method="prefix", positions=0)


def test_vectors_of_two_spaces_never_meet():
    a = Space(method="fisher", seed=0, progress=False, **FAST["fisher"]).dataset_embedding(data())
    b = Space(method="fisher", seed=1, progress=False, **FAST["fisher"]).dataset_embedding(data())
    with pytest.raises(SpaceMismatchError):
        cosine(a, b)


@pytest.mark.parametrize("method", ["fisher", "prefix"])
def test_same_inputs_and_seed_give_a_bit_identical_vector(method):
    first = Space(method=method, seed=7, progress=False, **FAST[method]).dataset_embedding(data())
    second = Space(method=method, seed=7, progress=False, **FAST[method]).dataset_embedding(data())
    assert first.vector.dtype == np.float32
    assert first.vector.tobytes() == second.vector.tobytes()
    other = Space(method=method, seed=8, progress=False, **FAST[method]).dataset_embedding(data())
    assert other.vector.tobytes() != first.vector.tobytes()


@pytest.mark.parametrize("method", ["fisher", "prefix"])
def test_labels_are_tied_to_heads_by_name_not_position(method):
    """Soft targets given as [positive, negative] or [negative, positive] give one vector."""
    rng = np.random.default_rng(0)
    p = rng.uniform(0.05, 0.95, size=len(TEXTS))
    pos_first = Examples.from_soft_labels(TEXTS, np.stack([p, 1 - p], 1), ["Positive", "negative"])
    neg_first = Examples.from_soft_labels(TEXTS, np.stack([1 - p, p], 1), ["negative", "positive "])
    space = Space(method=method, seed=0, progress=False, **FAST[method])
    a, b = space.dataset_embedding(pos_first), space.dataset_embedding(neg_first)
    assert a.vector.tobytes() == b.vector.tobytes()


def test_metadata_records_provenance_versions_and_training():
    e = Space(method="prefix", progress=False, **FAST["prefix"]).dataset_embedding(
        data(), name="toy set"
    )
    assert e.kind == "dataset" and e.name == "toy set"
    meta = e.meta
    assert meta["data"]["content_sha256"] == data().content_hash()
    assert meta["data"]["labels"] == ["negative", "positive"]
    assert set(meta["versions"]) >= {"fute", "torch", "transformers"}
    assert meta["space"]["hparams"]["positions"] == 4
    assert meta["settings"] == {"max_examples": 24}  # per embedding, not in the key
    assert "max_examples" not in meta["space"]["hparams"]
    assert meta["training"]["steps"] == 3
    assert meta["training"]["n_examples"] == 24
    assert meta["space"]["surrogate_sha256"] == load_surrogate().weights_sha256


def test_mean_embedding_describes_inputs_and_refuses_models():
    e = fute.dataset_embedding(data(), method="mean-embedding", progress=False)
    assert e.vector.shape == (load_surrogate().hidden_size,)
    with pytest.raises(FuteError, match="ignores labels"):
        Space(method="mean-embedding").model_embedding(object())


def test_unlabelled_data_is_refused():
    with pytest.raises(FuteError, match="no labels"):
        Space(method="prefix").dataset_embedding(Examples(texts=["a", "b"]))


def test_import_fute_stays_light():
    import subprocess
    import sys

    code = "import sys, fute; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
