"""Models as black boxes: label names, input arity, a distribution over labels per input."""

from fute.models.adapters import CallableModel, HFClassifier, SklearnModel, VaderModel
from fute.models.answers import cached_predict
from fute.models.backends import LlamaCppLM, OpenAILM, TransformersLM, default_lm
from fute.models.loading import load_model
from fute.models.prompted import PromptedLM
from fute.models.prompts import Prompt, load_prompt, load_prompts
from fute.models.protocol import BlackBoxModel, model_identity, predict

__all__ = [
    "BlackBoxModel",
    "CallableModel",
    "HFClassifier",
    "LlamaCppLM",
    "OpenAILM",
    "Prompt",
    "PromptedLM",
    "SklearnModel",
    "TransformersLM",
    "VaderModel",
    "cached_predict",
    "default_lm",
    "load_model",
    "load_prompt",
    "load_prompts",
    "model_identity",
    "predict",
]
