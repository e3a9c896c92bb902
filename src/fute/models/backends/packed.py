"""Unpadded ("packed") forward passes of Llama-family causal LMs, for answer scoring.

A padded batch runs every row to the length of its longest context, and the fix for that
(small batches of similar lengths) leaves the matrix products small: on a CPU, a 576-wide
linear layer over 100 rows runs well below the speed it reaches over 500. Here the contexts
of a batch are laid end to end in one row of tokens, so each linear layer of the model sees
all the batch's real tokens and no padding; only attention is done per *segment* (one
context, the shared prompt prefix, or one answer word's leading tokens), each attending to
its own tokens causally and, fully, to the segments it continues (its "parents": the shared
prefix before a context, the context before an answer word). Positions restart per chain of
segments, as in separate sequences.

The layers' own modules (norms, rotary embedding, activation) and weights do the work; only
the wiring is re-done here, so a checkpoint with Llama's layout (SmolLM2, Llama, Mistral
without sliding windows, Qwen2) runs unchanged; other models keep the padded path
(`packable`). On a CPU, the linear layers go through oneDNN with weights packed once per
model (`torch.ops.mkldnn`, as torch's own compiler does; MKL's default path is slower on
AMD CPUs), else through the modules. Results equal the padded forward pass to float32
rounding (tests/test_llm_packed.py; largest probability difference ~4e-6).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass

#: model types whose decoder layers have Llama's layout and attention (no sliding window,
#: no logit soft-capping, no extra norms): what `packed_hidden` re-implements the wiring of
PACKED_TYPES = ("llama", "mistral", "qwen2")


@dataclass(frozen=True)
class Segment:
    """Tokens ``[start, stop)`` of the packed row, continuing the segments `parents`."""

    start: int
    stop: int
    parents: tuple[int, ...] = ()

    @property
    def length(self) -> int:
        return self.stop - self.start


@dataclass
class Work:
    """What packed passes executed (read by benchmarks/lm_eval_scoring.py): tokens through
    the layers, (query, key) pairs attended, logit rows computed."""

    tokens: int = 0
    attended: int = 0
    logit_rows: int = 0


#: running totals of every packed pass in this process
WORK = Work()


def packable(model) -> bool:
    """Whether `model` (a transformers causal LM) can run `packed_hidden`."""
    config = getattr(model, "config", None)
    if config is None or getattr(config, "model_type", None) not in PACKED_TYPES:
        return False
    if getattr(config, "sliding_window", None) and getattr(config, "use_sliding_window", True):
        return False  # windows would change which keys a long context's tokens see
    inner = getattr(model, "model", None)
    layers = getattr(inner, "layers", None)
    if layers is None or not all(hasattr(inner, n) for n in ("embed_tokens", "norm", "rotary_emb")):
        return False
    layer, mlp = layers[0], getattr(layers[0], "mlp", None)
    attn = getattr(layer, "self_attn", None)
    parts = ("q_proj", "k_proj", "v_proj", "o_proj", "head_dim", "scaling")
    return (
        attn is not None
        and all(hasattr(attn, n) for n in parts)
        and getattr(attn, "q_norm", None) is None  # Qwen3-style per-head norms: not wired here
        and all(hasattr(layer, n) for n in ("input_layernorm", "post_attention_layernorm"))
        and all(hasattr(mlp, n) for n in ("gate_proj", "up_proj", "down_proj", "act_fn"))
    )


def positions_of(segments: Sequence[Segment]) -> list[int]:
    """Each token's position: a segment starts after the tokens of its parents."""
    out: list[int] = []
    for seg in segments:
        offset = sum(segments[p].length for p in seg.parents)
        out.extend(range(offset, offset + seg.length))
    return out


