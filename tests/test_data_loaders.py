"""User data: CSV / JSONL / Parquet, Hugging Face data sets, and one-line errors on bad input."""

import subprocess
import sys

import pandas as pd
import pytest

from fute.core.errors import DataError
from fute.data import load_data

ROWS = {
    "sentence": ["good film", "bad film", "fine plot", "dull plot"],
    "label": ["pos", "neg", "pos", "neg"],
}


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_files_load_with_detected_columns(tmp_path, suffix):
    path = tmp_path / f"mine{suffix}"
    frame = pd.DataFrame(ROWS)
    {
        ".csv": lambda: frame.to_csv(path, index=False),
        ".jsonl": lambda: frame.to_json(path, orient="records", lines=True),
        ".parquet": lambda: frame.to_parquet(path),
    }[suffix]()
    ex = load_data(path)
    assert ex.texts == ROWS["sentence"] and ex.label_names == ("neg", "pos") and ex.arity == 1


def test_columns_by_flag_and_text_pairs(tmp_path):
    path = tmp_path / "pairs.csv"
    pd.DataFrame(
        {"a": ["x one", "y two"], "b": ["z three", "w four"], "gold": ["yes", "no"]}
    ).to_csv(path, index=False)
    ex = load_data(path, text="a", pair="b", label="gold")
    assert ex.inputs() == [("x one", "z three"), ("y two", "w four")]


def test_catalogue_name_goes_through_load_data():
    assert load_data("sentiment-yelp", split="dev").name == "sentiment-yelp"


def test_hub_path_offline_with_a_saved_data_set(tmp_path):
    datasets = pytest.importorskip("datasets")
    feats = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])}
    )
    ds = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict(
                {"text": ["a b", "c d", "e f"], "label": [0, 1, 1]}, features=feats
            )
        }
    )
    ds.save_to_disk(str(tmp_path / "saved"))
    for spec in (str(tmp_path / "saved"), f"hub:{tmp_path / 'saved'}"):
        ex = load_data(spec)
        assert ex.labels == ["neg", "pos", "pos"] and ex.provenance["split"] == "train"
    with pytest.raises(DataError, match="no split"):
        load_data(str(tmp_path / "saved"), split="test")


def _bad(tmp_path, name, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    return path


BAD = {
    "missing file": (None, "not found"),
    "empty file": (b"", "empty"),
    "missing column": (b"text,label\na,x\nb,y\n", "no column 'stars'"),
    "one class": (b"text,label\na,x\nb,x\n", "only one class"),
    "empty text": (b"text,label\na,x\n ,y\n", "empty text"),
    "not utf-8": ("text,label\ncaf\u00e9,x\nb,y\n".encode("latin-1"), "not UTF-8"),
    "unknown name": (None, "did you mean sentiment-imdb"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_non_zero_no_traceback(tmp_path, case):
    content, expected = BAD[case]
    args = ["data", "show"]
    if case == "missing file":
        args.append(str(tmp_path / "nope.csv"))
    elif case == "unknown name":
        args.append("sentiment-imbd")
    else:
        args.append(str(_bad(tmp_path, "bad.csv", content)))
    if case == "missing column":
        args += ["--label", "stars"]
    run = subprocess.run([sys.executable, "-m", "fute", *args], capture_output=True, text=True)
    assert run.returncode != 0
    assert "Traceback" not in run.stderr + run.stdout
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], run.stderr
