"""Packed (unpadded) scoring of Llama-family LMs: the same scores as the padded path and
as one full forward pass per sequence, for any cut into passes."""

import numpy as np
import pytest
import torch

from fute.models import default_lm
from fute.models.backends import packed
from fute.models.backends.packed import Segment, packable, positions_of, token_batches

REVIEWS = [
    "An absolute joy, I loved every minute.",
    "Boring, predictable and far too long, with a plot that goes nowhere at all for two "
    "hours and a cast that seems to know it.",
    "It was fine.",
    "The worst meal I have had in years.",
    "Fine.",
]
WORDS = [" positive", " negative", " does not mention"]  # 1, 1 and 3 tokens


def test_token_batches_cut_in_order_within_the_budget():
    assert token_batches([3, 3, 3, 3], 6) == [[0, 1], [2, 3]]
    assert token_batches([2, 9, 2], 6) == [[0], [1], [2]]  # too long for any: alone
    assert token_batches([1, 1, 1], 100) == [[0, 1, 2]]
    assert token_batches([], 5) == []


def test_positions_restart_after_each_chain_of_parents():
    segs = [Segment(0, 3), Segment(3, 5, (0,)), Segment(5, 7, (0,)), Segment(7, 8, (0, 2))]
    assert positions_of(segs) == [0, 1, 2, 3, 4, 3, 4, 5]


@pytest.fixture(scope="module")
def tiny():
    """A small random Llama made here (no download): wiring checks, exact to rounding."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=97,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )
    return LlamaForCausalLM(cfg).eval()


def full_logits(model, ids):
    with torch.inference_mode():
        return model(torch.tensor([ids])).logits[0]


def test_segments_equal_separate_sequences(tiny):
    """A prefix segment with two children and a grandchild: each chain's hidden states
    equal one ordinary forward pass over that chain's tokens."""
    prefix, a, b, tail = [5, 6, 7], [8, 9], [10, 11, 12, 13], [14, 15]
    segs = [Segment(0, 3), Segment(3, 5, (0,)), Segment(5, 9, (0,)), Segment(9, 11, (0, 2))]
    with torch.inference_mode():
        hidden = packed.packed_hidden(tiny, prefix + a + b + tail, segs)
        logits = tiny.lm_head(hidden)
    for rows, chain in (
        (range(0, 5), prefix + a),
        (list(range(0, 3)) + list(range(5, 9)), prefix + b),
        (list(range(0, 3)) + list(range(5, 11)), prefix + b + tail),
    ):
        torch.testing.assert_close(logits[list(rows)], full_logits(tiny, chain), atol=1e-5, rtol=0)


def test_no_context_gives_an_empty_table(tiny):
    assert packed.score_packed(tiny, [], [[3], [4, 5]]).shape == (0, 2)


def test_packed_scores_equal_full_passes_on_the_tiny_model(tiny):
    """Each context's next-token log-probabilities (a one- and a three-token word), for
    every cut into passes, equal those of one ordinary forward pass per sequence."""
    ctx = [[1, 2, 3, 4], [1, 2, 3, 9, 8, 7], [1, 2, 3, 5]]
    cont = [[6], [10, 11, 12]]
    want = np.zeros((3, 2))
    for i, c in enumerate(ctx):
        logp = full_logits(tiny, c + cont[1][:-1]).double().log_softmax(-1)
        want[i, 0] = logp[len(c) - 1, 6]
        want[i, 1] = sum(logp[len(c) - 1 + t, w] for t, w in enumerate(cont[1]))
    for shared, budget in ((0, 1), (0, 100), (3, 5), (3, 100)):
        got = packed.score_packed(tiny, ctx, cont, shared=shared, budget=budget)
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_other_architectures_are_not_packed(tiny):
    from transformers import GPT2Config, GPT2LMHeadModel

    assert packable(tiny)
    gpt2 = GPT2LMHeadModel(GPT2Config(n_embd=32, n_layer=1, n_head=2, vocab_size=50))
    assert not packable(gpt2) and not packable(object())


def test_onednn_linear_equals_the_module():
    layer = torch.nn.Linear(40, 24)
    x = torch.randn(1, 37, 40)
    with torch.inference_mode():
        torch.testing.assert_close(packed._linear(layer, x), layer(x), atol=1e-5, rtol=1e-5)
        with torch.no_grad():
            layer.weight.mul_(2)  # changed weights: packed again, not a stale copy
        torch.testing.assert_close(packed._linear(layer, x), layer(x), atol=1e-5, rtol=1e-5)


@pytest.fixture(scope="module")
def lm():
    return default_lm()


@pytest.mark.slow
@pytest.mark.parametrize("head", ["", "Read the review and say how the writer feels.\nReview: "])
def test_packed_scores_equal_the_padded_path(lm, head):
    """Text first, and instruction first (a shared prefix); one context per pass, a few,
    and all in one; one- and three-token answer words."""
    contexts = [head + r + "\nSentiment:" for r in REVIEWS]
    lm.pack = False
    padded = lm.score(contexts, WORDS)
    p_pad = np.exp(padded - np.logaddexp.reduce(padded, axis=1, keepdims=True))
    lm.pack = True
    for budget in (1, 40, 4096):
        lm.pack_tokens = budget
        before = packed.WORK.tokens
        got = lm.score(contexts, WORDS)
        assert packed.WORK.tokens > before  # the packed path really ran
        np.testing.assert_allclose(got, padded, atol=2e-4)  # log-probabilities
        p_got = np.exp(got - np.logaddexp.reduce(got, axis=1, keepdims=True))
        assert np.abs(p_got - p_pad).max() < 1e-5