def packed_hidden(model, tokens: Sequence[int], segments: Sequence[Segment]):
    """The final (normed) hidden states, (len(tokens), hidden), of the packed row.

    Every segment's parents must come before it in `segments`; a segment attends to all
    of its parents' tokens and causally to its own.
    """
    import torch
    from torch.nn.functional import scaled_dot_product_attention as sdpa
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

    inner = model.model
    device = inner.embed_tokens.weight.device
    ids = torch.tensor([list(tokens)], dtype=torch.long, device=device)
    pos = torch.tensor([positions_of(segments)], dtype=torch.long, device=device)
    hidden = inner.embed_tokens(ids)
    cos, sin = inner.rotary_emb(hidden, pos)
    n = ids.shape[1]
    masks = [_mask(segments, s, device) for s in segments]
    dnn = onednn_available(hidden)  # once per pass, not per linear call
    for layer in inner.layers:
        attn, mlp = layer.self_attn, layer.mlp
        x = layer.input_layernorm(hidden)
        shape = (1, n, -1, attn.head_dim)
        q = _linear(attn.q_proj, x, dnn).view(shape).transpose(1, 2)
        k = _linear(attn.k_proj, x, dnn).view(shape).transpose(1, 2)
        v = _linear(attn.v_proj, x, dnn).view(shape).transpose(1, 2)
        q, k = apply_rotary_pos_emb(q, k, cos, sin)
        out = torch.empty_like(q)
        for seg, mask in zip(segments, masks, strict=True):
            spans = [segments[p] for p in seg.parents] + [seg]
            keys = torch.cat([k[:, :, s.start : s.stop] for s in spans], dim=2)
            values = torch.cat([v[:, :, s.start : s.stop] for s in spans], dim=2)
            out[:, :, seg.start : seg.stop] = sdpa(
                q[:, :, seg.start : seg.stop],
                keys,
                values,
                attn_mask=mask,
                is_causal=mask is None,
                scale=attn.scaling,
                enable_gqa=True,
            )
        hidden = hidden + _linear(attn.o_proj, out.transpose(1, 2).reshape(1, n, -1), dnn)
        x = layer.post_attention_layernorm(hidden)
        gate = mlp.act_fn(_linear(mlp.gate_proj, x, dnn))
        hidden = hidden + _linear(mlp.down_proj, gate.mul_(_linear(mlp.up_proj, x, dnn)), dnn)
    WORK.tokens += n
    WORK.attended += sum(
        s.length * sum(segments[p].length for p in s.parents) + s.length * (s.length + 1) // 2
        for s in segments
    )
    return inner.norm(hidden)[0]


def _mask(segments: Sequence[Segment], seg: Segment, device):
    """None (plain causal) for a segment without parents, else a boolean (own, parents +
    own) mask: every parent token visible, own tokens causally."""
    if not seg.parents:
        return None
    import torch

    before = sum(segments[p].length for p in seg.parents)
    own = torch.ones((seg.length, seg.length), dtype=torch.bool, device=device).tril()
    seen = torch.ones((seg.length, before), dtype=torch.bool, device=device)
    return torch.cat([seen, own], dim=1)


# oneDNN-packed weights of each linear module, dropped with the module
_ONEDNN: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: rows the oneDNN weight layout is packed for (a hint; any row count works)
ONEDNN_ROWS = 512


def onednn_available(x) -> bool:
    import torch

    return (
        x.device.type == "cpu"
        and x.dtype == torch.float32
        and torch.backends.mkldnn.is_available()
        and hasattr(torch.ops.mkldnn, "_linear_pointwise")
        and hasattr(torch.ops.mkldnn, "_reorder_linear_weight")
    )


def _linear(module, x, onednn: bool | None = None):
    """``module(x)`` for an ``nn.Linear``, through oneDNN with the weight packed once where
    that is available (float32 on a CPU; `onednn`: already decided), else the module."""
    if not (onednn_available(x) if onednn is None else onednn):
        return module(x)
    import torch

    weight = module.weight
    packed = _ONEDNN.get(module)
    if packed is None or packed[0] is not weight or packed[1] != weight._version:
        packed = (
            weight,
            weight._version,
            torch.ops.mkldnn._reorder_linear_weight(weight, ONEDNN_ROWS),
        )
        _ONEDNN[module] = packed
    return torch.ops.mkldnn._linear_pointwise(x, packed[2], module.bias, "none", [], "")


