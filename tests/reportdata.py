"""Small, real task embeddings for the report and CLI tests.

Mean MiniLM sentence embeddings (`Space(method="mean-embedding")`) of a few hand-written
data sets of different tasks, computed by the real engine in seconds.
"""

from __future__ import annotations

import functools

from fute.core.examples import Examples

TEXTS = {
    "sentiment-movies": (
        [
            "A moving, beautifully acted film.",
            "Dull plot and wooden acting.",
            "I loved every minute of it.",
            "The worst movie I have seen this year.",
            "Charming and funny from start to finish.",
            "A tedious, overlong mess.",
            "Brilliant direction and a great score.",
            "I walked out halfway.",
        ],
        ["positive", "negative"] * 4,
    ),
    "sentiment-products": (
        [
            "The blender works great and is easy to clean.",
            "Broke after two days, waste of money.",
            "Excellent battery life, highly recommend.",
            "The charger stopped working, very disappointed.",
            "Fits perfectly and feels sturdy.",
            "Cheap plastic, returned it.",
            "Fast shipping and a great price.",
            "Arrived damaged and support never answered.",
        ],
        ["positive", "negative"] * 4,
    ),
    "topic-news": (
        [
            "The central bank raised interest rates by a quarter point.",
            "The striker scored twice in the final.",
            "Parliament passed the budget after a long debate.",
            "Shares fell sharply after the earnings report.",
            "The coach was sacked after five straight defeats.",
            "The minister resigned over the scandal.",
            "Oil prices climbed to a six-month high.",
            "The tennis champion retired at thirty-four.",
        ],
        ["business", "sport", "politics", "business", "sport", "politics", "business", "sport"],
    ),
    "spam-mail": (
        [
            "WIN a FREE cruise now, click here!!!",
            "Meeting moved to 3pm, see agenda attached.",
            "Cheap meds without prescription, order today",
            "Can you review my pull request before Friday?",
            "You have been selected for a $1000 gift card",
            "Lunch tomorrow? The usual place.",
            "Lose 10 kg in a week with this one trick",
            "Minutes from yesterday's project call.",
        ],
        ["spam", "ham", "spam", "ham", "spam", "ham", "spam", "ham"],
    ),
    "questions-science": (
        [
            "Why is the sky blue?",
            "How do vaccines train the immune system?",
            "What is a black hole?",
            "How do plants turn light into sugar?",
            "Why do we have seasons?",
            "What causes earthquakes?",
            "How does a transistor switch current?",
            "What is DNA made of?",
        ],
        ["physics", "biology", "physics", "biology", "physics", "geology", "physics", "biology"],
    ),
}


def small_datasets() -> list[Examples]:
    return [
        Examples.from_labels(t, y, name=name, provenance={"source": "hand-written test fixture"})
        for name, (t, y) in TEXTS.items()
    ]


@functools.cache
def mean_embedding_dtes():
    """Real DTEs of the hand-written sets in one mean-embedding space."""
    from fute.space import Space

    space = Space(method="mean-embedding", progress=False)
    return tuple(space.dataset_embedding(d) for d in small_datasets())


TINY_FISHER = {  # the smallest fisher space that still trains: seconds per embedding
    "max_examples": 16,
    "max_steps": 1,
    "eval_every": 1,
    "fisher_examples": 8,
    "fisher_batch_size": 8,
    "max_length": 32,
}


@functools.cache
def tiny_fisher_embeddings():
    """All three kinds in one real (tiny) fisher space: hand-written DTEs, VADER, SmolLM2 + 2 prompts."""
    from fute.models import PromptedLM, VaderModel, default_lm
    from fute.models.prompts import load_prompts
    from fute.space import Space

    space = Space(method="fisher", pool_size=16, progress=False, **TINY_FISHER)
    out = [space.dataset_embedding(d) for d in small_datasets()]
    out.append(space.model_embedding(VaderModel(), name="vader"))
    lm = default_lm()
    for prompt in load_prompts("sentiment")[:2]:
        out.append(space.model_embedding(PromptedLM(lm, prompt), name=f"smollm2/{prompt.id}"))
    return tuple(out)
