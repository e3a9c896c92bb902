"""A batch of embedding jobs read from a YAML or JSONL file, checked before any work starts.

YAML: one space for the whole batch (any argument of `fute.Space`: ``method``, ``seed``,
``surrogate``, ``pool_size``, hyper-parameters and per-embedding defaults), then lists of
data sets, models and LLMs::

    space: {method: fisher, seed: 0}
    datasets:
      - sentiment-imdb                               # a catalogue name
      - {dataset: reviews.csv, text: review, label: stars, name: my-reviews}
    models:
      - vader
      - {model: hf:ORG/NAME, exclude: [sentiment-imdb], settings: {pool_size: 500}}
    llms:
      - {llm: lm:smollm2, prompts: [sentiment]}      # a task name: all its prompts

JSONL: one object a line, ``{"space": {...}}`` once, then ``{"dataset": ...}``,
``{"model": ...}`` or ``{"llm": ..., "prompts": [...]}`` lines with the same fields.

Every job may carry ``name`` (what it is stored as), ``settings`` (per-embedding settings
such as ``max_examples``; space-defining names are refused) and, for models and LLMs,
``exclude`` (pool sources to leave out). An LLM job expands to one job per prompt.
Mistakes in the file raise `BatchFileError` naming the file, the job and the field.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fute.core.errors import FuteError
from fute.core.kinds import Kind

#: the kind of each entry of a jobs file (an ``llm`` entry: one prompted LM per prompt)
KIND_OF = {"dataset": Kind.DATASET, "model": Kind.MODEL, "llm": Kind.PROMPTED_LM}
SECTIONS = {"datasets": "dataset", "models": "model", "llms": "llm"}
COMMON_FIELDS = ("name", "settings")
FIELDS = {
    "dataset": (*COMMON_FIELDS, "split", "text", "pair", "label"),
    "model": (*COMMON_FIELDS, "exclude"),
    "llm": (*COMMON_FIELDS, "exclude", "prompts"),
}


class BatchFileError(FuteError):
    """A jobs file that cannot be read or has a mistake in it."""


@dataclass(frozen=True)
class Job:
    """One embedding to compute: what the worker needs, and the (kind, name) it is stored as.

    `source` is the data set (catalogue name or file path) or the model / LLM spec;
    `prompt` is the `Prompt` of a prompted-LM job; `options` holds a data file's column
    flags and split.
    """

    kind: str
    name: str
    source: str
    where: str
    prompt: Any = None
    options: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    exclude: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """How messages name the job: ``dataset sentiment-imdb``."""
        return f"{self.kind} {self.name}"


@dataclass(frozen=True)
class Batch:
    """A checked jobs file: the space's arguments and the jobs, in file order."""

    space: dict
    jobs: list[Job]
    source: str = ""


