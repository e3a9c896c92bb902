"""``prefix``: a prefix of trained keys and values in every attention layer of a frozen surrogate.

Each attention layer l gets P extra key and value positions (a P x hidden matrix each) that
every token can attend to; only the prefixes and a seeded head are trained, the surrogate
stays frozen. The embedding is the trained prefix averaged over layers: a (2, P, hidden)
array flattened (keys then values), 2 x 16 x 384 = 12,288 numbers for MiniLM.

How the prefix gets into the model: transformers 5.x routes every attention call through
``AttentionInterface``; we register one more implementation, ``fute_prefix``, that puts the
prefix of the calling module in front of its keys and values, opens the attention mask for
those positions, and then runs the stock scaled-dot-product attention. No model code is
patched, and a module without a prefix attends exactly as before. Every element of every
prefix receives a gradient (tested): keys through the attention weights, values through
the attention output, in all layers (unlike the FUTE authors' T5 code, where half the
prefix never trains).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from fute.core.errors import ModelError
from fute.core.extras import PREFIX_POSITIONS
from fute.engine.methods.base import PER_EMBEDDING_SETTINGS, Classifier, TrainedMethod, positive
from fute.engine.methods.sketches import component_sketch
from fute.engine.methods.training import TrainSettings, generator, label_head
from fute.engine.surrogate import Batch, Surrogate, mean_pool

ATTN_IMPLEMENTATION = "fute_prefix"
_registered = False


def _prefix_attention(module, query, key, value, attention_mask, **kwargs):
    """Scaled-dot-product attention over [prefix; keys] and [prefix; values]."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    prefix = getattr(module, "fute_prefix", None)
    if prefix is not None:
        b = key.shape[0]
        pk, pv = prefix()  # (heads, P, head_dim) each
        key = torch.cat([pk.unsqueeze(0).expand(b, -1, -1, -1), key], dim=2)
        value = torch.cat([pv.unsqueeze(0).expand(b, -1, -1, -1), value], dim=2)
        if attention_mask is not None:
            shape = (*attention_mask.shape[:-1], pk.shape[1])
            open_ = (
                torch.ones(shape, dtype=torch.bool)
                if attention_mask.dtype == torch.bool
                else torch.zeros(shape, dtype=attention_mask.dtype)
            )
            attention_mask = torch.cat([open_, attention_mask], dim=-1)
    return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)


def register_prefix_attention() -> None:
    """Make ``attn_implementation="fute_prefix"`` known to transformers (idempotent)."""
    global _registered
    if _registered:
        return
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

    AttentionInterface.register(ATTN_IMPLEMENTATION, _prefix_attention)
    ALL_MASK_ATTENTION_FUNCTIONS.register(ATTN_IMPLEMENTATION, sdpa_mask)
    _registered = True


def attention_modules(encoder: nn.Module) -> list[nn.Module]:
    """The self-attention modules, in depth order (BERT-family naming)."""
    found = [
        m
        for m in encoder.modules()
        if type(m).__name__.endswith("SelfAttention") and hasattr(m, "attention_head_size")
    ]
    if not found:
        raise ModelError(
            f"the prefix method found no self-attention modules in {type(encoder).__name__}; "
            "it supports BERT-family encoders (use method='fisher' for others)"
        )
    return found


class LayerPrefix:
    """A view of one layer's slice of the shared prefix tensor, shaped for attention."""

    def __init__(self, table: nn.Parameter, layer: int, heads: int, head_dim: int) -> None:
        self.table, self.layer, self.heads, self.head_dim = table, layer, heads, head_dim

    def __call__(self) -> tuple[torch.Tensor, torch.Tensor]:
        kv = self.table[self.layer]  # (2, P, hidden)
        p = kv.shape[1]
        k = kv[0].view(p, self.heads, self.head_dim).transpose(0, 1)
        v = kv[1].view(p, self.heads, self.head_dim).transpose(0, 1)
        return k, v


