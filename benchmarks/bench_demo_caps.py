"""How the demo's caps change how far its prompt order can be trusted.

Runs the demo (`fute.cli.demo.run_demo`) with other caps into its own store and prints the
Spearman correlation of its prompt order on sentiment-imdb (a development set) with the
prompts' accuracies in the prompt-selection benchmark, and the wall time of each phase.
LLM answers are cached, so a run after the first mostly costs the embeddings.

    python benchmarks/bench_demo_caps.py --max-steps 16 --pool-size 24
    python benchmarks/bench_demo_caps.py --max-steps 16 --max-examples 512 --pool-size 64

Measured 2026-12-02 (two benchmark processes on the same 2 cores), pool-anchored fisher,
pool 24: 4 steps (the demo's default) -0.84; 16 steps -0.11; 32 steps -0.11; 16 steps with
512 training examples +0.35 (its 8 DTEs took 591 s on the shared cores). The same row
at benchmark settings has +0.93 (benchmarks/results/dev/prompt_selection.json).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS_DIR  # noqa: E402  (also sets the offline variables)
from fute.cli.demo import DEMO_HPARAMS, DemoPlan, benchmark_agreement, run_demo  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--max-steps", type=int, default=DEMO_HPARAMS["max_steps"])
    p.add_argument("--max-examples", type=int, default=DEMO_HPARAMS["max_examples"])
    p.add_argument("--pool-size", type=int, default=DemoPlan.pool_size)
    p.add_argument("--no-anchor", action="store_true", help="a plain fisher space")
    p.add_argument("--truth", type=Path, default=RESULTS_DIR / "dev" / "prompt_selection.json")
    args = p.parse_args(argv)
    hparams = {
        **DEMO_HPARAMS,
        "max_steps": args.max_steps,
        "eval_every": max(2, args.max_steps // 2),
        "max_examples": args.max_examples,
    }
    plan = DemoPlan(pool_size=args.pool_size, hparams=hparams, pool_anchor=not args.no_anchor)
    tag = f"s{args.max_steps}-e{args.max_examples}-p{args.pool_size}-a{int(not args.no_anchor)}"
    folder = Path(tempfile.gettempdir()) / f"fute-demo-caps-{tag}"
    result = run_demo(folder / "store.sqlite", folder / "report", plan, quiet=True)
    agreement = benchmark_agreement(result, args.truth)
    print(json.dumps({"caps": tag, **agreement, "phase_seconds": result.get("phases")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
