"""Examples: one text or a text pair per item, with hard or soft labels over *named* labels.

Labels are tied to names, never to positions: every label set is put in one canonical
order (`canonical_labels`), so a data set listing [positive, negative] and a model listing
[negative, positive] give targets whose columns mean the same thing.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from fute.core.errors import DataError

# Below these sizes a task embedding is mostly noise: `warn_if_small` says so.
FEW_EXAMPLES = 32
FEW_PER_CLASS = 4


class DataWarning(UserWarning):
    """Data that can be embedded but will give a noisy embedding (the CLI prints one line)."""


def normalise_label(name: object) -> str:
    """Label names compare case-insensitively, without surrounding space and in one Unicode
    form (NFC: a composed and a decomposed "café" are one label). Texts are never changed."""
    return unicodedata.normalize("NFC", str(name).strip()).lower()


def canonical_labels(names: Iterable[object]) -> tuple[str, ...]:
    """The one order used for heads and targets: sorted normalised names, duplicates removed."""
    return tuple(sorted({normalise_label(n) for n in names}))


@dataclass(frozen=True)
class Examples:
    """A batch of inputs with targets over `label_names` (canonical order).

    Exactly one of `labels` (hard label names) and `soft_labels` (n x L probabilities,
    columns in `label_names` order) is set for labelled data; both are None for unlabelled
    inputs (the pool).
    """

    texts: list[str]
    text_pairs: list[str] | None = None
    labels: list[str] | None = None
    soft_labels: np.ndarray | None = None
    label_names: tuple[str, ...] = ()
    name: str = ""
    provenance: dict = field(default_factory=dict)

    @classmethod
    def from_labels(
        cls,
        texts: Sequence[str],
        labels: Sequence[object],
        text_pairs: Sequence[str] | None = None,
        name: str = "",
        provenance: dict | None = None,
        label_names: Iterable[object] | None = None,
    ) -> Examples:
        labels = [normalise_label(y) for y in labels]
        names = canonical_labels(label_names if label_names is not None else labels)
        unknown = sorted(set(labels) - set(names))
        if unknown:
            raise DataError(f"{name or 'data'}: labels {unknown} are not among {list(names)}")
        return cls(
            texts=list(texts),
            text_pairs=list(text_pairs) if text_pairs is not None else None,
            labels=labels,
            label_names=names,
            name=name,
            provenance=dict(provenance or {}),
        )

    @classmethod
    def from_soft_labels(
        cls,
        texts: Sequence[str],
        probs: np.ndarray,
        label_names: Sequence[object],
        text_pairs: Sequence[str] | None = None,
        name: str = "",
        provenance: dict | None = None,
    ) -> Examples:
        """Soft targets whose columns follow `label_names` as given; reordered to canonical order."""
        given = [normalise_label(n) for n in label_names]
        names = canonical_labels(given)
        if len(names) != len(given):
            raise DataError(f"{name or 'data'}: duplicate label names {given}")
        probs = np.asarray(probs, dtype=np.float64)
        order = [given.index(n) for n in names]
        return cls(
            texts=list(texts),
            text_pairs=list(text_pairs) if text_pairs is not None else None,
            soft_labels=probs[:, order].astype(np.float32),
            label_names=names,
            name=name,
            provenance=dict(provenance or {}),
        )

    @property
    def arity(self) -> int:
        return 2 if self.text_pairs is not None else 1

    @property
    def is_labelled(self) -> bool:
        return self.labels is not None or self.soft_labels is not None

    def __len__(self) -> int:
        return len(self.texts)

    def inputs(self) -> list[str] | list[tuple[str, str]]:
        """Model inputs: strings for arity 1, (text, text_pair) tuples for arity 2."""
        if self.text_pairs is None:
            return list(self.texts)
        return list(zip(self.texts, self.text_pairs, strict=True))

    def targets(self) -> np.ndarray:
        """n x L float32 target distributions in `label_names` order (one-hot for hard labels)."""
        if self.soft_labels is not None:
            return np.asarray(self.soft_labels, dtype=np.float32)
        if self.labels is None:
            raise DataError(f"{self.name or 'data'} has no labels")
        index = {n: i for i, n in enumerate(self.label_names)}
        out = np.zeros((len(self.labels), len(self.label_names)), dtype=np.float32)
        out[np.arange(len(self.labels)), [index[y] for y in self.labels]] = 1.0
        return out

    def subset(self, indices: Sequence[int]) -> Examples:
        idx = list(indices)
        return replace(
            self,
            texts=[self.texts[i] for i in idx],
            text_pairs=[self.text_pairs[i] for i in idx] if self.text_pairs is not None else None,
            labels=[self.labels[i] for i in idx] if self.labels is not None else None,
            soft_labels=self.soft_labels[idx] if self.soft_labels is not None else None,
        )

    def sample(self, n: int, seed: int) -> Examples:
        """A seeded sample of at most n items, in a seeded order."""
        if n >= len(self):
            return self
        rng = np.random.default_rng(seed)
        return self.subset(sorted(rng.choice(len(self), size=n, replace=False).tolist()))

    def content_hash(self) -> str:
        """sha256 over inputs, targets and label names: the identity of this data for caches."""
        h = hashlib.sha256()
        h.update(json.dumps([self.texts, self.text_pairs, list(self.label_names)]).encode())
        if self.is_labelled:
            h.update(np.ascontiguousarray(self.targets(), dtype=np.float32).tobytes())
        return h.hexdigest()

    def validate(self) -> Examples:
        """Raise DataError for data that cannot be embedded; return self otherwise."""
        what = self.name or "data"
        if len(self) == 0:
            raise DataError(f"{what} has no rows")
        if len(self) == 1:
            raise DataError(
                f"{what} has only one example; a task embedding needs at least two "
                f"(and {FEW_EXAMPLES} or more to be stable)"
            )
        if self.text_pairs is not None and len(self.text_pairs) != len(self.texts):
            raise DataError(
                f"{what}: {len(self.texts)} texts but {len(self.text_pairs)} text pairs"
            )
        empty = [i for i, t in enumerate(self.texts) if not str(t).strip()]
        if self.text_pairs is not None:
            empty += [i for i, t in enumerate(self.text_pairs) if not str(t).strip()]
        if empty:
            raise DataError(
                f"{what}: {len(set(empty))} rows have empty text (first at row {min(empty)}); "
                "drop or fill them"
            )
        if self.labels is not None and len(set(self.labels)) < 2:
            raise DataError(
                f"{what}: the label column has only one class {sorted(set(self.labels))}; "
                "a classification task needs at least two"
            )
        if self.soft_labels is not None:
            p = np.asarray(self.soft_labels)
            if p.shape != (len(self), len(self.label_names)):
                raise DataError(
                    f"{what}: soft labels have shape {p.shape}, expected {(len(self), len(self.label_names))}"
                )
            if (
                not np.all(np.isfinite(p))
                or (p < 0).any()
                or not np.allclose(p.sum(1), 1, atol=1e-4)
            ):
                raise DataError(
                    f"{what}: soft labels must be finite, non-negative and sum to 1 per row"
                )
        return self


def warn_if_small(data: Examples) -> Examples:
    """Warn (`DataWarning`, one warning at most) about labelled data too small to embed
    reliably: fewer than `FEW_EXAMPLES` examples, else classes with fewer than
    `FEW_PER_CLASS` examples each."""
    import warnings
    from collections import Counter

    what = data.name or "data"
    if len(data) < FEW_EXAMPLES:
        warnings.warn(
            f"{what} has only {len(data)} examples; an embedding of fewer than {FEW_EXAMPLES} "
            "is mostly noise, so rankings against it are unreliable",
            DataWarning,
            stacklevel=2,
        )
    elif data.labels is not None:
        counts = Counter(data.labels)
        small = sorted((n, label) for label, n in counts.items() if n < FEW_PER_CLASS)
        if small:
            n, label = small[0]
            warnings.warn(
                f"{what}: {len(small)} of {len(counts)} classes have fewer than {FEW_PER_CLASS} "
                f"examples (fewest: {label!r} with {n}); merge or drop rare classes, or add "
                "examples",
                DataWarning,
                stacklevel=2,
            )
    return data
