"""The prompt-signal diagnosis of issue 12: ranks on hand-made scores, and the committed
table is what the script makes of the committed final run."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import diagnose_prompt_signals as dps  # noqa: E402

RESULTS = Path(__file__).resolve().parent.parent / "benchmarks" / "results" / "retired"


def test_rank_counts_only_strictly_higher_scores():
    scores = np.array([0.2, 0.9, 0.5, 0.9])
    assert dps.rank_of(scores, 1) == 1  # tied at the top: still found
    assert dps.rank_of(scores, 2) == 3
    assert dps.rank_of(scores, 0) == 4


def _tiny_run():
    truth = {
        "prompt_ids": ["a", "b", "c"],
        "prompts": {"a": {"accuracy": 0.9}, "b": {"accuracy": 0.5}, "c": {"accuracy": 0.6}},
    }
    merged = {"truth": {"set": truth}, "default": "fute-x"}
    scores = {
        "mi": {"set": {"-": [3.0, 1.0, 2.0]}},  # agrees with accuracy
        "pool-mi": {"set": {"0": [1.0, 3.0, 2.0]}},  # reversed: the best prompt ranked last
        "pool-cbm-mi": {"set": {"0": [2.0, 1.0, 3.0]}},
        "fute-x": {"set": {"0": [3.0, 1.0, 2.0], "1": [1.0, 2.0, 3.0]}},
    }
    return merged, scores


def test_diagnosis_of_a_hand_made_run():
    merged, scores = _tiny_run()
    rows = {r["signal"]: r for r in dps.diagnose(merged, scores)}
    assert rows["mi (target inputs)"]["spearman vs accuracy"] == pytest.approx(1.0)
    assert rows["pool-mi"]["spearman vs target MI"] == pytest.approx(-1.0)
    assert rows["pool-mi"]["rank of the best prompt"] == "3"
    assert rows["fute-x"]["rank of the best prompt"] == "1, 3"
    assert rows["fute-x"]["its top prompt (accuracy)"] == "a (0.900); c (0.600)"
    assert rows["fute-x"]["best"] == "a (0.900)"


def test_committed_table_is_made_from_the_committed_run():
    merged_path = RESULTS / "prompt_selection.json"
    if not (RESULTS / "prompt_signals.md").is_file() or not merged_path.is_file():
        pytest.skip("no committed diagnosis")
    merged = json.loads(merged_path.read_text())
    text = dps.render(
        dps.diagnose(merged, dps.part_scores(dps.read_parts(RESULTS, "prompt_selection"))),
        merged["default"],
    )
    assert text == (RESULTS / "prompt_signals.md").read_text()
