"""Is the pool what the default misses on? A diagnosis of issue 12's prompt selection.

Hypothesis: the pre-registered default (fisher, pool-anchored DTEs, cosine) misses the best
sentiment prompt because every MTE is made from the LLM's answers on the space's pool,
which holds no reviews, while which prompt makes the LLM's answers follow the input depends
on the inputs (benchmarks/results/prompt_signals.md). Test: the same space with the pool
replaced by N of the target's own *unlabelled* evaluation inputs (the inputs MI reads, so
the LLM's answers come from the answer cache), for the MTEs and for the anchoring of the
target's DTE alike. If the best prompt is then found where the pool version missed it, the
pool is the failing part; if not, the surrogate or the method is.

This costs N LLM calls per prompt per new data set (as MI does), so it is a diagnosis, not
a zero-call method, and nothing here changes the pre-registered default. Development sets
only: the sets reserved for the outside check are refused.

    python benchmarks/diagnose_target_anchor.py [--sets ...] [--seeds 0 1 2] [--n-inputs 200]

Writes results/dev/target_anchor.{json,md}; each (set, seed) is cached, so a second run
resumes.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_prompt_selection as bp  # noqa: E402
from common import (  # noqa: E402
    Stages,
    cache_key,
    cached_embedding,
    cached_json,
    cached_json_path,
    environment,
    fmt,
    markdown_table,
    provenance_markdown,
    quiet_libraries,
    read_parts,
    similarity_scores,
)
from diagnose_prompt_signals import accuracies, rank_of  # noqa: E402

RESULTS = HERE / "results"
RESERVED = bp.RESERVED_TARGETS  # never a target (issue 12 point 5)
METRICS = ("ndcg", "regret@1", "spearman")
SIMILARITIES = ("cosine", "behaviour")
TAG = "target-anchor-v1"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sets", nargs="+", default=list(bp.SENTIMENT_SETS + bp.PAIR_SETS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--n-inputs", type=int, default=200, help="target inputs in place of the pool")
    p.add_argument("--results", type=Path, default=RESULTS)
    p.add_argument(
        "--cached-only",
        action="store_true",
        help="write the table from the (set, seed) pairs already computed; compute nothing",
    )
    args = p.parse_args(argv)
    reserved = sorted(set(args.sets) & set(RESERVED))
    if reserved:
        p.error(f"{', '.join(reserved)} is reserved for the outside check; never a target here")
    return args


def task_of(ds: str) -> bp.Task:
    return bp.Task("pair" if ds in bp.PAIR_SETS else "sentiment", (ds,))


def first(data, n: int):
    """The first `n` examples of `data` (all of them when it has fewer)."""
    return data.subset(list(range(min(n, len(data)))))


def target_inputs(data, n: int):
    """The first `n` evaluation inputs, without their labels."""
    from fute.core.examples import Examples

    part = first(data, n)
    return Examples(
        texts=list(part.texts),
        text_pairs=list(part.text_pairs) if part.text_pairs is not None else None,
        name=f"{data.name}-inputs",
        provenance={"inputs of": data.name, "n": len(part)},
    )


def target_space(run: bp.Run, seed: int, inputs):
    """The default's space (fisher, pool-anchored) whose pool is `inputs`: a copy of the
    run's own space (same surrogate, method and settings), so the pool is the one change."""
    space = copy.copy(run.space("fisher", seed, "anchor"))
    space.pool = lambda arity, exclude=(): inputs
    return space


def scores_of(run: bp.Run, ds: str, seed: int, sets, n: int) -> dict:
    """{similarity: [score per prompt]} with the target's inputs as the pool."""
    inputs = target_inputs(sets.data, n)
    space = target_space(run, seed, inputs)
    models = run.models(task_of(ds))
    where = (TAG, space.key, space.settings, inputs.content_hash())
    with run.stages(f"{ds}: MTEs and DTE on {len(inputs)} target inputs, seed {seed}"):
        mtes = [
            cached_embedding(
                cache_key("mte", *where, m.prompt.hash(), m.prompt.id),
                lambda m=m: space.model_embedding(m, name=m.prompt.id, kind="prompted-lm"),
            )
            for m in models
        ]
        dte = cached_embedding(
            cache_key("dte", *where, sets.train.content_hash()),
            lambda: space.dataset_embedding(sets.train, name=ds),
        )
    return {s: similarity_scores(s, dte, mtes, notes=run.notes) for s in SIMILARITIES}


def mi_on_inputs(run: bp.Run, ds: str, sets, n: int) -> list[float]:
    """MI of each prompt's answers on the same `n` target inputs: the label-free baseline
    at the same number of LLM calls (the answers come from the answer cache)."""
    inputs = first(sets.data, n)
    probs = run.answers(ds, run.models(task_of(ds)), inputs, f"the first {len(inputs)} inputs")
    return [float(bp.PER_PROMPT_BASELINES["mi"](p)) for p in probs]


