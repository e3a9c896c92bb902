"""`load_model(spec)`: the model specs the CLI accepts, turned into models.

=============================  ==============================================
spec                           model
=============================  ==============================================
``vader``                      `VaderModel`
``hf:NAME_OR_DIR``             `HFClassifier` (a folder with config.json also
                               works without the ``hf:`` prefix)
``sklearn:PATH`` / ``X.joblib``  `SklearnModel`
``lm:smollm2``                 `PromptedLM` on the bundled SmolLM2 (transformers)
``lm:hf:NAME_OR_DIR``          `PromptedLM` on a transformers causal LM
``gguf:PATH``                  `PromptedLM` on llama.cpp
``openai:BASE_URL#MODEL``      `PromptedLM` on an OpenAI-compatible server
``openai:URL1,URL2#MODEL``     the same on a fleet of servers (one model)
``openai:@FLEET.yaml``         a fleet described by a file (`read_fleet_file`)
=============================  ==============================================

LM specs need `prompt` (an id from the prompt library or a JSON file). Each adapter and
backend module registers the specs it answers to (`fute.models.specs`); a spec no module
registered is a path (a ``.joblib`` file, a Hugging Face model folder).
"""

from __future__ import annotations

from pathlib import Path

import fute.models.adapters  # noqa: F401  (registers vader, hf:, sklearn:)
import fute.models.backends  # noqa: F401  (registers lm:, gguf:, openai:)
from fute.core.errors import ModelError
from fute.models.adapters import HFClassifier, SklearnModel
from fute.models.prompted import PromptedLM
from fute.models.prompts import Prompt
from fute.models.specs import (
    BACKENDS,
    MODELS,
    check_hub_name_or_folder,
    find,
    is_lm_spec,
    looks_like_path,
    usages,
)

__all__ = ["check_hub_name_or_folder", "is_lm_spec", "load_backend", "load_model"]


def load_backend(spec: str):
    """The LM backend named by an LM spec (without the prompt)."""
    found = find(BACKENDS, spec)
    if found is None:
        raise ModelError(f"unknown LM spec {spec!r}; use {usages(BACKENDS)}")
    registered, rest = found
    return registered.load(rest, spec=spec)


def load_model(spec: str, prompt: str | Prompt | None = None, *, arity: int = 1):
    """A model from a CLI spec (table above); `arity` applies to classifiers of text pairs."""
    spec = str(spec).strip()
    if is_lm_spec(spec):
        if prompt is None:
            raise ModelError(
                f"{spec} is a language model: give a prompt id (see `fute prompts list`)"
            )
        return PromptedLM(load_backend(spec), prompt)
    if prompt is not None:
        raise ModelError(
            f"{spec} is not a language model; a prompt applies only to lm:/gguf:/openai: specs"
        )
    found = find(MODELS, spec)
    if found is not None:
        registered, rest = found
        return registered.load(rest, spec=spec, arity=arity)
    return _from_path(spec, arity)


def _from_path(spec: str, arity: int):
    """A spec no module registered: a scikit-learn file or a Hugging Face model folder."""
    path = Path(spec).expanduser()
    if path.suffix in (".joblib", ".pkl"):
        if not path.exists():
            raise ModelError(f"model file not found: {path}; check the path")
        return SklearnModel(path, arity=arity)
    if path.is_dir() and (path / "config.json").is_file():
        return HFClassifier(path, arity=arity)
    if path.is_dir():
        raise ModelError(
            f"{path} is a folder without config.json, so not a Hugging Face model folder; "
            "give the folder that holds config.json"
        )
    if looks_like_path(spec) and not path.exists():
        raise ModelError(f"model file or folder not found: {path}; check the path")
    raise ModelError(f"cannot tell what model {spec!r} is; use {usages(MODELS, BACKENDS)}")
