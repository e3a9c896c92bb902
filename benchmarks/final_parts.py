"""Run one part of the final runs of issue 12 (benchmarks/FINAL_RUNS.md), both cores busy.

A part is a full run of some targets, seeds or rows that fits one working session and
ends in a committed results file under benchmarks/results/parts/. This script holds the
settings of the final runs (fixed on 2026-12-02, before any final result) and, for each
part, the staged commands that run as two processes of one thread each (the machine has 2
cores), then the command that reads the caches and writes the part:

    python benchmarks/final_parts.py list
    python benchmarks/final_parts.py run prompt-pair          # ~80 min on 2 cores
    python benchmarks/final_parts.py run transfer-space0 --dry-run
    python benchmarks/final_parts.py merge                   # both benchmarks

Each stage's output goes to `--logs` (default /tmp/fute-final-parts/), one log per process.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_prompt_selection import PAIR_SETS, SENTIMENT_SETS  # noqa: E402
from bench_transfer import SOURCES, TARGETS  # noqa: E402

#: the prompt-selection settings of the final run (FINAL_RUNS.md says why each differs
#: from the development run)
PROMPT_FLAGS = ["--variants", "anchor", "--anchor-methods", "fisher"]
PROMPT_FLAGS += ["--dte-k-variants", "plain", "anchor", "--dte-k-draws", "3"]
BENCHES = ("bench_prompt_selection.py", "bench_transfer.py")


def prompt_part(name: str, targets, others) -> dict:
    """Process 1: the seed-independent stages of the targets, then seed 2; process 2: seeds
    0 and 1. Every seed also makes the other task's DTEs (centred-cosine's centre)."""
    base = ["bench_prompt_selection.py", *PROMPT_FLAGS, "--part", name]

    def seed(s: int) -> list[list[str]]:
        per_seed = ["pool-answers", "mtes", "dtes", "anchored-dtes", "dtes-k"]
        return [
            [*base, "--seeds", str(s), "--only", *targets, "--stage", *per_seed],
            [*base, "--seeds", str(s), "--only", *others, "--stage", "dtes", "anchored-dtes"],
        ]

    answers = ["answers", "few-label-answers", "perplexity"]
    process1 = [[*base, "--only", *targets, "--stage", *answers], *seed(2)]
    return {"phases": [[process1, [*seed(0), *seed(1)]]], "write": [*base, "--only", *targets]}


def transfer_truth() -> dict:
    """Phase 1: the source models of every seed, the sources split between the processes
    (two processes must not fine-tune the same model); phase 2: the target fine-tuning,
    the targets split; then LogME and the part."""
    base = ["bench_transfer.py", "--part", "truth", "--rows", "truth"]
    s, t = len(SOURCES) // 2, len(TARGETS) // 2
    return {
        "phases": [
            [
                [[*base, "--stage", "sources", "--sources", *SOURCES[:s]]],
                [[*base, "--stage", "sources", "--sources", *SOURCES[s:]]],
            ],
            [
                [[*base, "--stage", "truth", "--only", *TARGETS[:t]]],
                [[*base, "--stage", "truth", "--only", *TARGETS[t:]]],
            ],
        ],
        "write": base,
    }


def transfer_space(seed: int) -> dict:
    """Process 1: the DTEs of most sources and of the targets; process 2: the MTEs (with
    the seed-0 source models they need), the targets' DTEs from k labels, then the DTEs of
    the other sources."""
    base = ["bench_transfer.py", "--part", f"space{seed}", "--rows", "embeddings"]
    base += ["--space-seeds", str(seed)]
    s = 9
    process1 = [[*base, "--stage", "dtes", "--sources", *SOURCES[:s]]]
    process2 = [
        [*base, "--stage", "mtes", "dtes-k"],
        [*base, "--stage", "dtes", "--sources", *SOURCES[s:], "--only", TARGETS[0]],
    ]
    return {"phases": [[process1, process2]], "write": base}


def transfer_spaces(seeds: tuple[int, ...]) -> dict:
    """Several space seeds in one part, so the seed-0 source models (for the MTEs) are
    fine-tuned once for all of them. Process 1: every DTE (sources and targets) of every
    seed; process 2: the source models, the MTEs and the targets' DTEs from k labels of
    every seed. Measured per seed on 2026-12-02 (part space0), the two halves are about as
    long (~37 min each per seed, plus ~10 min of fine-tuning)."""
    name = "space" + "".join(map(str, seeds))
    base = ["bench_transfer.py", "--part", name, "--rows", "embeddings"]
    base += ["--space-seeds", *map(str, seeds)]
    process1 = [[*base, "--stage", "dtes"]]
    process2 = [[*base, "--stage", "mtes", "dtes-k"]]
    return {"phases": [[process1, process2]], "write": base}


PARTS = {
    "prompt-sentiment": prompt_part("sentiment", SENTIMENT_SETS, PAIR_SETS),
    "prompt-pair": prompt_part("pair", PAIR_SETS, SENTIMENT_SETS),
    "transfer-truth": transfer_truth(),
    **{f"transfer-space{s}": transfer_space(s) for s in (0, 1, 2)},
    # the same rows as transfer-space1 and transfer-space2 together (run one or the other:
    # the merge refuses a score given twice), in ~80 min instead of ~2 x 60
    "transfer-space12": transfer_spaces((1, 2)),
}


def environment() -> dict:
    env = dict(os.environ)
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        env.setdefault(key, "1")
    env.update(TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


def command(args: list[str]) -> list[str]:
    return [sys.executable, str(HERE / args[0]), *args[1:]]


def run_part(name: str, logs: Path, dry_run: bool) -> int:
    part = PARTS[name]
    if dry_run:
        for n, phase in enumerate(part["phases"], 1):
            for i, steps in enumerate(phase, 1):
                for step in steps:
                    print(f"phase {n}, process {i}: {subprocess.list2cmdline(command(step))}")
        print(f"then: {subprocess.list2cmdline(command(part['write']))}")
        return 0
    logs.mkdir(parents=True, exist_ok=True)
    for n, phase in enumerate(part["phases"], 1):
        procs = []
        for i, steps in enumerate(phase, 1):
            # each process runs its steps in order and stops at the first failure
            line = " && ".join(subprocess.list2cmdline(command(s)) for s in steps)
            path = logs / f"{name}.process{i}.log"
            log = path.open("a")
            procs.append(
                (subprocess.Popen(line, shell=True, stdout=log, stderr=log, env=environment()), log)
            )
            print(f"phase {n}: process {i} started; log {path}", flush=True)
        codes = []
        for proc, log in procs:
            codes.append(proc.wait())
            log.close()
        if any(codes):
            print(f"error: phase {n} failed (exit codes {codes}); see the logs in {logs}")
            return 1
    return subprocess.call(command(part["write"]), env=environment())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("action", choices=("list", "run", "merge"))
    p.add_argument("part", nargs="?", choices=tuple(PARTS))
    p.add_argument("--logs", type=Path, default=Path("/tmp/fute-final-parts"))
    p.add_argument("--dry-run", action="store_true", help="print the commands only")
    args = p.parse_args(argv)
    if args.action == "list":
        for name in PARTS:
            print(name)
        return 0
    if args.action == "merge":
        codes = [subprocess.call(command([b, "--merge"])) for b in BENCHES]
        return max(codes)
    if args.part is None:
        p.error("run needs a part (see: list)")
    return run_part(args.part, args.logs, args.dry_run)


if __name__ == "__main__":
    raise SystemExit(main())
