"""Adapters that make common model kinds speak the black-box protocol (see `protocol`).

Each adapter stores its parameters in the constructor, loads lazily, declares `labels`
(the column order of `predict_proba`), `arity`, and an `identity()` for the answer cache.
"""

from __future__ import annotations

import hashlib
import inspect
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from fute.core.errors import ModelError
from fute.core.examples import normalise_label
from fute.models.protocol import Input
from fute.models.specs import check_hub_name_or_folder, looks_like_path, register_model


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


class HFClassifier:
    """A transformers sequence classifier (hub name or local folder); labels from `id2label`.

    Pairs are encoded the way the model was trained on them: ``tokenizer(text, text_pair)``.
    """

    def __init__(
        self,
        name_or_path: str | os.PathLike,
        *,
        arity: int = 1,
        batch_size: int = 32,
        max_length: int = 256,
        device: str | None = None,
    ) -> None:
        self.name_or_path = str(name_or_path)
        self.name = Path(self.name_or_path).name or self.name_or_path
        self.arity = arity
        self.batch_size = batch_size
        self.max_length = max_length
        self.device = device
        self._model = None
        self._tok = None

    def _load(self) -> None:
        if self._model is not None:
            return
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        if looks_like_path(self.name_or_path) and not Path(self.name_or_path).expanduser().is_dir():
            raise ModelError(
                f"classifier folder {self.name_or_path} does not exist; give a folder holding "
                "config.json, or a hub name ORG/NAME"
            )
        try:
            self._tok = AutoTokenizer.from_pretrained(self.name_or_path)
            self._model = AutoModelForSequenceClassification.from_pretrained(self.name_or_path)
        except (OSError, ValueError) as exc:
            raise ModelError(
                f"cannot load classifier {self.name_or_path!r}: {str(exc).splitlines()[0]}"
            ) from None
        self._device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        self._model.to(self._device).eval()

    @property
    def labels(self) -> list[str]:
        self._load()
        id2label = self._model.config.id2label
        return [normalise_label(id2label[i]) for i in range(len(id2label))]

    def identity(self) -> str:
        if Path(self.name_or_path).is_dir():
            from fute.models.backends.transformers_lm import folder_fingerprint

            return f"hf-classifier:{self.name}:{folder_fingerprint(self.name_or_path)}"
        self._load()
        rev = getattr(self._model.config, "_commit_hash", None) or "unknown-revision"
        return f"hf-classifier:{self.name_or_path}@{rev}"

    def predict_proba(self, inputs: Sequence[Input]) -> np.ndarray:
        import torch

        from fute.data.text import cut_for_tokenizer

        self._load()
        out = []
        for start in range(0, len(inputs), self.batch_size):
            batch = inputs[start : start + self.batch_size]
            if self.arity == 1:
                enc = self._tok(
                    cut_for_tokenizer(self._tok, list(batch), self.max_length),
                    truncation=True,
                    max_length=self.max_length,
                    padding=True,
                    return_tensors="pt",
                )
            else:
                enc = self._tok(
                    cut_for_tokenizer(self._tok, [a for a, _ in batch], self.max_length),
                    cut_for_tokenizer(self._tok, [b for _, b in batch], self.max_length),
                    truncation=True,
                    max_length=self.max_length,
                    padding=True,
                    return_tensors="pt",
                )
            with torch.inference_mode():
                logits = self._model(**enc.to(self._device)).logits
            out.append(torch.softmax(logits.double(), dim=-1).cpu().numpy())
        return np.concatenate(out)


#: how a joblib file starts: a pickle (protocol 2+; 0 and 1 start with one of ( c ] }), or
#: one of joblib's compressors (zlib, gzip, bz2, xz, lzma, lz4)
_JOBLIB_MAGIC = (
    b"\x80",
    b"(",
    b"c",
    b"]",
    b"}",
    b"\x78",
    b"\x1f\x8b",
    b"BZh",
    b"\xfd7zXZ",
    b"\x5d\x00",
    b"\x04\x22M\x18",
)


def _check_pickle_header(path: Path) -> None:
    """One clear line when a ``.joblib`` / ``.pkl`` file is not a pickle at all."""
    with open(path, "rb") as f:
        head = f.read(8)
    if not head:
        raise ModelError(f"{path} is empty, not a joblib/pickle file")
    if not head.startswith(_JOBLIB_MAGIC):
        raise ModelError(
            f"{path} is not a joblib/pickle file (it starts with {head.decode('latin-1')!r}); save the model "
            "with joblib.dump"
        )