def read_jobs_file(path: str | os.PathLike) -> Batch:
    """Read and check a YAML (``.yaml``/``.yml``) or JSONL (``.jsonl``) jobs file."""
    path = Path(path).expanduser()
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise BatchFileError(f"jobs file {path} {what}; give a .yaml or .jsonl file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BatchFileError(f"cannot read jobs file {path}: {exc}") from None
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        entries = _jsonl_entries(text, path.name)
    elif path.suffix.lower() in (".yaml", ".yml"):
        entries = _mapping_entries(_yaml_doc(text, path.name), path.name)
    else:
        raise BatchFileError(
            f"jobs file {path.name}: unknown format {path.suffix or '(no suffix)'!r}; "
            "name it .yaml, .yml or .jsonl"
        )
    return _from_entries(entries, path.name)


def make_batch(spec: Any, source: str = "jobs") -> Batch:
    """A `Batch` from what a YAML jobs file holds (a dict) or a list of JSONL-style entries."""
    if isinstance(spec, Batch):
        return spec
    if isinstance(spec, dict):
        entries = _mapping_entries(spec, source)
    elif isinstance(spec, list | tuple):
        entries = [(f"jobs[{i}]", e) for i, e in enumerate(spec)]
    else:
        raise BatchFileError(
            f"{source}: jobs must be a mapping (space, datasets, models, llms) or a list of "
            f"job entries, got {type(spec).__name__}"
        )
    return _from_entries(entries, source)


def _from_entries(entries: list[tuple[str, Any]], source: str) -> Batch:
    space: dict | None = None
    jobs: list[Job] = []
    for where, entry in entries:
        if isinstance(entry, dict) and set(entry) == {"space"}:
            if space is not None:
                raise BatchFileError(f"{source}: {where}: a second space; a batch has one")
            space = _space_args(entry["space"], f"{source}: {where}")
            continue
        jobs.extend(_jobs(entry, f"{source}: {where}"))
    if not jobs:
        raise BatchFileError(f"{source}: no jobs; list datasets, models or llms")
    space = space if space is not None else {}
    _check_space(space, jobs, source)
    _check_unique(jobs)
    return Batch(space=space, jobs=jobs, source=source)


# -- reading -------------------------------------------------------------------------------
def _jsonl_entries(text: str, source: str) -> list[tuple[str, Any]]:
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            entries.append((f"line {number}", json.loads(line)))
        except json.JSONDecodeError as exc:
            raise BatchFileError(f"{source} line {number}: not JSON ({exc.msg})") from None
    return entries


def _yaml_doc(text: str, source: str) -> dict:
    import yaml

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise BatchFileError(f"{source}{at}: not YAML ({problem})") from None
    if not isinstance(doc, dict):
        raise BatchFileError(
            f"{source}: the file must be a mapping with space, datasets, models and llms keys"
        )
    return doc


def _mapping_entries(doc: dict, source: str) -> list[tuple[str, Any]]:
    unknown = sorted(set(doc) - {"space", *SECTIONS})
    if unknown:
        raise BatchFileError(
            f"{source}: unknown key {unknown[0]!r}; use space, datasets, models and llms"
        )
    entries: list[tuple[str, Any]] = []
    if "space" in doc:
        entries.append(("space", {"space": doc["space"]}))
    for section, key in SECTIONS.items():
        items = doc.get(section) or []
        if not isinstance(items, list):
            raise BatchFileError(f"{source}: {section} must be a list, got {_kind(items)}")
        for i, item in enumerate(items):
            if isinstance(item, str):
                item = {key: item}
            elif isinstance(item, dict) and key not in item:
                raise BatchFileError(
                    f"{source}: {section}[{i}]: lacks {key!r}; write {{{key}: ..., ...}}"
                )
            elif isinstance(item, dict):
                other = [k for k in KIND_OF if k != key and k in item]
                if other:
                    raise BatchFileError(
                        f"{source}: {section}[{i}]: {other[0]!r} does not belong in {section}; "
                        f"move it to {other[0]}s"
                    )
            entries.append((f"{section}[{i}]", item))
    return entries


# -- checking ------------------------------------------------------------------------------
def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _space_args(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise BatchFileError(f"{where}: space must be a mapping, e.g. {{method: fisher, seed: 0}}")
    for key in value:
        if not isinstance(key, str):
            raise BatchFileError(f"{where}: space key {key!r} is not a name")
    if "progress" in value:
        raise BatchFileError(f"{where}: space: progress is not a space setting; drop it")
    return dict(value)


def _check_space(space: dict, jobs: list[Job], source: str) -> None:
    """Build the space once (no surrogate loaded) so a bad setting fails before any work."""
    from fute.space import Space

    try:
        base = Space(**space)
    except TypeError as exc:
        raise BatchFileError(f"{source}: space: {exc}") from None
    except FuteError as exc:
        raise BatchFileError(f"{source}: space: {exc}") from None
    for job in jobs:
        if job.settings:
            try:
                base.with_settings(**job.settings)
            except FuteError as exc:
                raise BatchFileError(f"{job.where}: settings: {exc}") from None


def _text(entry: dict, key: str, where: str, required: bool = False) -> str | None:
    value = entry.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise BatchFileError(f"{where}: {key} must be a non-empty string, got {_kind(value)}")
    return value.strip()


def _names(entry: dict, key: str, where: str) -> list[str]:
    value = entry.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise BatchFileError(f"{where}: {key} must be a list of names, got {_kind(value)}")
    return [v.strip() for v in value]


def _jobs(entry: Any, where: str) -> list[Job]:
    if not isinstance(entry, dict):
        raise BatchFileError(
            f'{where}: a job must be a mapping such as {{"dataset": "sentiment-imdb"}}, '
            f"got {_kind(entry)}"
        )
    keys = [k for k in KIND_OF if k in entry]
    if len(keys) != 1:
        found = f"both {keys[0]!r} and {keys[1]!r}" if keys else "none of them"
        raise BatchFileError(f"{where}: a job has one of dataset, model or llm; found {found}")
    key = keys[0]
    unknown = sorted(set(entry) - {key, *FIELDS[key]})
    if unknown:
        raise BatchFileError(
            f"{where}: unknown field {unknown[0]!r} for a {key} job; known: "
            f"{', '.join(FIELDS[key])}"
        )
    source = _text(entry, key, where, required=True)
    name = _text(entry, "name", where)
    settings = entry.get("settings") or {}
    if not isinstance(settings, dict):
        raise BatchFileError(f"{where}: settings must be a mapping, got {_kind(settings)}")
    if key == "dataset":
        options = {k: _text(entry, k, where) for k in ("split", "text", "pair", "label")}
        options = {k: v for k, v in options.items() if v is not None}
        name = name or _dataset_name(source)
        return [Job("dataset", name, source, where, options=options, settings=settings)]
    exclude = tuple(_names(entry, "exclude", where))
    if key == "model":
        return [Job("model", name or "", source, where, settings=settings, exclude=exclude)]
    prompts = _prompts(_names(entry, "prompts", where), where)
    if name and len(prompts) > 1:
        raise BatchFileError(
            f"{where}: name names one embedding but the prompts give {len(prompts)}; drop name"
        )
    return [
        Job(
            Kind.PROMPTED_LM, name or "", source, f"{where} prompt {p.id}", p, {}, settings, exclude
        )
        for p in prompts
    ]


def _dataset_name(source: str) -> str:
    from fute.models.specs import looks_like_path

    return Path(source).stem if looks_like_path(source) or Path(source).suffix else source


def _prompts(refs: list[str], where: str) -> list:
    from fute.models.prompts import TASK_ARITY, load_prompt, load_prompts

    if not refs:
        raise BatchFileError(f"{where}: an llm job needs prompts: a list of prompt ids or tasks")
    prompts = []
    for ref in refs:
        try:
            prompts.extend(load_prompts(ref) if ref in TASK_ARITY else [load_prompt(ref)])
        except FuteError as exc:
            raise BatchFileError(f"{where}: prompts: {exc}") from None
    return list({p.id: p for p in prompts}.values())


def _check_unique(jobs: list[Job]) -> None:
    seen: dict[tuple[str, str], str] = {}
    for job in jobs:
        if not job.name:  # a model's name is known once its spec is read (`fute.batch.driver`)
            continue
        key = (job.kind, job.name)
        if key in seen:
            raise BatchFileError(
                f"{job.where}: {job.label} is also {seen[key].split(': ', 1)[-1]}; give one of "
                "them another name"
            )
        seen[key] = job.where
