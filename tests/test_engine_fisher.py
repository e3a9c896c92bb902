"""The batched per-example Fisher equals the definition computed one example at a time."""

import numpy as np
import pytest
import torch

from fute.engine.methods.fisher import PerExampleFisher, fisher_diagonal, fisher_diagonal_loop
from fute.engine.methods.training import label_head
from fute.space import load_surrogate

TEXTS = [
    "a wonderful, moving film",
    "the plot was dull and the acting worse",
    "fine",
    "I would not watch this again, not even for free",
    "one of the best things I have seen this year",
]
PAIRS = ["it is good", "it is bad", "neutral", "bad", "good"]
TARGETS = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.4, 0.6], [0.9, 0.1], [0.0, 1.0]])


@pytest.fixture(scope="module")
def surrogate():
    return load_surrogate()


@pytest.mark.parametrize("kernel", [True, False], ids=["c-kernel", "torch"])
@pytest.mark.parametrize("pairs", [None, PAIRS], ids=["single", "pair"])
def test_batched_fisher_equals_per_example_loop(surrogate, pairs, kernel):
    items = surrogate.tokenize(TEXTS, pairs, 32)
    encoder = surrogate.fresh_encoder()
    head = label_head(surrogate.hidden_size, ["negative", "positive"], seed=0)
    batched, fisher = fisher_diagonal(
        encoder, head, surrogate, items, TARGETS, batch_size=2, progress=False, kernel=kernel
    )
    loop = fisher_diagonal_loop(encoder, head, surrogate, items, TARGETS)
    assert fisher.uncovered == []
    # this machine has a C compiler: the kernel must really run, not fall back silently
    assert fisher.kernel == ("c" if kernel else "torch")
    np.testing.assert_allclose(batched, loop, rtol=1e-3, atol=1e-9)
    # the mean of squares, not the square of the mean: they differ by far more than rounding
    assert np.abs(batched).sum() > 0


def test_word_embeddings_are_optional_and_exact(surrogate):
    items = surrogate.tokenize(TEXTS[:3], None, 32)
    encoder = surrogate.fresh_encoder()
    head = label_head(surrogate.hidden_size, ["negative", "positive"], seed=0)
    without, _ = fisher_diagonal(encoder, head, surrogate, items, TARGETS[:3], progress=False)
    full, _ = fisher_diagonal(
        encoder, head, surrogate, items, TARGETS[:3], word_embeddings=True, progress=False
    )
    loop = fisher_diagonal_loop(encoder, head, surrogate, items, TARGETS[:3], word_embeddings=True)
    assert full.size - without.size == encoder.get_input_embeddings().weight.numel()
    np.testing.assert_allclose(full, loop, rtol=1e-3, atol=1e-9)
    # rows of tokens the data never uses are exactly zero
    rows = full[: encoder.get_input_embeddings().weight.numel()].reshape(-1, surrogate.hidden_size)
    used = {t for it in items for t in it["input_ids"]}
    assert np.count_nonzero(np.abs(rows).sum(1)) == len(used)


def test_head_is_excluded_and_every_encoder_parameter_covered(surrogate):
    encoder = surrogate.fresh_encoder()
    probe = PerExampleFisher(encoder, word_embeddings=True)
    assert probe.uncovered == []
    assert sum(n for _, n in probe.layout()) == sum(p.numel() for p in encoder.parameters())


def test_squared_mean_gradient_is_not_the_fisher(surrogate):
    """The FUTE authors' estimator (square of the mean gradient) is a different quantity."""
    items = surrogate.tokenize(TEXTS, None, 32)
    encoder = surrogate.fresh_encoder()
    head = label_head(surrogate.hidden_size, ["negative", "positive"], seed=0)
    fisher, _ = fisher_diagonal(encoder, head, surrogate, items, TARGETS, progress=False)
    probe = PerExampleFisher(encoder)
    params = dict(encoder.named_parameters())
    from fute.engine.methods.fisher import classifier_forward
    from fute.engine.methods.training import soft_cross_entropy

    logits = classifier_forward(encoder, head)(surrogate.collate(items))
    grads = torch.autograd.grad(
        soft_cross_entropy(logits, TARGETS).mean(), [params[n] for n in probe.param_names]
    )
    squared_mean = torch.cat([g.reshape(-1) for g in grads]).pow(2).numpy()
    assert np.all(squared_mean <= fisher * (1 + 1e-4) + 1e-12)  # Jensen: (mean g)^2 <= mean g^2
    assert squared_mean.sum() < 0.9 * fisher.sum()
