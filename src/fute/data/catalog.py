"""The catalogue: named, labelled classification data sets, declared in ``catalog/*.toml``.

Each entry says what a row is (one text or a pair), its labels, the files it reads (each
verified by its own sha256 and served by the first source that answers, see
`fute.data.files`) and the reader that turns them into rows (`fute.data.readers`).
`load_dataset(name)` prepares a set on first use (fetch, verify, read, split, write the
normalised Parquet folder) and afterwards reads a split from the cache, checking the split
file's hash on every read; a damaged file is rebuilt from the source.

Some sets are *reserved* for an outside check: they stay in the catalogue for users, but
selection benchmarks refuse them as targets (`RESERVED`).
"""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

from fute.core.errors import DataError, FetchError, UnavailableError
from fute.core.examples import Examples, normalise_label
from fute.core.paths import cache_subdir
from fute.data import readers as R
from fute.data.availability import clear_failure, file_status, record_failure, recorded_failure
from fute.data.files import FileSpec, get_file
from fute.data.manifest import file_spec, raw_tables
from fute.data.splits import FRACTIONS, SPLIT_SEED, split_indices
from fute.data.storage import SPLITS, is_complete, read_meta, read_split, write_dataset

_REQUIRED = ("id", "family", "inputs", "labels", "files", "reader", "licence", "citation")
_ALLOWED = set(_REQUIRED) | {
    "prompt_task",
    "input_names",
    "label_map",
    "args",
    "language",
    "description",
    "reserved",
    "split",
}


@dataclass(frozen=True)
class CatalogEntry:
    """One labelled data set: what it is, which files it reads and how."""

    name: str
    family: str
    inputs: int
    labels: tuple[str, ...]
    files: tuple[str, ...]
    reader: str
    licence: str
    citation: str
    args: dict = field(default_factory=dict, compare=False)
    input_names: tuple[str, ...] = ("text",)
    label_map: dict = field(default_factory=dict, compare=False)
    language: str = "en"
    description: str = ""
    reserved: bool = False
    split: str = "fute"  # or "source": the source's own train/test split is kept
    prompt_task: str | None = None
    declared_in: str = field(default="", compare=False)

    @property
    def task(self) -> str:
        """The task family (`fute data list --task` filters on it)."""
        return self.family

    @property
    def source_key(self) -> tuple[str, ...]:
        """The ids of the files the rows come from; the pool leaves out sources reading them."""
        return self.files

    def file_specs(self) -> list[FileSpec]:
        return [file_spec(f, self.declared_in) for f in self.files]

    def source(self) -> dict:
        """Where the rows come from: each file's id, hash and sources (for provenance)."""
        return {
            "files": [
                {
                    "id": s.id,
                    "sha256": s.sha256 or None,
                    "sources": [loc.describe() for loc in s.sources],
                    **({"note": s.note} if s.note else {}),
                }
                for s in self.file_specs()
            ],
            "reader": self.reader,
            "licence": self.licence,
        }

    def to_dict(self, cache: str | os.PathLike | None = None) -> dict:
        meta = _prepared_meta(self.name, cache)
        sizes = meta["sizes"] if meta else expected_sizes().get(self.name, {})
        status, reason = availability(self, cache)
        return {
            "name": self.name,
            "family": self.family,
            "task": self.family,
            "prompt_task": self.prompt_task,
            "inputs": self.inputs,
            "input_names": list(self.input_names),
            "labels": list(self.labels),
            "sizes": sizes,
            "splits": (meta or {}).get("splits") or _split_note(self),
            "source": self.source(),
            "description": self.description,
            "citation": self.citation,
            "licence": self.licence,
            "label_map": self.label_map,
            "language": self.language,
            "reserved": self.reserved,
            "prepared": meta is not None,
            "status": status,
            "unavailable_reason": reason,
        }


def _split_note(entry: CatalogEntry) -> dict:
    if entry.split == "source":
        return {
            "made_by": "source (train/test) + fute (dev from train)",
            "seed": SPLIT_SEED,
            "fractions": {"dev": 0.1},
        }
    return {
        "made_by": "fute",
        "seed": SPLIT_SEED,
        "fractions": FRACTIONS,
        "grouped_by": "input text",
    }