class PrefixedEncoder(nn.Module):
    """A frozen encoder whose attention layers read a trainable prefix table (L, 2, P, hidden)."""

    def __init__(self, encoder: nn.Module, positions: int, seed: int, init_std: float) -> None:
        super().__init__()
        register_prefix_attention()
        self.encoder = encoder
        for p in encoder.parameters():
            p.requires_grad_(False)
        layers = attention_modules(encoder)
        hidden = layers[0].num_attention_heads * layers[0].attention_head_size
        init = (
            torch.randn(len(layers), 2, positions, hidden, generator=generator(seed, "prefix"))
            * init_std
        )
        self.prefix = nn.Parameter(init)
        for i, m in enumerate(layers):
            # stored outside the module tree so the encoder's state dict stays the surrogate's
            object.__setattr__(
                m,
                "fute_prefix",
                LayerPrefix(self.prefix, i, m.num_attention_heads, m.attention_head_size),
            )
        encoder.config._attn_implementation = ATTN_IMPLEMENTATION

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.encoder(**batch.model_inputs()).last_hidden_state


@dataclass(frozen=True)
class PrefixParams:
    """Hyper-parameters of ``prefix``; the defaults make one DTE take about a minute on 2 cores.

    - ``positions=16``: prefix length per layer (the paper's value).
    - ``init_std=1.0``: seeded Gaussian initialisation, on the scale of the surrogate's own
      keys and values after layer norm; identical for every embedding of the space.
    - ``lr=1e-2``: AdamW on prefix and head (the paper's prefix learning rate).
    - ``max_examples=1000``, ``max_length=64``, ``batch_size=16``, ``max_epochs=1``,
      ``max_steps=60``, ``eval_every=10``, ``patience=2``, ``dev_fraction=0.1``: as for
      ``fisher`` (same data budget, same early stopping on a seeded dev split).
    - ``relative=True``: the vector is the trained prefix *minus* its seeded initial value,
      averaged over layers. The initial value is shared by every embedding of the space, so
      it carries no information about the task, yet it dominates the raw parameters after
      a short training run and pushes every cosine similarity towards 1.

    ``max_examples`` (an amount of data) is a per-embedding setting: recorded with each
    embedding, not part of the space key (``PER_EMBEDDING``).
    """

    PER_EMBEDDING: ClassVar[tuple[str, ...]] = PER_EMBEDDING_SETTINGS["prefix"]

    positions: int = 16
    init_std: float = 1.0
    lr: float = 1e-2
    max_examples: int = 1000
    max_length: int = 64
    batch_size: int = 16
    max_epochs: int = 1
    max_steps: int = 60
    eval_every: int = 10
    patience: int = 2
    dev_fraction: float = 0.1
    relative: bool = True

    def check(self) -> None:
        for name in ("positions", "init_std", "lr", "max_examples", "max_length", "batch_size",
                     "max_epochs", "max_steps", "eval_every", "patience"):  # fmt: skip
            positive(name, getattr(self, name))
        TrainSettings.of(self)

    def training(self) -> TrainSettings:
        return TrainSettings.of(self)


class PrefixMethod(TrainedMethod):
    """Train a seeded prefix and head on a frozen surrogate; the prefix is the embedding."""

    name = "prefix"
    Params = PrefixParams

    def build(self, surrogate: Surrogate, label_names, seed: int) -> Classifier:
        """The prefixed encoder and head, initialised from the seed; `modules` is (prefixed
        encoder, head), only the prefix and the head are trained."""
        model = PrefixedEncoder(
            surrogate.fresh_encoder(), self.params.positions, seed, self.params.init_std
        )
        head = label_head(surrogate.hidden_size, label_names, seed)
        start = model.prefix.detach().clone()  # the seeded start, before training

        def forward(batch: Batch) -> torch.Tensor:
            return head(mean_pool(model(batch), batch.attention_mask))

        return Classifier(forward, [model, head], [model.prefix, *head.parameters()], start)

    def vectorise(self, classifier, surrogate, items, targets, seed, progress):
        """The trained prefix (minus its start: `relative`) averaged over layers; extras: the
        prefix per position and per-layer sketches."""
        table = classifier.modules[0].prefix.detach()
        if self.params.relative:
            table = table - classifier.start
        vector = table.mean(0).reshape(-1).numpy().astype(np.float32)
        info = dict(layers=int(table.shape[0]), full_dim=int(vector.size))
        layers = table.numpy().astype(np.float32)  # (L, 2, P, hidden)
        extras = {
            # per layer, one row per prefix position: its key and value side by side
            PREFIX_POSITIONS: np.ascontiguousarray(
                layers.transpose(0, 2, 1, 3).reshape(layers.shape[0], layers.shape[2], -1)
            ),
            **component_sketch([(f"layer.{i}", t) for i, t in enumerate(layers)], seed),
        }
        return vector, info, extras
