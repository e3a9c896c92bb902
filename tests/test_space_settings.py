"""Amounts of data are per-embedding settings, not part of the space key (issue 14, point 3).

A DTE made with `--max-examples`, an MTE made with `--pool-size` and embeddings made with the
defaults must rank together; when a rank finds nothing in its space, the message names the
setting that differs; `store list` fits an 80-column terminal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from typer.testing import CliRunner

from fute.core.errors import FuteError
from fute.core.examples import Examples
from fute.ranking import no_candidates_message, rank
from fute.space import Space, short_key
from fute.store import Store
from reportdata import TEXTS, TINY_FISHER

RECIPE = {k: v for k, v in TINY_FISHER.items() if k in ("max_steps", "eval_every", "max_length")}


def fute(*args: str, columns: int = 200) -> subprocess.CompletedProcess:
    """The real command line in a subprocess (rank and store list import no torch: fast)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env["COLUMNS"] = str(columns)
    return subprocess.run(
        [sys.executable, "-m", "fute", *args], capture_output=True, text=True, env=env, timeout=120
    )


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stderr


@pytest.mark.parametrize(
    ("method", "settings"),
    [
        ("fisher", dict(max_examples=64, fisher_examples=16, fisher_batch_size=8)),
        ("prefix", dict(max_examples=64)),
        ("mean-embedding", dict(max_examples=64, batch_size=8)),
    ],
)
def test_amounts_of_data_do_not_change_the_key(method, settings):
    default = Space(method=method)
    assert Space(method=method, **settings).key == default.key
    assert Space(method=method, pool_size=32).key == default.key
    assert Space(method=method, max_length=32).key != default.key  # a space-defining one
    assert Space(method=method, seed=1).key != default.key
    assert set(settings) <= set(Space(method=method, **settings).settings)
    assert not set(settings) & set(default.hparams)


@pytest.mark.slow  # two fisher DTEs with the full vector (~30 s on 2 idle cores)
def test_batching_settings_change_only_rounding():
    """Why fisher_batch_size and the mean-embedding's batch_size are per embedding."""
    texts, labels = TEXTS["sentiment-movies"]
    data = Examples.from_labels(texts, labels, name="movies")
    space = Space(method="fisher", progress=False, projection_dim=0, fisher_examples=8, **RECIPE)
    a, b = (space.dataset_embedding(data, fisher_batch_size=n).vector for n in (3, 8))
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-5 * np.abs(b).max())
    mean = Space(method="mean-embedding", progress=False)
    c, d = (mean.dataset_embedding(data, batch_size=n).vector for n in (3, 64))
    np.testing.assert_allclose(c, d, rtol=0, atol=1e-6)


def test_settings_are_provenance_and_can_be_given_per_call():
    data = Examples.from_labels(*TEXTS["sentiment-movies"], name="movies")
    space = Space(method="mean-embedding", progress=False)
    small = space.dataset_embedding(data, max_examples=4)
    assert small.space_key == space.key
    assert small.meta["settings"]["max_examples"] == 4
    assert small.meta["training"]["n_examples"] == 4
    assert "max_examples" not in small.meta["space"]["hparams"]
    full = space.dataset_embedding(data)
    assert (
        full.meta["settings"]["max_examples"] == 1000 and full.meta["training"]["n_examples"] == 8
    )
    assert small.vector.tobytes() != full.vector.tobytes()  # the setting did act
    with pytest.raises(FuteError, match="max_length defines the space"):
        space.dataset_embedding(data, max_length=32)
    with pytest.raises(FuteError, match="no per-embedding setting 'fisher_examples'"):
        space.dataset_embedding(data, fisher_examples=8)


def test_small_pool_mte_ranks_against_a_dte_made_with_other_caps():
    """The issue's case in the library: an MTE from 16 pool inputs, a DTE capped at 12."""
    from fute.models import VaderModel

    space = Space(method="fisher", progress=False, **RECIPE)
    dte = space.dataset_embedding(
        Examples.from_labels(*TEXTS["sentiment-products"], name="products"), max_examples=12
    )
    mte = space.model_embedding(VaderModel(), name="vader", pool_size=16, fisher_examples=8)
    assert dte.space_key == mte.space_key == space.key
    assert mte.meta["settings"]["pool_size"] == 16 and mte.meta["pool"]["n"] == 16
    assert mte.meta["settings"]["fisher_examples"] == 8
    assert dte.meta["settings"]["max_examples"] == 12
    (only,) = rank(dte, [mte])
    assert only.embedding.name == "vader" and -1.0 <= only.similarity <= 1.0


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """Three DTEs made by `fute embed dataset` (in-process): one with --max-examples 6, one
    with the defaults, one with another seed."""
    from fute.cli import app

    folder = tmp_path_factory.mktemp("settings")
    path = folder / "store.sqlite"
    runs = {
        "movies-small": ("sentiment-movies", ["--max-examples", "6"]),
        "products": ("sentiment-products", []),
        "news-seed1": ("topic-news", ["--seed", "1"]),
    }
    for name, (source, extra) in runs.items():
        texts, labels = TEXTS[source]
        csv = folder / f"{source}.csv"
        lines = ["review,stars"] + [f'"{t}",{y}' for t, y in zip(texts, labels, strict=True)]
        csv.write_text("\n".join(lines) + "\n")
        args = ["embed", "dataset", str(csv), "--text", "review", "--label", "stars"]
        args += ["--method", "mean-embedding", "--name", name, "--store", str(path), "--json"]
        result = CliRunner().invoke(app, [*args, *extra])
        assert result.exit_code == 0, result.output
    return path


