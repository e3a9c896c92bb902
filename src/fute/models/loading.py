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

LM specs need `prompt` (an id from the prompt library or a JSON file).
"""

from __future__ import annotations

import os
from pathlib import Path

from fute.core.errors import ModelError
from fute.models.adapters import HFClassifier, SklearnModel, VaderModel, looks_like_path
from fute.models.prompted import PromptedLM
from fute.models.prompts import Prompt

LM_PREFIXES = ("lm:", "gguf:", "openai:")


def load_backend(spec: str):
    """The LM backend named by an LM spec (without the prompt)."""
    from fute.models.backends import LlamaCppLM, OpenAILM, TransformersLM, default_lm

    if spec in ("lm:smollm2", "lm:default", "lm"):
        return default_lm()
    if spec.startswith("lm:hf:"):
        return TransformersLM(check_hub_name_or_folder(spec[len("lm:hf:") :], spec))
    if spec.startswith("gguf:"):
        return LlamaCppLM(spec[len("gguf:") :])
    if spec.startswith("openai:@"):
        return OpenAILM.from_fleet_file(spec[len("openai:@") :])
    if spec.startswith("openai:"):
        urls, sep, model = spec[len("openai:") :].rpartition("#")
        if not sep or not urls or not model:
            raise ModelError(
                f"spec {spec!r}: write openai:BASE_URL#MODEL (several servers: "
                "openai:URL1,URL2#MODEL, or a fleet file: openai:@FLEET.yaml), e.g. "
                "openai:http://127.0.0.1:8000/v1#smollm2"
            )
        # the OpenAI client's convention: the key, if any, is in OPENAI_API_KEY
        api_key = os.environ.get("OPENAI_API_KEY") or None
        return OpenAILM([u for u in urls.split(",") if u.strip()], model, api_key=api_key)
    raise ModelError(
        f"unknown LM spec {spec!r}; use lm:smollm2, lm:hf:NAME, gguf:PATH or openai:URL#MODEL"
    )


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


def is_lm_spec(spec: str) -> bool:
    return spec == "lm" or spec.startswith(LM_PREFIXES)


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
    if spec == "vader":
        return VaderModel()
    if spec.startswith("hf:"):
        return HFClassifier(check_hub_name_or_folder(spec[3:], spec), arity=arity)
    if spec.startswith("sklearn:"):
        return SklearnModel(spec[len("sklearn:") :], arity=arity)
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
    raise ModelError(
        f"cannot tell what model {spec!r} is; use vader, hf:NAME_OR_DIR, sklearn:PATH.joblib, "
        "lm:smollm2, lm:hf:NAME, gguf:PATH or openai:URL#MODEL"
    )
