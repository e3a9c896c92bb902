"""Apply the pre-registered rule of issue 12 point 6 to the two development runs.

The rule is the text under ``rule`` (and ``rule_clarified``) in benchmarks/preregistered.json,
written before either development run had a result. This script only carries it out, so
that the choice can be re-made by anyone from the committed results:

* **Candidates**: every row of the group "FUTE, 0 calls" of the prompt-selection
  development run (each method x similarity, the variants ``+anchor`` / ``+clip``, alone or
  fused with ``pool-mi`` / ``pool-cbm-mi``).
* **Step 1** (prompt selection, truth = accuracy, mean over the 6 development sets): keep
  the candidates with NDCG >= mi's and regret@1 <= mi's; if none qualifies, keep the 3
  with the highest NDCG.
* **Step 2**: each kept candidate scores the mean of its prompt NDCG and the transfer
  development NDCG of the plain DTE row of its method and similarity (``dte-<method>`` or
  ``dte-<method>:<similarity>``); the highest wins.
* **Ties** within 0.005 of the best score go to the simpler candidate: unfused before
  fused, then cosine before the others, then fisher before prefix. The rule says nothing
  past that; candidates still tied on all three go to the higher score, then the name.

    python benchmarks/choose_default.py            # print the choice and every candidate
    python benchmarks/choose_default.py --write    # also write it into preregistered.json

``--write`` refuses when preregistered.json already names a default (it is not changed
within issue 12) and when either development run is incomplete or not a development run.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_prompt_selection import G_FUTE, group_of  # noqa: E402
from bench_prompt_selection import parse_row as parse_prompt_row  # noqa: E402
from bench_transfer import fute_row as transfer_row  # noqa: E402
from common import DEV_RESULTS_DIR, PREREGISTERED, git_state  # noqa: E402

TIE = 0.005
KEEP_IF_NONE = 3
BASELINE = "mi"


def _mean(ev: dict, row: str, metric: str):
    return ev[row]["average"][metric]["mean"]


def candidates(prompt_ev: dict) -> list[str]:
    """The zero-call FUTE rows of the prompt table (no row made from k labels)."""
    return [r for r in prompt_ev if group_of(r) == G_FUTE]


def step1(prompt_ev: dict) -> tuple[list[str], str]:
    """(kept candidates, how they were kept)."""
    base_ndcg = _mean(prompt_ev, BASELINE, "ndcg")
    base_regret = _mean(prompt_ev, BASELINE, "regret@1")
    rows = [r for r in candidates(prompt_ev) if _mean(prompt_ev, r, "ndcg") is not None]
    kept = [
        r
        for r in rows
        if _mean(prompt_ev, r, "ndcg") >= base_ndcg
        and _mean(prompt_ev, r, "regret@1") <= base_regret
    ]
    if kept:
        return kept, f"NDCG >= {BASELINE}'s {base_ndcg:.3f} and regret@1 <= its {base_regret:.3f}"
    top = sorted(rows, key=lambda r: -_mean(prompt_ev, r, "ndcg"))[:KEEP_IF_NONE]
    return top, (
        f"no candidate has NDCG >= {BASELINE}'s {base_ndcg:.3f} and regret@1 <= its "
        f"{base_regret:.3f}: the {KEEP_IF_NONE} with the highest NDCG are kept"
    )


def transfer_row_of(row: str) -> str:
    """The plain DTE row of the transfer table with the same method and similarity."""
    info = parse_prompt_row(row)
    return transfer_row("dte", info["method"], info["similarity"])


def simplicity(row: str) -> tuple[bool, bool, bool]:
    info = parse_prompt_row(row)
    return (info["kind"] == "fused", info["similarity"] != "cosine", info["method"] != "fisher")


def choose(prompt_ev: dict, transfer_ev: dict) -> dict:
    """The rule carried out: {"default", "step1", "table": [per kept candidate], "notes"}."""
    kept, how = step1(prompt_ev)
    table, notes = [], []
    for row in kept:
        t_row = transfer_row_of(row)
        if t_row not in transfer_ev or _mean(transfer_ev, t_row, "ndcg") is None:
            notes.append(f"{row}: the transfer run has no {t_row} row; not scored")
            continue
        p_ndcg, t_ndcg = _mean(prompt_ev, row, "ndcg"), _mean(transfer_ev, t_row, "ndcg")
        table.append(
            {
                "candidate": row,
                "prompt_ndcg": p_ndcg,
                "prompt_regret@1": _mean(prompt_ev, row, "regret@1"),
                "transfer_row": t_row,
                "transfer_ndcg": t_ndcg,
                "score": (p_ndcg + t_ndcg) / 2,
            }
        )
    if not table:
        return {"default": None, "step1": how, "table": [], "notes": [*notes, "no candidate"]}
    best = max(e["score"] for e in table)
    tied = [e for e in table if e["score"] >= best - TIE]
    winner = min(tied, key=lambda e: (*simplicity(e["candidate"]), -e["score"], e["candidate"]))
    table.sort(key=lambda e: -e["score"])
    return {
        "default": winner["candidate"],
        "step1": how,
        "best_score": best,
        "tied_within": [e["candidate"] for e in tied],
        "table": table,
        "notes": notes,
    }


def load_dev(name: str, folder: Path) -> dict:
    path = folder / f"{name}.json"
    if not path.exists():
        raise SystemExit(f"error: {path} is missing: run `python benchmarks/bench_{name}.py --dev`")
    result = json.loads(path.read_text())
    if result.get("settings", {}).get("run") != "development" or not result.get("complete"):
        raise SystemExit(f"error: {path} is not a complete development run")
    return result


def markdown(choice: dict) -> str:
    lines = [
        f"Step 1: {choice['step1']}.",
        "",
        "| candidate | prompt NDCG | prompt regret@1 | transfer row | transfer NDCG | score |",
        "|---|---|---|---|---|---|",
    ]
    for e in choice["table"]:
        mark = " ★" if e["candidate"] == choice["default"] else ""
        lines.append(
            f"| {e['candidate']}{mark} | {e['prompt_ndcg']:.3f} | {e['prompt_regret@1']:.3f} | "
            f"{e['transfer_row']} | {e['transfer_ndcg']:.3f} | {e['score']:.3f} |"
        )
    lines += ["", f"Chosen: {choice['default']}"]
    if len(choice.get("tied_within", [])) > 1:
        lines.append(f"(tied within {TIE}: {', '.join(choice['tied_within'])})")
    lines += [f"- {n}" for n in choice["notes"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dev-results", type=Path, default=DEV_RESULTS_DIR)
    p.add_argument("--preregistered", type=Path, default=PREREGISTERED)
    p.add_argument("--write", action="store_true", help="write the choice into --preregistered")
    args = p.parse_args(argv)
    prompt = load_dev("prompt_selection", args.dev_results)
    transfer = load_dev("transfer", args.dev_results)
    choice = choose(prompt["metrics"]["accuracy"], transfer["metrics"])
    print(markdown(choice))
    if not args.write:
        return 0
    prereg = json.loads(args.preregistered.read_text())
    if prereg.get("default") is not None:
        raise SystemExit(f"error: {args.preregistered} already names a default; it is not changed")
    if choice["default"] is None:
        raise SystemExit("error: the rule chose nothing; nothing written")
    prereg.update(
        default=choice["default"],
        commit=git_state()["commit"],
        date=datetime.now(timezone.utc).date().isoformat(),
        chosen_on=(
            "development runs benchmarks/results/dev/prompt_selection.json (finished "
            f"{prompt.get('finished')}, sets {', '.join(prompt['settings']['datasets'])}) and "
            f"benchmarks/results/dev/transfer.json (finished {transfer.get('finished')}, "
            f"targets {', '.join(transfer['settings']['targets'])}), by "
            "benchmarks/choose_default.py"
        ),
        choice=choice,
    )
    args.preregistered.write_text(json.dumps(prereg, indent=2) + "\n")
    print(f"wrote the default into {args.preregistered}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
