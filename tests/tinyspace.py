"""The smallest real budgets of each method: tests that check mechanics, not meaning
(meaning is test_engine_meaning.py's), build their `Space` with these."""

from __future__ import annotations


def tiny_caps(
    examples: int = 24,
    batch: int = 8,
    steps: int = 3,
    fisher_batch_size: int | None = None,
    **both,
) -> dict[str, dict]:
    """{method: Space keyword arguments}: `examples` training examples, `steps` steps of
    `batch`, no dev split; `both` (e.g. ``max_length=32``) goes to every method."""
    common = dict(max_examples=examples, max_steps=steps, batch_size=batch, dev_fraction=0.0)
    fisher = dict(common, fisher_examples=batch, projection_dim=256, **both)
    if fisher_batch_size is not None:
        fisher["fisher_batch_size"] = fisher_batch_size
    return {"fisher": fisher, "prefix": dict(common, positions=4, **both)}
