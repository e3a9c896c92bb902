"""A space: surrogate + method + hyper-parameters + seed. Embeddings of one space compare.

    space = Space()                                   # MiniLM, fisher, pool-anchored, seed 0
    imdb = space.dataset_embedding("sentiment-imdb")  # DTE: from the labels, on the pool
    vader = space.model_embedding(VaderModel())       # MTE: trained on VADER's soft answers
    imdb.similarity(vader)

An MTE samples the unlabelled pool (seeded by the space, shaped like the model's inputs: one
text or a pair), asks the model for its probabilities over its label names (cached on disk),
and trains the method on those soft targets. A DTE trains the method on a labelled data set;
in a pool-anchored space (the default for ``fisher`` and ``prefix``, the space `fute
recommend`'s default order was chosen for) that trained surrogate then answers the pool and
the method is trained on those answers, as for an MTE. `Space(pool_anchor=False)` makes the
DTE from the data set alone (the default space of earlier fute, whose key it keeps). Heads are tied to label *names* in canonical order, so the DTE of a
positive/negative data set and the MTE of a negative/positive model line up.

The space key names everything the coordinates depend on: the surrogate's name and weight
hash, the method, a hash of the method's *space-defining* hyper-parameters (defaults filled
in) and the seed. `cosine` refuses to compare vectors of two keys (`SpaceMismatchError`).
How much data one embedding is made from (``max_examples``, ``fisher_examples``, the MTE's
``pool_size``) and batching that does not change the result are *per-embedding settings*:
kept in the embedding's ``meta["settings"]``, not in the key, and can be given per call::

    small = space.dataset_embedding("sentiment-imdb", max_examples=64)  # same space
    quick = space.model_embedding(VaderModel(), pool_size=200)          # same space

docs/methods.md has the table of which setting is which.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import time
from datetime import datetime, timezone
from typing import Any

import numpy as np

from fute.core.embedding import TaskEmbedding
from fute.core.errors import FuteError, ModelError
from fute.core.examples import Examples, warn_if_small
from fute.core.kinds import KINDS, Kind

DEFAULT_POOL_SIZE = 1000
#: space-defining options kept in `Space.hparams` (and the key) only when not at this default
#: ("pool": the version of the unlabelled pool, 1 before the pool was rebuilt in 2026-12)
OPTIONAL_HPARAMS = {"pool_anchor": False, "pool": "1"}
_SURROGATES: dict[str, Any] = {}


def load_surrogate(name_or_path: str | os.PathLike | None = None):
    """`Surrogate.load`, memoised per process: loading and hashing MiniLM takes seconds."""
    from fute.engine.surrogate import Surrogate

    key = str(name_or_path) if name_or_path is not None else ""
    if key not in _SURROGATES:
        _SURROGATES[key] = Surrogate.load(name_or_path)
    return _SURROGATES[key]


def versions() -> dict[str, str]:
    import torch
    import transformers

    from fute._version import __version__

    return {
        "fute": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def short_key(space_key: str) -> str:
    """A short id of a space key that fits narrow terminals: ``fisher-s0-3fa2c1``.

    Method and seed as in the key, then 6 hex digits of the sha256 of the whole key (so two
    surrogates or two hyper-parameter sets get two ids).
    """
    digest = hashlib.sha256(space_key.encode()).hexdigest()[:6]
    parts = space_key.rsplit("/", 3)
    if len(parts) == 4 and parts[3].startswith("seed"):
        return f"{parts[1]}-s{parts[3][4:]}-{digest}"
    return f"space-{digest}"


def space_differences(a: dict, b: dict) -> list[tuple[str, Any, Any]]:
    """What differs between two spaces, from their stored descriptions (`Space.describe()`).

    Returns (setting, value in a, value in b) for the surrogate, method, seed and, when the
    methods agree, each hyper-parameter; None stands for "not in that space's key" (an older
    fute kept per-embedding settings such as ``pool_size`` in the key).
    """
    diffs: list[tuple[str, Any, Any]] = []
    if a.get("surrogate") != b.get("surrogate"):
        diffs.append(("surrogate", a.get("surrogate"), b.get("surrogate")))
    elif a.get("surrogate_sha256") != b.get("surrogate_sha256"):
        short = [str(x.get("surrogate_sha256"))[:16] for x in (a, b)]
        diffs.append(("surrogate weights", *short))
    for name in ("method", "seed"):
        if a.get(name) != b.get(name):
            diffs.append((name, a.get(name), b.get(name)))
    if a.get("method") == b.get("method"):
        # options listed only when set (older keys stay) read as their default when absent
        ha = {**OPTIONAL_HPARAMS, **(a.get("hparams") or {})}
        hb = {**OPTIONAL_HPARAMS, **(b.get("hparams") or {})}
        for name in sorted(set(ha) | set(hb)):
            if ha.get(name) != hb.get(name):
                diffs.append((name, ha.get(name), hb.get(name)))
    return diffs


@contextlib.contextmanager
def deterministic_torch():
    """Deterministic kernels while embedding; the caller's setting is restored afterwards."""
    import torch

    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


