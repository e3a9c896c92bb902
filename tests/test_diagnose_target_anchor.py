"""The target-inputs diagnosis of issue 12: it refuses the reserved sets, reads the target's
inputs without their labels, and scores rankings against the truth."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import diagnose_target_anchor as dta  # noqa: E402
from fute.core.examples import Examples  # noqa: E402


@pytest.mark.parametrize("reserved", dta.RESERVED)
def test_reserved_sets_are_never_targets(reserved, capsys):
    with pytest.raises(SystemExit) as exc:
        dta.parse_args(["--sets", "sentiment-imdb", reserved])
    assert exc.value.code == 2
    assert "reserved for the outside check" in capsys.readouterr().err


def test_target_inputs_keep_texts_and_drop_labels():
    data = Examples.from_labels(
        ["good", "bad", "fine"], ["pos", "neg", "pos"], text_pairs=["a", "b", "c"], name="tiny"
    )
    inputs = dta.target_inputs(data, 2)
    assert inputs.texts == ["good", "bad"] and inputs.text_pairs == ["a", "b"]
    assert not inputs.is_labelled
    assert len(dta.target_inputs(data, 10)) == 3


def test_evaluate_finds_the_rank_of_the_best_prompt():
    truth = {
        "set": {
            "prompt_ids": ["a", "b", "c"],
            "prompts": {
                p: {"accuracy": a, "macro_f1": a}
                for p, a in zip("abc", (0.5, 0.9, 0.6), strict=True)
            },
        }
    }
    rows = {"r": {"set": {"0": [0.1, 0.9, 0.5], "1": [0.9, 0.1, 0.5]}}}
    cell = dta.evaluate(rows, truth)["r"]["set"]
    assert cell["rank of best"] == [1, 3]
    assert cell["regret@1"]["mean"] == pytest.approx((0.0 + 0.4) / 2)
    assert cell["ndcg"]["mean"] < 1.0 and cell["regret@1"]["std"] == pytest.approx(0.4 / 2**0.5)