def evaluate(rows: dict, truth: dict) -> dict:
    """{row: {set: {metric: stat over seeds}}} (the benchmark's own `evaluate`, truth =
    accuracy) plus the rank of the best prompt per seed."""
    metrics = bp.evaluate(rows, truth)["accuracy"]
    out: dict = {}
    for row, per_set in rows.items():
        for ds, by_seed in per_set.items():
            best = int(accuracies(truth[ds]).argmax())
            cell = dict(metrics[row]["per_dataset"][ds])
            cell["rank of best"] = [rank_of(np.array(s), best) for s in by_seed.values()]
            out.setdefault(row, {})[ds] = cell
    return out


def markdown(ev: dict, settings: dict, env: dict, stages) -> str:
    sets, seeds, n = settings["sets"], settings["seeds"], settings["n_inputs"]
    headers = ["data set", "row", *METRICS, "rank of the best prompt (per seed)"]
    table = []
    for ds in sets:
        for row in ev:
            if ds in ev[row]:
                c = ev[row][ds]
                ranks = ", ".join(map(str, c["rank of best"]))
                table.append([ds, row, *(fmt(c[k]) for k in METRICS), ranks])
    means = []
    for row in ev:
        cells = [ev[row][ds] for ds in sets if ds in ev[row]]
        found = sum(r == 1 for c in cells for r in c["rank of best"])
        total = sum(len(c["rank of best"]) for c in cells)
        avg = {k: np.mean([c[k]["mean"] for c in cells]) for k in METRICS}
        means.append([row, *(f"{avg[k]:.3f}" for k in METRICS), f"{found} of {total}", len(cells)])
    return "\n".join(
        [
            "# Is the pool what the default misses on? (diagnosis, development sets)",
            "",
            "`python benchmarks/diagnose_target_anchor.py`. The default's space (fisher, "
            f"pool-anchored DTEs) with its pool replaced by the first {n} unlabelled "
            "evaluation inputs of the target (the inputs MI reads), for the prompts' MTEs and "
            "the anchoring of the target's DTE alike (`target-inputs:*`), against the final "
            "run's rows on the real pool (`fute-fisher+anchor*`, same seeds) and MI on the "
            f"target's 500 inputs and on the same {n} inputs (the same LLM calls as the "
            "`target-inputs` rows). Costs as MI: LLM calls on the target's inputs, so this is "
            "a diagnosis, not a zero-call method; it changes nothing pre-registered. Truth: "
            f"accuracy on the 500 evaluation examples. Embedding seeds: {seeds} (the last column "
            "lists the seeds each data set has); left out, not computed: "
            f"{', '.join(settings['not computed (left out)']) or 'none'}.",
            "",
            "## Mean over the data sets",
            "",
            markdown_table(["row", *METRICS, "best prompt found", "data sets"], means),
            "",
            "## Per data set (mean ± std over seeds)",
            "",
            markdown_table(headers, table),
            "",
            provenance_markdown(env, settings, stages),
            "",
        ]
    )


def main(argv=None) -> int:
    args = parse_args(argv)
    env = environment()
    quiet_libraries()
    final = bp.parse_args(["--variants", "anchor", "--anchor-methods", "fisher"])
    stages = Stages()
    run = bp.Run(final, stages, {"pool_size": final.pool_size, **bp.space_hparams(final.space_arg)})
    truth = json.loads((RESULTS / "prompt_selection.json").read_text())["truth"]
    committed = bp.part_scores(read_parts(RESULTS, "prompt_selection"))
    rows: dict = {}
    skipped: list[str] = []
    for ds in args.sets:
        with stages(f"{ds}: load data"):
            sets = bp.load_sets(ds, final)
        done = []
        for seed in args.seeds:
            key = cache_key(TAG, ds, seed, args.n_inputs, run.hparams)
            if args.cached_only and not cached_json_path("target-anchor", key).is_file():
                skipped.append(f"{ds} seed {seed}")
                continue
            done.append(seed)
            got = cached_json(
                "target-anchor",
                key,
                lambda s=sets, seed=seed, ds=ds: scores_of(run, ds, seed, s, args.n_inputs),
            )
            for sim, values in got.items():
                rows.setdefault(f"target-inputs:{sim}", {}).setdefault(ds, {})[str(seed)] = values
            print(f"{ds} seed {seed}: done", flush=True)
        for row in ("fute-fisher+anchor", "fute-fisher+anchor:behaviour"):
            rows.setdefault(row, {})[ds] = {str(s): committed[row][ds][str(s)] for s in done}
        rows.setdefault("mi (500 target inputs)", {})[ds] = committed["mi"][ds]
        mi_n = mi_on_inputs(run, ds, sets, args.n_inputs)
        rows.setdefault(f"mi ({args.n_inputs} target inputs)", {})[ds] = {"-": mi_n}
    ev = evaluate(rows, truth)
    out = args.results / "dev"
    out.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "target-anchor diagnosis",
        "settings": {
            "sets": args.sets,
            "seeds": args.seeds,
            "n_inputs": args.n_inputs,
            "not computed (left out)": skipped,
        },
        "environment": env,
        "scores": rows,
        "metrics": ev,
        "notes": run.notes,
        "stages_seconds": stages.seconds,
    }
    (out / "target_anchor.json").write_text(json.dumps(payload, indent=1, default=str))
    text = markdown(ev, payload["settings"], env, stages)
    (out / "target_anchor.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
