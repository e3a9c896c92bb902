"""The user's own data: CSV, JSONL and Parquet files, Hugging Face data sets, catalogue names.

`load_data` is the one entry point. A ``.json`` file holds an array of row objects (or an
object of equal-length columns); a ``.jsonl`` file one object per line, and a broken line
is reported by its line number. Columns are taken from the flags, or detected when
the choice is unambiguous (a column named text/sentence/..., label/labels/...). Every
problem a user can fix gets a one-line `DataError` saying what to do.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from fute.core.errors import DataError
from fute.core.examples import Examples
from fute.data.catalog import _registry, get_entry, load_dataset

TEXT_NAMES = ("text", "sentence", "sentence1", "premise", "question", "review", "content", "input")
PAIR_NAMES = ("text_pair", "sentence2", "hypothesis", "pair", "text2")
LABEL_NAMES = ("label", "labels", "class", "target", "category", "y")
_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "csv",
    ".jsonl": "jsonl",
    ".json": "json",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def load_data(
    name_or_path: str | os.PathLike,
    split: str = "train",
    text: str | None = None,
    pair: str | None = None,
    label: str | None = None,
) -> Examples:
    """Examples from a catalogue name, a CSV / JSONL / Parquet file, `hub:NAME[:CONFIG]`,
    or a folder written by `datasets.Dataset.save_to_disk`."""
    spec = str(name_or_path)
    if not spec.strip():
        raise DataError("the data set is empty: give a catalogue name, a file path or hub:NAME")
    if spec.startswith("hub:"):
        return load_hub(spec[4:], split=split, text=text, pair=pair, label=label)
    path = Path(spec).expanduser()
    if spec in _registry():
        return load_dataset(spec, split=split)
    if path.is_dir():
        return load_hub(str(path), split=split, text=text, pair=pair, label=label)
    if path.suffix.lower() in _SUFFIXES or path.exists() or os.sep in spec:
        return load_file(path, text=text, pair=pair, label=label)
    get_entry(spec)  # raises with the nearest catalogue names
    raise AssertionError("unreachable")


def load_file(path: str | os.PathLike, text=None, pair=None, label=None) -> Examples:
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"file not found: {path}; check the path")
    if path.is_dir():
        raise DataError(f"{path} is a folder; give a CSV, JSONL or Parquet file")
    kind = _SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise DataError(
            f"{path.name}: unsupported file type {path.suffix!r}; use .csv, .tsv, .jsonl, .json or .parquet"
        )
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty; it needs a header and at least two rows")
    frame = _read(path, kind)
    return frame_to_examples(
        frame, path.stem, text=text, pair=pair, label=label, provenance={"file": str(path)}
    )


def _read(path: Path, kind: str) -> pd.DataFrame:
    try:
        if kind == "parquet":
            return pd.read_parquet(path)
        raw = path.read_bytes()
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(
                f"{path.name} is not UTF-8 (bad byte at offset {exc.start}); re-save it as UTF-8"
            ) from None
        if kind == "json":
            return _read_json(path, raw.decode("utf-8-sig"))
        if kind == "jsonl":
            return _read_jsonl(path, raw.decode("utf-8-sig"))
        sep = "\t" if path.suffix.lower() == ".tsv" else ","
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8")
    except DataError:
        raise
    except (ValueError, pd.errors.ParserError, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"cannot parse {path.name} as {kind}: {first}") from None


_JSON_TYPES = {
    dict: "object",
    list: "array",
    tuple: "array",
    set: "set",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


def _records(path: Path, rows: list, where) -> pd.DataFrame:
    """A table from JSON objects, one per row; `where(i)` names row i in error messages."""
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            kind = _JSON_TYPES.get(type(row), type(row).__name__)
            raise DataError(
                f"{path.name} {where(i)}: expected an object of column values like "
                f'{{"text": ..., "label": ...}}, got {kind}'
            )
    return pd.DataFrame.from_records(rows)


def _read_json(path: Path, content: str) -> pd.DataFrame:
    """A .json file: an array of row objects, an object of equal-length columns, or JSON
    Lines under a .json name."""
    try:
        data = json.loads(content)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # several values, one per line: JSON Lines
            return _read_jsonl(path, content)
        raise DataError(
            f"{path.name} line {exc.lineno} column {exc.colno}: not valid JSON ({exc.msg})"
        ) from None
    if isinstance(data, list):
        return _records(path, data, lambda i: f"item {i}")
    if isinstance(data, dict) and data and all(isinstance(v, list) for v in data.values()):
        if len({len(v) for v in data.values()}) > 1:
            sizes = {k: len(v) for k, v in data.items()}
            raise DataError(f"{path.name}: columns have different lengths {sizes}")
        return pd.DataFrame(data)
    raise DataError(
        f"{path.name} holds a single JSON {_JSON_TYPES.get(type(data), 'value')}; give an array "
        'of row objects ([{"text": ..., "label": ...}, ...]) or one object per line (JSON Lines)'
    )


def _read_jsonl(path: Path, content: str) -> pd.DataFrame:
    """JSON Lines: one object per line; blank lines are skipped."""
    rows, numbers = [], []
    for number, line in enumerate(content.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise DataError(
                f"{path.name} line {number}: not valid JSON ({exc.msg} at column {exc.colno}); "
                "fix or delete that line"
            ) from None
        numbers.append(number)
    return _records(path, rows, lambda i: f"line {numbers[i]}")


def _pick(
    frame: pd.DataFrame,
    given: str | None,
    known: tuple[str, ...],
    what: str,
    flag: str,
    required: bool,
) -> str | None:
    cols = [str(c) for c in frame.columns]
    if given is not None:
        if given not in cols:
            raise DataError(f"no column {given!r} for the {what}; columns are {cols}")
        return given
    found = [c for c in cols if c.lower() in known]
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise DataError(f"several columns could be the {what} ({found}); choose one with {flag}")
    if required:
        raise DataError(f"cannot tell which column is the {what} among {cols}; name it with {flag}")
    return None


def frame_to_examples(
    frame: pd.DataFrame, name: str, text=None, pair=None, label=None, provenance: dict | None = None
) -> Examples:
    """Validate a table and turn it into labelled Examples."""
    if frame.empty:
        raise DataError(f"{name} has no rows")
    tcol = _pick(frame, text, TEXT_NAMES, "text", "--text", True)
    pcol = _pick(frame, pair, PAIR_NAMES, "text pair", "--pair", False)
    lcol = _pick(frame, label, LABEL_NAMES, "label", "--label", True)
    if lcol in (tcol, pcol):
        role = "text" if lcol == tcol else "text pair"
        raise DataError(
            f"{name}: column {lcol!r} is both the {role} and the label; the label column "
            "cannot be an input (choose another with --text / --pair / --label)"
        )
    if pcol == tcol:
        pcol = None
    labels = frame[lcol]
    for i, cell in enumerate(labels):
        if isinstance(cell, (list, tuple, dict, set, np.ndarray)):
            raise DataError(
                f"{name}: the label at row {i} is a {_JSON_TYPES.get(type(cell), 'list')}"
                f" ({str(cell)[:40]}), not one class name; give one label per row"
            )
    if labels.isna().any() or (labels.astype(str).str.strip() == "").any():
        bad = int((labels.isna() | (labels.astype(str).str.strip() == "")).to_numpy().argmax())
        raise DataError(
            f"{name}: column {lcol!r} has empty labels (first at row {bad}); fill or drop them"
        )
    texts = frame[tcol].fillna("").astype(str).tolist()
    pairs = frame[pcol].fillna("").astype(str).tolist() if pcol else None
    ex = Examples.from_labels(
        texts,
        labels.astype(str).tolist(),
        text_pairs=pairs,
        name=name,
        provenance={
            **(provenance or {}),
            "columns": {"text": tcol, "text_pair": pcol, "label": lcol},
        },
    )
    return ex.validate()


def load_hub(spec: str, split: str = "train", text=None, pair=None, label=None) -> Examples:
    """A Hugging Face data set by name (`NAME[:CONFIG]`, needs internet the first time) or a
    folder saved with `save_to_disk`: both go through the same conversion."""
    try:
        import datasets
    except ImportError:
        raise DataError(
            "reading Hugging Face data sets needs the `datasets` package: pip install 'fute[hub]'"
        ) from None
    local = Path(spec).expanduser()
    try:
        if local.is_dir():
            ds = datasets.load_from_disk(str(local))
            source = {"hub_path": str(local)}
        else:
            hub_name, _, config = spec.partition(":")
            ds = datasets.load_dataset(hub_name, config or None)
            source = {"hub": hub_name, "config": config or None}
    except (FileNotFoundError, ValueError, ConnectionError, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"cannot load Hugging Face data set {spec!r}: {first}") from None
    if isinstance(ds, datasets.DatasetDict):
        if split not in ds:
            raise DataError(f"{spec} has no split {split!r}; choose one of {sorted(ds)}")
        ds = ds[split]
    frame = ds.to_pandas()
    names = ds.features.get(label or "label")
    if isinstance(names, datasets.ClassLabel):  # integer ids -> the data set's label names
        col = label or "label"
        frame[col] = [names.int2str(int(i)) for i in frame[col]]
    name = local.name if local.is_dir() else spec
    return frame_to_examples(
        frame, name, text=text, pair=pair, label=label, provenance={**source, "split": split}
    )