def test_dte_made_with_max_examples_ranks_against_default_dtes(store):
    proc = fute("rank", "movies-small", "--kind", "dataset", "--store", str(store), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert [r["name"] for r in out["results"]] == ["products"]
    shown = json.loads(
        fute("store", "show", "movies-small", "--store", str(store), "--json").stdout
    )
    assert shown["meta"]["settings"]["max_examples"] == 6
    assert shown["meta"]["training"]["n_examples"] == 6


def test_rank_names_the_setting_that_differs(store):
    line = one_error_line(fute("rank", "news-seed1", "--kind", "dataset", "--store", str(store)))
    assert "seed (1 vs 0)" in line and "--seed 0" in line
    assert short_key(Store(store).get("products").space_key) in line


def test_rank_json_with_no_candidates_is_noticed(store):
    proc = fute("rank", "news-seed1", "--kind", "dataset", "--store", str(store), "--json")
    line = one_error_line(proc)
    doc = json.loads(proc.stdout)
    assert doc["results"] == [] and doc["error"] in line
    alone = fute("rank", "news-seed1", "--kind", "prompt", "--store", str(store), "--json")
    assert "nor in any other space" in one_error_line(alone)
    assert json.loads(alone.stdout)["results"] == []


def test_store_list_fits_80_columns(store):
    proc = fute("store", "list", "--store", str(store), columns=80)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, proc.stdout
    ids = {short_key(r.space_key) for r in Store(store).list()}
    assert len(ids) == 2
    for name in ("movies-small", "products", "news-seed1"):
        (row,) = [line for line in lines if name in line]
        assert any(i in row for i in ids), row  # each row names its space in one piece
    legend = [line for line in lines if any(line.strip().startswith(i) for i in ids)]
    assert len(legend) == 2 and any("seed 1" in line for line in legend), proc.stdout
    wide = fute("store", "list", "--wide", "--store", str(store), columns=400).stdout
    assert Store(store).get("products").space_key in wide
    some_id = sorted(ids)[0]
    narrowed = json.loads(
        fute("store", "list", "--space", some_id, "--store", str(store), "--json").stdout
    )
    assert {short_key(r["space_key"]) for r in narrowed["embeddings"]} == {some_id}


def _record(name, kind, key, method="fisher", seed=0, **hparams):
    space = {"key": key, "surrogate": "minilm", "surrogate_sha256": "ab" * 32}
    space.update(method=method, seed=seed, hparams={"lr": 5e-5, "max_steps": 60, **hparams})
    return SimpleNamespace(name=name, kind=kind, space_key=key, meta={"space": space})


def test_message_names_hparams_and_keys_of_older_versions():
    target = _record("imdb", "dataset", "m@1/fisher/aaa/seed0")
    recipe = [
        _record(f"p{i}", "prompted-lm", "m@1/fisher/bbb/seed0", max_steps=4) for i in range(3)
    ]
    other = [_record("q", "prompted-lm", "m@1/prefix/ccc/seed0", method="prefix")]
    line = no_candidates_message(target, [target, *recipe, *other], "prompted-lm")
    assert "but 3 in fisher-s0-" in line and "max_steps (60 vs 4)" in line
    assert "Space(max_steps=4) in Python" in line and "Space(max_steps=60)" in line
    assert "1 more in 1 other spaces" in line and "\n" not in line
    method = no_candidates_message(target, other, "prompted-lm")
    assert "method ('fisher' vs 'prefix')" in method and "--method prefix" in method
    old = [_record("v", "model", "m@1/fisher/ddd/seed0", max_examples=1000, pool_size=1000)]
    legacy = no_candidates_message(target, old, "model")
    assert "differs only in amounts of data: max_examples (absent vs 1000)" in legacy
    assert "pool_size (absent vs 1000), which an older fute kept in the space key" in legacy
    older = _record("imdb", "dataset", "m@1/fisher/eee/seed0", max_examples=64, pool_size=1000)
    both = no_candidates_message(older, [*old, *recipe], "model")
    assert "max_steps (60 vs 4)" in both and "also max_examples (64 vs 1000)" not in both
    assert "; also max_examples (64 vs absent)" in both  # vs the 3 in the max_steps space
