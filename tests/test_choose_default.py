"""benchmarks/choose_default.py carries out the pre-registered rule of issue 12 point 6."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import choose_default as cd  # noqa: E402


def stat(v):
    return {"mean": v, "std": 0.0}


def prompt_ev(rows: dict) -> dict:
    """{row: (ndcg, regret@1)} as the prompt benchmark's metrics["accuracy"]."""
    return {
        r: {"average": {"ndcg": stat(n), "regret@1": stat(g), "spearman": stat(0.0)}}
        for r, (n, g) in rows.items()
    }


def transfer_ev(rows: dict) -> dict:
    return {r: {"average": {"ndcg": stat(n), "rho": stat(1.0)}} for r, n in rows.items()}


BASE = {"mi": (0.90, 0.05), "pool-mi": (0.95, 0.0), "random": (0.99, 0.0), "few-label-16": (1, 0)}


def test_candidates_are_the_zero_call_fute_rows_only():
    ev = prompt_ev(
        {
            **BASE,
            "fute-fisher": (0.5, 0.1),
            "rrf(fute-prefix+anchor:maxsim, pool-mi)": (0.5, 0.1),
            "fute-fisher-k16": (0.99, 0.0),
            "rrf(fute-fisher-k16, pool-mi)": (0.99, 0.0),
        }
    )
    assert sorted(cd.candidates(ev)) == ["fute-fisher", "rrf(fute-prefix+anchor:maxsim, pool-mi)"]


def test_step1_keeps_rows_at_least_as_good_as_mi_and_step2_adds_transfer():
    ev = prompt_ev(
        {
            **BASE,
            "fute-fisher": (0.80, 0.02),  # NDCG below mi: out
            "fute-prefix:maxsim": (0.92, 0.06),  # regret above mi: out
            "fute-fisher:task2vec": (0.91, 0.05),
            "rrf(fute-prefix:behaviour, pool-mi)": (0.95, 0.01),
        }
    )
    tr = transfer_ev(
        {"dte-fisher": 0.99, "dte-fisher:task2vec": 0.90, "dte-prefix:behaviour": 0.70}
    )
    choice = cd.choose(ev, tr)
    assert [e["candidate"] for e in choice["table"]] == [
        "fute-fisher:task2vec",
        "rrf(fute-prefix:behaviour, pool-mi)",
    ]
    assert choice["default"] == "fute-fisher:task2vec"
    assert choice["table"][0]["score"] == pytest.approx((0.91 + 0.90) / 2)
    assert choice["table"][1]["transfer_row"] == "dte-prefix:behaviour"


def test_without_a_qualifier_the_three_best_ndcg_are_kept():
    ev = prompt_ev(
        {
            **BASE,
            "fute-fisher": (0.50, 0.2),
            "fute-prefix": (0.60, 0.2),
            "fute-fisher:task2vec": (0.70, 0.2),
            "fute-prefix:maxsim": (0.80, 0.2),
        }
    )
    tr = transfer_ev({"dte-fisher": 0.9, "dte-prefix": 0.9, "dte-fisher:task2vec": 0.5})
    tr["dte-prefix:maxsim"] = {"average": {"ndcg": stat(0.5)}}
    kept, how = cd.step1(ev)
    assert sorted(kept) == ["fute-fisher:task2vec", "fute-prefix", "fute-prefix:maxsim"]
    assert "3 with the highest NDCG" in how
    assert cd.choose(ev, tr)["default"] == "fute-prefix"  # (0.6 + 0.9) / 2 is the best


def test_ties_go_to_the_simpler_candidate_in_the_rule_order():
    rows = {
        "rrf(fute-fisher, pool-mi)": (0.96, 0.0),  # fused
        "fute-prefix": (0.955, 0.0),  # unfused, cosine, prefix
        "fute-fisher:centred-cosine": (0.958, 0.0),  # unfused, not cosine
    }
    tr = transfer_ev({"dte-fisher": 0.9, "dte-prefix": 0.9, "dte-fisher:centred-cosine": 0.9})
    ev = prompt_ev({**BASE, **rows})
    choice = cd.choose(ev, tr)
    assert set(choice["tied_within"]) == set(rows)
    assert choice["default"] == "fute-prefix"  # unfused and cosine beat fisher-first
    # outside the tie margin the higher score wins whatever its form
    ev = prompt_ev({**BASE, **rows, "rrf(fute-fisher, pool-mi)": (0.99, 0.0)})
    assert cd.choose(ev, tr)["default"] == "rrf(fute-fisher, pool-mi)"


def write_dev(folder: Path, complete=True, run="development"):
    folder.mkdir(parents=True, exist_ok=True)
    ev = prompt_ev({**BASE, "fute-fisher": (0.95, 0.0)})
    settings = {"run": run, "datasets": ["sentiment-imdb"], "targets": ["sentiment-yelp"]}
    common = {"complete": complete, "settings": settings, "finished": "2026-12-02T00:00:00"}
    (folder / "prompt_selection.json").write_text(
        json.dumps({**common, "metrics": {"accuracy": ev}})
    )
    (folder / "transfer.json").write_text(
        json.dumps({**common, "metrics": transfer_ev({"dte-fisher": 0.8})})
    )


def test_write_records_the_choice_once(tmp_path, capsys):
    dev, prereg = tmp_path / "dev", tmp_path / "preregistered.json"
    write_dev(dev)
    prereg.write_text(json.dumps({"default": None, "rule": "the rule"}))
    assert cd.main(["--dev-results", str(dev), "--preregistered", str(prereg), "--write"]) == 0
    saved = json.loads(prereg.read_text())
    assert saved["default"] == "fute-fisher" and saved["rule"] == "the rule"
    assert len(saved["commit"]) == 40 and saved["date"] and "sentiment-yelp" in saved["chosen_on"]
    before = prereg.read_text()
    with pytest.raises(SystemExit, match="already names a default"):
        cd.main(["--dev-results", str(dev), "--preregistered", str(prereg), "--write"])
    assert prereg.read_text() == before
    assert "Chosen: fute-fisher" in capsys.readouterr().out


@pytest.mark.parametrize("kwargs", [{"complete": False}, {"run": "full"}])
def test_write_refuses_a_run_that_is_not_a_complete_development_run(tmp_path, kwargs):
    dev, prereg = tmp_path / "dev", tmp_path / "preregistered.json"
    write_dev(dev, **kwargs)
    prereg.write_text(json.dumps({"default": None}))
    with pytest.raises(SystemExit, match="not a complete development run"):
        cd.main(["--dev-results", str(dev), "--preregistered", str(prereg), "--write"])
    assert json.loads(prereg.read_text()) == {"default": None}
