"""The prefix reaches every attention layer and every element of it is trained."""

import torch

from fute.engine.methods.prefix import PrefixMethod, attention_modules, register_prefix_attention
from fute.engine.methods.training import soft_cross_entropy
from fute.engine.surrogate import mean_pool
from fute.space import load_surrogate


def test_every_prefix_element_gets_a_gradient():
    surrogate = load_surrogate()
    model, head = PrefixMethod(positions=4).build(surrogate, ["negative", "positive"], 0).modules
    # padding in the batch exercises the mask extension
    items = surrogate.tokenize(["a great film", "dull, slow and far too long", "ok"], None, 32)
    batch = surrogate.collate(items)
    logits = head(mean_pool(model(batch), batch.attention_mask))
    soft_cross_entropy(logits, torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]])).sum().backward()
    grad = model.prefix.grad
    assert grad.shape == (len(attention_modules(model.encoder)), 2, 4, surrogate.hidden_size)
    assert torch.all(grad != 0), f"{int((grad == 0).sum())} prefix entries got no gradient"
    assert all(p.grad is None for p in model.encoder.parameters()), "the surrogate must stay frozen"


def test_without_a_prefix_the_attention_is_unchanged():
    surrogate = load_surrogate()
    register_prefix_attention()
    encoder = surrogate.fresh_encoder()
    encoder.config._attn_implementation = "fute_prefix"
    batch = surrogate.collate(
        surrogate.tokenize(["short", "a longer sentence with padding around"], None, 32)
    )
    with torch.no_grad():
        ours = encoder(**batch.model_inputs()).last_hidden_state
        stock = surrogate.encoder(**batch.model_inputs()).last_hidden_state
    torch.testing.assert_close(ours, stock, rtol=1e-5, atol=1e-5)


def test_prefix_changes_the_output_and_leaves_the_surrogate_alone():
    surrogate = load_surrogate()
    before = surrogate.weights_sha256
    model, _ = PrefixMethod(positions=2).build(surrogate, ["a", "b"], seed=1).modules
    batch = surrogate.collate(surrogate.tokenize(["hello world"], None, 16))
    with torch.no_grad():
        assert not torch.allclose(
            model(batch), surrogate.encoder(**batch.model_inputs()).last_hidden_state
        )
    assert surrogate.encoder.config._attn_implementation != "fute_prefix"
    from fute.engine.surrogate import weights_hash

    assert weights_hash(surrogate.encoder) == before