class SklearnModel:
    """A scikit-learn estimator (or pipeline over raw text) with `predict_proba`, saved with joblib.

    Pair inputs are joined as ``text + " [SEP] " + text_pair`` unless `join` is given,
    the same way `train.train_tfidf_logreg` trains pair models.
    """

    def __init__(
        self, path_or_estimator, *, arity: int = 1, join: str = " [SEP] ", name: str | None = None
    ) -> None:
        self.arity = arity
        self.join = join
        if isinstance(path_or_estimator, str | os.PathLike):
            self.path = Path(path_or_estimator)
            if not self.path.is_file():
                raise ModelError(f"no scikit-learn model file at {self.path}")
            import joblib

            _check_pickle_header(self.path)
            try:
                self.estimator = joblib.load(self.path)
            except Exception as exc:  # joblib raises whatever unpickling raises
                why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                raise ModelError(
                    f"cannot load {self.path} with joblib: the file is damaged or not a "
                    f"joblib/pickle file ({why})"
                ) from None
            self.name = name or self.path.stem
        else:
            self.path = None
            self.estimator = path_or_estimator
            self.name = name or type(path_or_estimator).__name__
        if not hasattr(self.estimator, "predict_proba") or not hasattr(self.estimator, "classes_"):
            raise ModelError(f"{self.name}: the estimator must be fitted and have predict_proba")
        self.labels = [normalise_label(c) for c in self.estimator.classes_]

    def identity(self) -> str:
        if self.path is not None:
            return f"sklearn:{self.name}:{_file_sha256(self.path)}"
        import pickle

        return f"sklearn:{self.name}:{hashlib.sha256(pickle.dumps(self.estimator)).hexdigest()}"

    def predict_proba(self, inputs: Sequence[Input]) -> np.ndarray:
        texts = list(inputs) if self.arity == 1 else [a + self.join + b for a, b in inputs]
        return self.estimator.predict_proba(texts)


class CallableModel:
    """Any Python function as a model.

    `fn(inputs) -> (n, L)` array, or, with ``per_input=True``, ``fn(input) -> row`` where a
    row is a sequence or a ``{label: probability}`` dict (every label of `labels` present,
    no other). The cache identity is the function's source code; give `version` when the
    function reads state that its source does not show.
    """

    def __init__(
        self,
        fn: Callable,
        labels: Sequence[str],
        *,
        arity: int = 1,
        per_input: bool = False,
        name: str | None = None,
        version: str = "",
    ) -> None:
        self.fn = fn
        self.labels = [str(label) for label in labels]
        self.arity = arity
        self.per_input = per_input
        self.name = name or getattr(fn, "__qualname__", type(fn).__name__)
        self.version = version

    def identity(self) -> str:
        try:
            src = inspect.getsource(self.fn)
        except (OSError, TypeError):
            src = repr(self.fn)
        digest = hashlib.sha256(src.encode()).hexdigest()
        return f"callable:{self.name}:{self.version}:{digest}"

    def predict_proba(self, inputs: Sequence[Input]):
        if self.per_input:
            return [self.fn(x) for x in inputs]
        return self.fn(list(inputs))


class VaderModel:
    """VADER's rule-based sentiment as a binary negative / positive model.

    VADER gives `neg`, `neu`, `pos` (shares of the text) and a `compound` score in [-1, 1].
    We map compound linearly to p(positive) = (compound + 1) / 2, p(negative) = 1 - that:
    neutral text (compound 0) gets 0.5 / 0.5, and the sign and strength of VADER's verdict
    are kept. (`neg` and `pos` are not used: they ignore VADER's negation and intensity
    rules, which only the compound score applies.)
    """

    labels = ("negative", "positive")
    arity = 1
    name = "vader"

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self._analyzer = SentimentIntensityAnalyzer()

    def identity(self) -> str:
        from importlib.metadata import version

        return f"vader:{version('vaderSentiment')}:compound-linear"

    def predict_proba(self, inputs: Sequence[str]) -> np.ndarray:
        compound = np.array([self._analyzer.polarity_scores(x)["compound"] for x in inputs])
        pos = np.clip((compound + 1.0) / 2.0, 0.0, 1.0)
        return np.stack([1.0 - pos, pos], axis=1)


# the specs these adapters answer to (`fute.models.loading.load_model`)
register_model("vader", lambda rest, spec, arity: VaderModel(), "vader", order=10)
register_model(
    "hf:",
    lambda rest, spec, arity: HFClassifier(check_hub_name_or_folder(rest, spec), arity=arity),
    "hf:NAME_OR_DIR",
    order=20,
)
register_model(
    "sklearn:", lambda rest, spec, arity: SklearnModel(rest, arity=arity), "sklearn:PATH.joblib", 30
)