def _parse_entry(where: str, raw: dict) -> CatalogEntry:
    name = raw.get("id", "?")
    missing = [k for k in _REQUIRED if k not in raw]
    unknown = sorted(set(raw) - _ALLOWED)
    if missing or unknown:
        raise DataError(f"{where}: data set {name!r}: missing {missing}, unknown {unknown}")
    labels = tuple(str(y) for y in raw["labels"])
    inputs = int(raw["inputs"])
    names = tuple(raw.get("input_names", ["text"] if inputs == 1 else ["text", "text_pair"]))
    problems = []
    if inputs not in (1, 2) or len(names) != inputs:
        problems.append(f"inputs {inputs} with input_names {list(names)}")
    if len(labels) < 2 or len(set(labels)) != len(labels):
        problems.append(f"labels {list(labels)} (need two or more distinct)")
    if raw["reader"] not in R.READERS:
        problems.append(f"unknown reader {raw['reader']!r}")
    if raw.get("split", "fute") not in ("fute", "source"):
        problems.append(f"split {raw['split']!r} (fute or source)")
    if problems:
        raise DataError(f"{where}: data set {name!r}: " + "; ".join(problems))
    for f in raw["files"]:
        file_spec(f, where)  # an undeclared file fails here, when the catalogue loads
    return CatalogEntry(
        name=name,
        family=raw["family"],
        inputs=inputs,
        labels=labels,
        files=tuple(raw["files"]),
        reader=raw["reader"],
        licence=raw["licence"],
        citation=raw["citation"],
        args=dict(raw.get("args", {})),
        input_names=names,
        label_map={str(k): v for k, v in raw.get("label_map", {}).items()},
        language=raw.get("language", "en"),
        description=raw.get("description", ""),
        reserved=bool(raw.get("reserved", False)),
        split=raw.get("split", "fute"),
        prompt_task=raw.get("prompt_task"),
        declared_in=where,
    )


@lru_cache(maxsize=1)
def _registry() -> dict[str, CatalogEntry]:
    out: dict[str, CatalogEntry] = {}
    for where, raw in raw_tables()["datasets"]:
        entry = _parse_entry(where, raw)
        if entry.name in out:
            raise DataError(f"{where}: data set {entry.name!r} is declared twice")
        out[entry.name] = entry
    return out


def list_datasets() -> list[CatalogEntry]:
    """All catalogue entries, sorted by name."""
    return sorted(_registry().values(), key=lambda e: e.name)


def reserved_names() -> frozenset[str]:
    """The sets reserved for an outside check (never targets of a selection benchmark)."""
    return frozenset(e.name for e in list_datasets() if e.reserved)


def get_entry(name: str) -> CatalogEntry:
    """The entry called `name`; an unknown name raises DataError naming the closest ones."""
    reg = _registry()
    if name in reg:
        return reg[name]
    if not str(name).strip():
        raise DataError("the data set name is empty; run `fute data list` to see the names")
    close = difflib.get_close_matches(name, reg, n=3, cutoff=0.4)
    hint = f"did you mean {', '.join(close)}?" if close else "run `fute data list` to see the names"
    raise DataError(f"unknown data set {name!r}; {hint}")


@lru_cache(maxsize=1)
def expected_sizes() -> dict[str, dict[str, int]]:
    """Split sizes as measured when the catalogue was built (shipped in sizes.json)."""
    path = resources.files("fute.data").joinpath("sizes.json")
    return json.loads(path.read_text("utf-8")) if path.is_file() else {}


def dataset_dir(name: str, cache: str | os.PathLike | None = None) -> Path:
    return cache_subdir("datasets", cache) / name


def _prepared_meta(name: str, cache) -> dict | None:
    folder = dataset_dir(name, cache)
    return read_meta(folder) if is_complete(folder) else None


def availability(entry: CatalogEntry, cache=None) -> tuple[str, str | None]:
    """("ready" | "fetchable" | "unavailable", reason): ready when prepared; fetchable when
    every file is cached or has a registry archive that is still served; otherwise the
    reason names the file that only an upstream URL (or nothing) can give."""
    if _prepared_meta(entry.name, cache) is not None:
        return "ready", None
    for spec in entry.file_specs():
        ok, why = file_status(spec, cache)
        if not ok:
            return "unavailable", why
    failed = recorded_failure("datasets", entry.name, cache)
    return ("unavailable", f"last fetch failed: {failed}") if failed else ("fetchable", None)


