"""Which zero-call signal fails where in prompt selection (issue 12, point 7).

Reads the committed final prompt-selection run (benchmarks/results/prompt_selection.json
for the truth, its parts for the scores) and asks, per data set, how each signal's ranking
of the prompts agrees with MI on the data set's own inputs and with the prompts' accuracy,
and where each signal puts the truly best prompt. No model runs: everything comes from the
committed scores, so the table is reproducible from the repository alone.

    python benchmarks/diagnose_prompt_signals.py   # writes results/prompt_signals.md
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from bench_prompt_selection import part_scores
from common import markdown_table, read_parts

RESULTS = Path(__file__).resolve().parent / "results"
POOL_SIGNALS = ("pool-mi", "pool-cbm-mi")


def rank_of(scores: np.ndarray, index: int) -> int:
    """1 + how many candidates score strictly higher than candidate `index`."""
    return 1 + int((scores > scores[index]).sum())


def accuracies(truth: dict) -> np.ndarray:
    """Each prompt's accuracy on one data set, in the order of its `prompt_ids`."""
    return np.array([truth["prompts"][p]["accuracy"] for p in truth["prompt_ids"]])


def diagnose(merged: dict, scores: dict) -> list[dict]:
    """One row per data set and signal, from the merged run's truth and default and the
    parts' row scores (`bench_prompt_selection.part_scores`)."""
    rows = []
    for name, truth in merged["truth"].items():
        ids = truth["prompt_ids"]
        accuracy = accuracies(truth)
        best = int(accuracy.argmax())
        target_mi = np.array(scores["mi"][name]["-"])
        rows.append(_row(name, "mi (target inputs)", [target_mi], target_mi, accuracy, ids))
        for signal in (*POOL_SIGNALS, merged["default"]):
            per_seed = [np.array(v) for _, v in sorted(scores[signal][name].items())]
            rows.append(_row(name, signal, per_seed, target_mi, accuracy, ids))
        rows[-1]["best"] = f"{ids[best]} ({accuracy[best]:.3f})"
    return rows


def _row(name, signal, per_seed, target_mi, accuracy, ids) -> dict:
    best = int(accuracy.argmax())
    tops = [int(s.argmax()) for s in per_seed]
    return {
        "data set": name,
        "signal": signal,
        "spearman vs target MI": np.mean([spearmanr(s, target_mi)[0] for s in per_seed]),
        "spearman vs accuracy": np.mean([spearmanr(s, accuracy)[0] for s in per_seed]),
        "rank of the best prompt": ", ".join(str(rank_of(s, best)) for s in per_seed),
        "its top prompt (accuracy)": "; ".join(
            sorted({f"{ids[t]} ({accuracy[t]:.3f})" for t in tops})
        ),
    }


def render(rows: list[dict], default: str) -> str:
    headers = list(rows[0])[:6]
    table = [
        [f"{v:.2f}" if isinstance(v, float) else v for v in (r[h] for h in headers)] for r in rows
    ]
    best = [f"- {r['data set']}: {r['best']}" for r in rows if "best" in r]
    return "\n".join(
        [
            "# Prompt selection: which zero-call signal fails where",
            "",
            "From the committed final run (`python benchmarks/diagnose_prompt_signals.py`; "
            "no model runs). Per data set: how each signal's ranking of the prompts agrees "
            "(Spearman) with MI on the data set's own 500 unlabelled inputs, which costs 15 "
            "x 500 LLM calls, and with the prompts' accuracy; the rank it gives the truly "
            "best prompt (one entry per embedding-space seed; 1 = found); its top prompt. "
            "`pool-mi` and `pool-cbm-mi` score each prompt from the LLM's answers on the "
            f"space's pool alone; `{default}` is the pre-registered default.",
            "",
            markdown_table(headers, table),
            "",
            "The best prompt per data set (accuracy on the 500 held-out examples):",
            "",
            *best,
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    merged = json.loads((args.results / "prompt_selection.json").read_text())
    scores = part_scores(read_parts(args.results, "prompt_selection"))
    text = render(diagnose(merged, scores), merged["default"])
    out = args.results / "prompt_signals.md"
    out.write_text(text)
    print(text)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
