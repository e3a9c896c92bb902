"""Model specs: what a user types for a model (`vader`, `hf:NAME`, `openai:URL#MODEL`, ...).

The module that defines a model adapter or an LM backend registers the specs it answers to
(`register_model`, `register_backend`): a whole spec (``vader``, ``lm:smollm2``) or a prefix
(``hf:``, ``openai:@``; a key ending in ``:`` is one), with its loader and how it is written
in messages.
`fute.models.loading` (`load_model`, `load_backend`) looks specs up here (`find`): the whole
spec first, then the longest registered prefix it starts with.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fute.core.errors import ModelError


@dataclass(frozen=True)
class Spec:
    """One registered spec: `key` (a whole spec, or with `prefix` the start of one), `load`
    (called with the rest of the spec after the prefix, and keywords: `spec`, the whole
    spec, and for models `arity`), `usage` (how messages write it; None: not listed) and
    `order` (its place in those lists)."""

    key: str
    load: Callable[..., object]
    usage: str | None = None
    order: int = 100
    prefix: bool = False


#: model specs (classifiers and other black boxes) and LM backend specs, by key
MODELS: dict[str, Spec] = {}
BACKENDS: dict[str, Spec] = {}


def register_model(
    key: str, load: Callable, usage: str | None = None, order: int = 100, prefix: bool = False
) -> None:
    """Make `load(rest, spec=, arity=)` answer the model spec `key` (with `prefix`, or a key
    ending in ``:``, every spec starting with it)."""
    MODELS[key] = Spec(key, load, usage, order, prefix or key.endswith(":"))


def register_backend(
    key: str, load: Callable, usage: str | None = None, order: int = 100, prefix: bool = False
) -> None:
    """Make `load(rest, spec=)` answer the LM spec `key` (with `prefix`, or a key ending in
    ``:``, every spec starting with it); such a spec takes a prompt (`PromptedLM`)."""
    BACKENDS[key] = Spec(key, load, usage, order, prefix or key.endswith(":"))


def find(registry: dict[str, Spec], spec: str) -> tuple[Spec, str] | None:
    """The registered spec that `spec` names and the rest of it after the prefix; None
    when none does."""
    if spec in registry:
        return registry[spec], ""
    prefixes = [k for k, s in registry.items() if s.prefix and spec.startswith(k)]
    if not prefixes:
        return None
    key = max(prefixes, key=len)
    return registry[key], spec[len(key) :]


def is_lm_spec(spec: str) -> bool:
    """Whether `spec` names an LM backend: a registered one, or one of their families
    (``lm:``, ``gguf:``, ``openai:``), whose unknown members are an error naming them."""
    families = {key.split(":", 1)[0] + ":" for key in BACKENDS}
    return spec in BACKENDS or spec.startswith(tuple(families))


def usages(*registries: dict[str, Spec]) -> str:
    """The listed specs of the registries in words: ``a, b or c``."""
    listed = []
    for registry in registries:
        specs = sorted((s for s in registry.values() if s.usage), key=lambda s: s.order)
        listed += [s.usage for s in specs]
    return ", ".join(listed[:-1]) + f" or {listed[-1]}" if len(listed) > 1 else "".join(listed)


def looks_like_path(name: str) -> bool:
    """True for what can only be a file system path: a hub repo id is `NAME` or `ORG/NAME`."""
    starts = ("/", "./", "../", "~", "\\")
    return name.startswith(starts) or name.count("/") > 1 or (os.sep != "/" and os.sep in name)


def check_hub_name_or_folder(name: str, spec: str) -> str:
    """`name` if it may be a hub repo id or is an existing folder; a `ModelError` naming the
    missing folder otherwise (instead of the hub's message about repo id syntax)."""
    path = Path(name).expanduser()
    if not name.strip():
        raise ModelError(f"{spec!r} names no model; write hf:ORG/NAME or hf:PATH/TO/FOLDER")
    if path.is_dir():
        return name
    if looks_like_path(name):
        what = "is a file, not a model folder" if path.exists() else "does not exist"
        raise ModelError(
            f"{spec}: folder {path} {what}; give a folder holding config.json, or a hub name "
            "ORG/NAME"
        )
    return name