def prepare_dataset(
    entry: CatalogEntry | str, cache=None, quiet: bool = True, force: bool = False
) -> Path:
    """Build the normalised folder of one data set unless it is already complete.

    A set whose files cannot be had raises one DataError line saying why; the reason is
    remembered so `fute data list` shows it, and cleared when the set is built."""
    entry = get_entry(entry) if isinstance(entry, str) else entry
    folder = dataset_dir(entry.name, cache)
    if is_complete(folder) and not force:
        return folder
    try:
        paths = [get_file(spec, cache, quiet=quiet) for spec in entry.file_specs()]
    except FetchError as exc:
        record_failure("datasets", entry.name, str(exc), cache)
        raise UnavailableError(f"data set {entry.name} is unavailable: {exc}") from None
    rows = R.READERS[entry.reader](paths, **entry.args)
    rows.labels = [normalise_label(y) for y in rows.labels]
    unknown = sorted(set(rows.labels) - set(entry.labels))
    if unknown or not len(rows):
        raise DataError(
            f"{entry.name}: source gave labels {unknown or 'none'}, expected {list(entry.labels)}"
        )
    keys = [
        t if rows.pairs is None else f"{t}\x00{p}"
        for t, p in zip(rows.texts, rows.pairs or rows.texts, strict=True)
    ]
    index = _split(entry, rows, keys)
    splits = {}
    for split in SPLITS:
        idx = index[split]
        cols = {"text": [rows.texts[i] for i in idx]}
        if rows.pairs is not None:
            cols["text_pair"] = [rows.pairs[i] for i in idx]
        cols["label"] = [rows.labels[i] for i in idx]
        splits[split] = cols
    meta = {
        "name": entry.name,
        "labels": list(entry.labels),
        "sizes": {s: len(index[s]) for s in SPLITS},
        "label_counts": {s: _counts(splits[s]["label"]) for s in SPLITS},
        "splits": _split_note(entry),
        "source": entry.source(),
        "files_sha256": {p_id: _file_hash(p_id, cache) for p_id in entry.files},
    }
    write_dataset(folder, splits, meta)
    clear_failure("datasets", entry.name, cache)
    return folder


def _file_hash(file_id: str, cache) -> str:
    """The hash a file was verified against (pinned, or recorded on first fetch)."""
    from fute.data.files import recorded_hash

    return recorded_hash(file_spec(file_id), cache)


def _split(entry: CatalogEntry, rows: R.Rows, keys: list[str]) -> dict[str, list[int]]:
    if entry.split == "fute" or rows.split is None:
        return split_indices(keys)
    # the source's own test split; dev carved from its train split
    train = [i for i, s in enumerate(rows.split) if s == "train"]
    inner = split_indices([keys[i] for i in train], fractions={"train": 0.9, "dev": 0.1})
    return {
        "train": [train[i] for i in inner["train"]],
        "dev": [train[i] for i in inner["dev"]],
        "test": [i for i, s in enumerate(rows.split) if s == "test"],
    }


def _counts(labels: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for y in labels:
        out[y] = out.get(y, 0) + 1
    return dict(sorted(out.items()))


def load_dataset(
    name: str, split: str = "train", cache: str | os.PathLike | None = None
) -> Examples:
    """One split of a catalogue data set as `Examples`, fetched and prepared on first use.

    The split file's sha256 (in meta.json) is checked on every read; a file that changed
    since it was written (truncated, edited) is rebuilt from the verified source files."""
    entry = get_entry(name)
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r} for {name}; choose one of {list(SPLITS)}")
    folder = prepare_dataset(entry, cache)
    try:
        cols = read_split(folder, split)
    except DataError as exc:
        import sys

        sys.stderr.write(f"{name}: {exc}; rebuilding it from its source files\n")
        folder = prepare_dataset(entry, cache, force=True)
        cols = read_split(folder, split)
    meta = read_meta(folder)
    files = _source_files(meta)
    provenance = {
        "dataset": name,
        "files": [
            {"id": f["id"], "sha256": meta.get("files_sha256", {}).get(f["id"]) or f["sha256"]}
            for f in files
        ],
        "sources": {f["id"]: f["sources"] for f in files},
        "reader": meta["source"].get("reader", entry.reader),
        "licence": entry.licence,
        "split": split,
        "split_sha256": meta.get("split_sha256", {}).get(split),
        "citation": entry.citation,
    }
    if meta["splits"]["made_by"] != "source":
        provenance["split_seed"] = meta["splits"]["seed"]
        provenance["split_made_by"] = meta["splits"]["made_by"]
    return Examples.from_labels(
        cols["text"],
        cols["label"],
        text_pairs=cols.get("text_pair"),
        name=name,
        provenance=provenance,
        label_names=entry.labels,
    )


def _source_files(meta: dict) -> list[dict]:
    """The files of a prepared set's meta.json; format-1 folders (one archive member) too."""
    src = meta["source"]
    if "files" in src:
        return src["files"]
    member = src.get("file")
    return [
        {
            "id": f"{src.get('package')}/{m}",
            "sha256": src.get("sha256"),
            "sources": [f"{src.get('registry')} {src.get('package')}=={src.get('version')}"],
        }
        for m in (member if isinstance(member, list) else [member])
    ]