def token_batches(lengths: Sequence[int], budget: int) -> list[list[int]]:
    """Consecutive runs of indices whose `lengths` sum to at most `budget` (a longer one
    alone): the contexts of one packed forward pass, in their given order."""
    batches: list[list[int]] = []
    current: list[int] = []
    used = 0
    for i, length in enumerate(lengths):
        if current and used + length > budget:
            batches.append(current)
            current, used = [], 0
        current.append(i)
        used += length
    if current:
        batches.append(current)
    return batches


#: logit rows per output-projection product (a 49k vocabulary: 256 rows = 100 MB of float64)
HEAD_ROWS = 256


def score_packed(
    model,
    ctx: Sequence[Sequence[int]],
    cont: Sequence[Sequence[int]],
    *,
    shared: int = 0,
    budget: int = 1024,
):
    """(len(ctx), len(cont)) float64 log-probabilities of each continuation after each
    context, by packed forward passes of about `budget` tokens each.

    The first `shared` tokens (common to every context) run once per pass, as the parent
    segment of each context; an answer word of several tokens adds a segment of its leading
    tokens after each context. The output projection runs once per call, over the rows
    whose next-token distribution is read.
    """
    import numpy as np
    import torch

    if not ctx:
        return np.zeros((0, len(cont)), dtype=np.float64)
    multi = [j for j, c in enumerate(cont) if len(c) > 1]
    extra = sum(len(cont[j]) - 1 for j in multi)
    firsts = [c[0] for c in cont]
    rows_of: list[torch.Tensor] = []  # hidden states whose next token is scored
    reads: list[tuple[int, int, int]] = []  # (context, word, first row in rows_of order)
    with torch.inference_mode():
        n_rows = 0
        for batch in token_batches([len(c) - shared + extra for c in ctx], budget):
            tokens: list[int] = list(ctx[batch[0]][:shared])
            segments = [Segment(0, shared)] if shared else []
            root = (0,) if shared else ()
            picks: list[int] = []
            for i in batch:
                start = len(tokens)
                tokens.extend(ctx[i][shared:])
                segments.append(Segment(start, len(tokens), root))
                picks.append(len(tokens) - 1)
                reads.append((i, -1, n_rows + len(picks) - 1))
                parent = (*root, len(segments) - 1)
                for j in multi:
                    start = len(tokens)
                    tokens.extend(cont[j][:-1])
                    segments.append(Segment(start, len(tokens), parent))
                    reads.append((i, j, n_rows + len(picks)))
                    picks.extend(range(start, len(tokens)))
            rows_of.append(packed_hidden(model, tokens, segments)[picks])
            n_rows += len(picks)
        hidden = torch.cat(rows_of)
        WORK.logit_rows += hidden.shape[0]
        head = model.get_output_embeddings()
        wanted = sorted(set(firsts) | {t for j in multi for t in cont[j][1:]})
        column = {t: c for c, t in enumerate(wanted)}
        logp = torch.cat(  # the scored tokens' log-probabilities, HEAD_ROWS rows at a time
            [
                torch.log_softmax(head(part).double(), dim=-1)[:, wanted].cpu()
                for part in hidden.split(HEAD_ROWS)
            ]
        ).numpy()
    out = np.zeros((len(ctx), len(cont)), dtype=np.float64)
    first_cols = [column[t] for t in firsts]
    for i, j, row in reads:
        if j < 0:
            out[i] = logp[row, first_cols]
        else:
            following = [column[t] for t in cont[j][1:]]
            out[i, j] += float(logp[row + np.arange(len(following)), following].sum())
    return out