class Space:
    """Surrogate + method + hyper-parameters + seed (see the module docstring).

    `surrogate` is a loaded `Surrogate`, a hub name or folder, or None for the bundled
    all-MiniLM-L6-v2. `hparams` are the method's hyper-parameters (see
    ``fute.engine.methods.<method>``), space-defining and per-embedding alike; unknown names
    raise. `pool_size` is how many pool inputs an MTE asks the model about (the paper:
    ~1000; per-embedding). `progress=False` silences progress bars (None: shown on a
    terminal).

    `pool_anchor` (space-defining; default: True for ``fisher`` and ``prefix``, which train a
    classifier, False for ``mean-embedding``, which cannot be anchored): a DTE is made on the
    space's pool inputs, as an MTE is: the surrogate trained on the data set answers the
    pool, and the method is trained on those soft answers, so a DTE and an MTE differ only in
    the function learned, not in the text seen. `pool_anchor=False` makes it from the data
    set alone (such a space's key has no ``pool_anchor``, as before the option existed).
    `clip_pool=True` (per embedding): an MTE's
    model answers each pool input cut to the `max_length` tokens the surrogate reads. Both
    are in docs/methods.md ("Pool-anchored DTEs", "Clipping the pool").
    """

    def __init__(
        self,
        surrogate=None,
        method: str = "fisher",
        seed: int = 0,
        pool_size: int = DEFAULT_POOL_SIZE,
        progress: bool | None = None,
        pool_anchor: bool | None = None,
        clip_pool: bool = False,
        pool: str | None = None,
        **hparams: Any,
    ) -> None:
        from fute.data.pool import pool_version
        from fute.engine.methods import make_method

        if pool is not None and str(pool) != pool_version():
            raise FuteError(
                f"this space was made on pool version {pool}, and this install has pool "
                f"version {pool_version()}; model embeddings of another pool are another space"
            )

        if int(seed) != seed:
            raise FuteError(f"seed must be an integer, got {seed!r}")
        if int(pool_size) < 2:
            raise FuteError(f"pool_size must be at least 2, got {pool_size}")
        self.method = make_method(method, **hparams)
        if pool_anchor is None:  # the default: anchored where the method can be
            pool_anchor = bool(getattr(self.method, "answers_probe", False))
        for flag, value in (("pool_anchor", pool_anchor), ("clip_pool", clip_pool)):
            if not isinstance(value, bool | np.bool_):
                raise FuteError(f"{flag} must be True or False, got {value!r}")
        if pool_anchor and not getattr(self.method, "answers_probe", False):
            raise FuteError(
                f"pool_anchor needs a method that trains a classifier (fisher or prefix); "
                f"{self.method.name!r} would give every data set the same pool vector"
            )
        self.pool_anchor = bool(pool_anchor)
        self.clip_pool = bool(clip_pool)
        self.seed = int(seed)
        self.pool_size = int(pool_size)
        self.progress = progress
        self._surrogate = surrogate

    # -- identity ----------------------------------------------------------------------------
    @property
    def surrogate(self):
        from fute.engine.surrogate import Surrogate

        if not isinstance(self._surrogate, Surrogate):
            self._surrogate = load_surrogate(self._surrogate)
        return self._surrogate

    @property
    def hparams(self) -> dict:
        """The space-defining hyper-parameters, defaults filled in: the key hashes these.

        ``pool_anchor`` is listed only when set, and ``pool`` (the pool's version: model
        embeddings answer its inputs, so another pool is another space) only when not 1,
        so spaces made before they existed keep their keys."""
        from fute.data.pool import pool_version

        anchored = {"pool_anchor": True} if self.pool_anchor else {}
        version = pool_version()
        pool = {"pool": version} if version != OPTIONAL_HPARAMS["pool"] else {}
        return {**self.method.hparams(), **anchored, **pool}

    @property
    def settings(self) -> dict:
        """The per-embedding settings (amounts of data, batching): not part of the key."""
        return {
            **self.method.settings(),
            "pool_size": self.pool_size,
            "clip_pool": self.clip_pool,
        }

    def with_settings(self, **settings: Any) -> Space:
        """The same space (same key) with other per-embedding settings, e.g. ``max_examples``.

        Space-defining names are refused: another value would make another space.
        """
        known = set(self.settings)
        for name in settings:
            if name in self.hparams or name == "pool_anchor":
                raise FuteError(
                    f"{name} defines the space (it changes the coordinates or the training "
                    f"recipe), so it cannot change per embedding; make another "
                    f"Space({name}=...) instead"
                )
            if name not in known:
                raise FuteError(
                    f"method {self.method.name!r} has no per-embedding setting {name!r}; "
                    f"known: {', '.join(sorted(known))}"
                )
        hparams = {k: v for k, v in self.hparams.items() if k != "pool_anchor"}
        return Space(
            self._surrogate,  # a loaded surrogate is shared, not loaded again
            method=self.method.name,
            seed=self.seed,
            progress=self.progress,
            pool_anchor=self.pool_anchor,
            **{**hparams, **self.settings, **settings},
        )  # ``pool`` in hparams is checked against the installed pool version

    @property
    def hparams_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.hparams, sort_keys=True).encode()).hexdigest()

    @property
    def key(self) -> str:
        """``surrogate@weights16/method/hparams12/seedN``: equal keys, comparable vectors."""
        s = self.surrogate
        return f"{s.name}@{s.weights_sha256[:16]}/{self.method.name}/{self.hparams_hash[:12]}/seed{self.seed}"

    def describe(self) -> dict:
        return {
            "key": self.key,
            "surrogate": self.surrogate.name,
            "surrogate_sha256": self.surrogate.weights_sha256,
            "method": self.method.name,
            "hparams": self.hparams,
            "seed": self.seed,
        }

    def __repr__(self) -> str:
        given = self._surrogate if not hasattr(self._surrogate, "name") else self._surrogate.name
        return f"Space(surrogate={given!r}, method={self.method.name!r}, seed={self.seed})"

    # -- embeddings --------------------------------------------------------------------------
    def _embed(
        self,
        examples: Examples,
        kind: str,
        name: str,
        meta: dict,
        settings: dict,
        extras: dict | None = None,
        probe: Examples | None = None,
        anchor: bool = False,
    ) -> TaskEmbedding:
        start = time.perf_counter()
        kw = {"probe": probe} if probe is not None else {}
        with deterministic_torch():
            if anchor:
                result = self._anchored(examples, probe)
            else:
                result = self.method.embed(
                    self.surrogate, examples, self.seed, progress=self.progress, **kw
                )
        extras = {**result.extras, **(extras or {})}
        meta = {
            **meta,
            "space": self.describe(),
            "settings": settings,
            "training": result.info,
            "versions": versions(),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "seconds": round(time.perf_counter() - start, 2),
        }
        return TaskEmbedding(
            vector=result.vector,
            space_key=self.key,
            kind=kind,
            name=name,
            meta=meta,
            extras=extras,
        )

    def _anchored(self, data: Examples, pool: Examples):
        """A pool-anchored DTE: the method trained on the data set answers the pool (the
        teacher), then the method is trained on those soft answers, exactly as for an MTE
        (the teacher's answers stay the DTE's `pool_answers`, for `behaviour`)."""
        from fute.core.extras import ANSWER_LABELS, POOL_ANSWERS

        teacher = self.method.embed(
            self.surrogate, data, self.seed, progress=self.progress, probe=pool, answers_only=True
        )
        soft = Examples.from_soft_labels(
            pool.texts,
            teacher.extras[POOL_ANSWERS],
            [str(v) for v in teacher.extras[ANSWER_LABELS]],
            text_pairs=pool.text_pairs,
            name=data.name,
            provenance={"pool": pool.provenance},
        ).validate()
        result = self.method.embed(self.surrogate, soft, self.seed, progress=self.progress)
        result.extras.update(teacher.extras)
        result.info = {**result.info, "teacher": teacher.info}
        return result

    def _dataset_probe(self, arity: int, meta: dict) -> Examples | None:
        """The pool a DTE's trained surrogate answers (for the `behaviour` similarity), or
        None when the method trains no classifier or the pool cannot be read (then one
        warning says so and the DTE is made without pool answers)."""
        import warnings

        from fute.core.examples import DataWarning

        if not getattr(self.method, "answers_probe", False):
            return None
        try:
            pool = self.pool(arity)
        except FuteError as exc:
            if self.pool_anchor:  # no pool, no anchored DTE: never a DTE of another geometry
                raise FuteError(
                    f"a pool-anchored space makes data-set embeddings on its pool, which "
                    f"cannot be read: {str(exc).splitlines()[0]} (a space made with "
                    "pool_anchor=False, `--no-pool-anchor`, needs no pool)"
                ) from None
            warnings.warn(
                f"the pool cannot be read ({str(exc).splitlines()[0]}); this data-set "
                "embedding gets no answers on it, so `--similarity behaviour` cannot rank it",
                DataWarning,
                stacklevel=3,
            )
            return None
        meta["pool_answers"] = {
            "n": len(pool),
            "seed": self.seed,
            "arity": arity,
            "content_sha256": pool.content_hash(),
        }
        return pool

    def dataset_embedding(
        self, data, name: str | None = None, split: str = "train", **settings: Any
    ) -> TaskEmbedding:
        """The DTE of a labelled data set: an `Examples`, a catalogue name or a file path.

        `settings` override per-embedding settings for this one embedding (e.g.
        ``max_examples=64``); it stays in this space.
        """
        if settings:
            return self.with_settings(**settings).dataset_embedding(data, name, split)
        if not isinstance(data, Examples):
            from fute.data.loaders import load_data

            data = load_data(data, split=split)
        warn_if_small(data.validate())
        if not data.is_labelled:
            raise FuteError(
                f"{data.name or 'data'} has no labels; a dataset embedding needs labelled data"
            )
        meta = {
            "data": {
                "name": data.name,
                "content_sha256": data.content_hash(),
                "n": len(data),
                "arity": data.arity,
                "labels": list(data.label_names),
                "provenance": data.provenance,
            }
        }
        probe = self._dataset_probe(data.arity, meta)
        if self.pool_anchor:
            meta["anchor"] = {"inputs": "pool", **meta["pool_answers"]}
        return self._embed(
            data,
            "dataset",
            name or data.name or "dataset",
            meta,
            self.method.settings(),
            probe=probe,
            anchor=self.pool_anchor,
        )

    def model_embedding(
        self,
        model,
        name: str | None = None,
        kind: str | None = None,
        exclude=(),
        **settings: Any,
    ) -> TaskEmbedding:
        """The MTE of a black-box model, from its soft answers on the space's pool sample.

        `exclude` names pool sources to leave out (the data sets the MTE will be compared
        with, to avoid leakage). `kind` defaults to ``prompted-lm`` for models with a
        prompt and ``model`` otherwise. `settings` override per-embedding settings for this
        one embedding (e.g. ``pool_size=200``); it stays in this space.
        """
        if settings:
            return self.with_settings(**settings).model_embedding(model, name, kind, exclude)
        from fute.models.answers import cached_predict
        from fute.models.protocol import model_identity, model_name

        if getattr(self.method, "uses_labels", True) is False:
            raise FuteError(
                f"method {self.method.name!r} ignores labels, so every model would get the same "
                "vector; use method='fisher' or 'prefix' for model embeddings"
            )
        for attr in ("labels", "arity", "predict_proba"):
            if not hasattr(model, attr):
                raise ModelError(f"{model_name(model)!r} has no {attr!r}; see fute.models.protocol")
        kind = kind or (
            Kind.PROMPTED_LM if getattr(model, "prompt", None) is not None else Kind.MODEL
        )
        if kind not in KINDS:
            raise FuteError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        arity = int(model.arity)
        pool = self.pool(arity, exclude)
        asked, clipped = self._asked(pool)
        probs = cached_predict(model, asked, progress=self.progress)
        name = name or model_name(model)
        soft = Examples.from_soft_labels(
            asked.texts,
            probs,
            list(model.labels),
            text_pairs=asked.text_pairs,
            name=name,
            provenance={"pool": pool.provenance},
        ).validate()
        meta = {
            "model": {
                "name": model_name(model),
                "identity": model_identity(model),
                "labels": list(soft.label_names),
                "arity": arity,
                "answers_sha256": hashlib.sha256(np.ascontiguousarray(probs).tobytes()).hexdigest(),
                "mean_probs": dict(
                    zip(soft.label_names, soft.soft_labels.mean(0).round(4).tolist(), strict=True)
                ),
            },
            "pool": {
                "n": len(pool),
                "seed": self.seed,
                "exclude": sorted(exclude),
                "content_sha256": pool.content_hash(),
                "clipped": clipped,
            },
        }
        prompt = getattr(model, "prompt", None)
        if hasattr(prompt, "to_dict"):  # the prompt's text as used now, not just its id and hash
            meta["prompt"] = {**prompt.to_dict(), "hash": prompt.hash(), "source": prompt.source}
        from fute.core.extras import ANSWER_LABELS, POOL_ANSWERS, POOL_ITEMS, pool_item_ids

        extras = {  # the model's answers on the pool, for the `behaviour` similarity
            POOL_ANSWERS: soft.soft_labels.astype(np.float32),
            ANSWER_LABELS: np.array(list(soft.label_names)),
            # ids of the pool items, clipped or not: the same items a DTE answered
            POOL_ITEMS: pool_item_ids(pool.texts, pool.text_pairs),
        }
        return self._embed(soft, kind, name, meta, self.settings, extras=extras)

    def _asked(self, pool: Examples) -> tuple[Examples, dict | None]:
        """What the model is asked: the pool, or with `clip_pool` each input cut to the
        `max_length` tokens the surrogate reads (and a note of how many were cut)."""
        if not self.clip_pool:
            return pool, None
        max_length = int(self.method.params.max_length)
        texts, pairs = self.surrogate.clip(pool.texts, pool.text_pairs, max_length)
        cut = sum(a != b for a, b in zip(texts, pool.texts, strict=True))
        if pairs is not None:
            cut += sum(a != b for a, b in zip(pairs, pool.text_pairs, strict=True))
        clipped = Examples(
            texts=texts, text_pairs=pairs, name=pool.name, provenance=dict(pool.provenance)
        )
        return clipped, {"max_length": max_length, "texts_cut": int(cut)}

    def pool(self, arity: int, exclude=()) -> Examples:
        """The space's pool sample for one input arity: the same for every model."""
        from fute.data.pool import sample_pool

        return sample_pool(self.pool_size, arity=arity, seed=self.seed, exclude=tuple(exclude))
