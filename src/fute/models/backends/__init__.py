"""Language-model backends for `PromptedLM`: transformers, llama.cpp, OpenAI-compatible servers."""

from fute.models.backends.base import LMBackend
from fute.models.backends.llamacpp_lm import LlamaCppLM
from fute.models.backends.openai_lm import OpenAILM
from fute.models.backends.transformers_lm import TransformersLM, default_lm

__all__ = ["LMBackend", "LlamaCppLM", "OpenAILM", "TransformersLM", "default_lm"]
