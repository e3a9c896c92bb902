"""What every embedding method shares: its result (`MethodResult`), its base class (`Method`;
`TrainedMethod` for the ones that train a classifier: build, fit, answer a probe, vectorise),
and the checks and splits of its hyper-parameters (space-defining vs per-embedding).

The registry (`make_method`) is the package's `__init__`; the methods import this module.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from fute.core.errors import FuteError

METHODS = ("fisher", "prefix", "mean-embedding")
# per-embedding settings of each method (its params' PER_EMBEDDING), readable without torch;
# a Space adds "pool_size" (model embeddings)
PER_EMBEDDING_SETTINGS = {
    "fisher": ("max_examples", "fisher_examples", "fisher_batch_size"),
    "prefix": ("max_examples",),
    "mean-embedding": ("max_examples", "batch_size"),
}


@dataclass
class MethodResult:
    """`vector` is the embedding; `extras` the named arrays kept beside it (`fute.core.extras`)."""

    vector: np.ndarray
    info: dict = field(default_factory=dict)
    extras: dict = field(default_factory=dict)


class Method:
    """What every method shares: its hyper-parameters (`Params`, a frozen dataclass with a
    PER_EMBEDDING tuple; validated, defaults filled in), their split into space-defining
    `hparams()` and per-embedding `settings()`, and the first step of `embed`: a seeded
    sample of the examples, tokenised (`prepare`)."""

    name: ClassVar[str]
    Params: ClassVar[type]
    uses_labels: ClassVar[bool] = True  # False: every model would get the same vector
    answers_probe: ClassVar[bool] = False  # True: `embed` takes probe= (see TrainedMethod)

    def __init__(self, **hparams) -> None:
        self.params = resolve_params(self.Params, self.name, hparams)

    def hparams(self) -> dict:
        """The space-defining hyper-parameters (the space key hashes these)."""
        return space_hparams(self.params)

    def settings(self) -> dict:
        """The per-embedding settings (kept in each embedding's provenance)."""
        return embedding_settings(self.params)

    def prepare(self, surrogate, examples, seed: int) -> tuple[Any, list[dict]]:
        """(a seeded sample of at most `max_examples` examples, their tokenised inputs)."""
        from fute.engine.methods.training import derived_seed

        p = self.params
        data = examples.sample(p.max_examples, derived_seed(seed, "cap"))
        return data, surrogate.tokenize(data.texts, data.text_pairs, p.max_length)

    def embed(self, surrogate, examples, seed: int, progress: bool | None = None) -> MethodResult:
        raise NotImplementedError


@dataclass
class Classifier:
    """What a `TrainedMethod` trains: `forward` (a batch -> label logits), the `modules` whose
    train / eval mode training sets, the `params` it trains, and what `vectorise` needs
    besides them (`start`: the trained parameters' values before training)."""

    forward: Callable
    modules: list
    params: list
    start: Any = None


class TrainedMethod(Method):
    """A method that trains a classifier on the surrogate (fisher, prefix), in the steps every
    such method takes: `build` the classifier (seeded, its head tied to label names), fit it
    (`fute.engine.methods.training.fit`: early stopping on a dev split), answer the `probe`
    (the space's pool, kept in the extras ``pool_answers`` / ``answer_labels`` /
    ``pool_items``) and `vectorise` what was trained. `answers_only=True` stops after
    answering the probe (an empty vector): the teacher of a pool-anchored DTE
    (`Space(pool_anchor=True)`)."""

    answers_probe = True
    verb: ClassVar[str] = "training"  # the progress bar's words: "<name>: <verb> on <data>"

    def build(self, surrogate, label_names, seed: int) -> Classifier:
        raise NotImplementedError

    def vectorise(
        self, classifier: Classifier, surrogate, items, targets, seed: int, progress
    ) -> tuple[np.ndarray, dict, dict]:
        """(vector, what to add to the info, extras) of the trained classifier."""
        raise NotImplementedError

    def embed(
        self,
        surrogate,
        examples,
        seed: int,
        progress: bool | None = None,
        probe=None,
        answers_only: bool = False,
    ) -> MethodResult:
        import torch

        from fute.engine.methods.training import fit, probe_answers

        p = self.params
        data, items = self.prepare(surrogate, examples, seed)
        targets = torch.from_numpy(data.targets())
        classifier = self.build(surrogate, data.label_names, seed)
        info = fit(
            classifier.forward,
            classifier.modules,
            classifier.params,
            surrogate,
            items,
            targets,
            p.training(),
            seed,
            progress=progress,
            desc=f"{self.name}: {self.verb} on {data.name or 'data'}"[:60],
        )

        def answers() -> dict:
            return probe_answers(classifier.forward, classifier.modules, surrogate, probe, data, p)

        if answers_only:
            return MethodResult(
                np.zeros(0, np.float32), {**info, "n_examples": len(data)}, answers()
            )
        vector, more, extras = self.vectorise(classifier, surrogate, items, targets, seed, progress)
        info.update(n_examples=len(data), **more)
        if probe is not None:
            extras.update(answers())
        return MethodResult(vector=vector, info=info, extras=extras)


def resolve_params(cls: type, method: str, hparams: dict) -> Any:
    """Fill defaults and reject unknown names with the list of known ones."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(hparams) - known)
    if unknown:
        raise FuteError(
            f"method {method!r} has no hyper-parameter {', '.join(unknown)}; "
            f"known: {', '.join(sorted(known))}"
        )
    params = cls(**{k.replace("-", "_"): v for k, v in hparams.items()})
    check = getattr(params, "check", None)
    if callable(check):
        check()
    return params


def space_hparams(params: Any) -> dict:
    """The space-defining hyper-parameters of a parameter dataclass (all but PER_EMBEDDING)."""
    per_embedding = set(getattr(params, "PER_EMBEDDING", ()))
    return {k: v for k, v in dataclasses.asdict(params).items() if k not in per_embedding}


def embedding_settings(params: Any) -> dict:
    """The per-embedding settings of a parameter dataclass (its PER_EMBEDDING names)."""
    return {k: getattr(params, k) for k in getattr(params, "PER_EMBEDDING", ())}


def positive(name: str, value: float, allow_zero: bool = False) -> None:
    if not (value >= 0 if allow_zero else value > 0):
        raise FuteError(
            f"hyper-parameter {name} must be {'>= 0' if allow_zero else '> 0'}, got {value}"
        )
