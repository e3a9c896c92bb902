"""Benchmark 1: how well does each method pick the best prompt of an LLM for a new data set?

For every data set, each prompt of the task's library turns SmolLM2-135M-Instruct into a
classifier; the *truth* is each prompt's accuracy and macro-F1 on labelled examples of the
data set's evaluation split. Every method scores every prompt without those labels:

* FUTE (``fisher``, ``prefix``): cosine between the prompt's model task embedding (MTE,
  computed once on the unlabelled pool, from which *all* of this benchmark's data sets of
  the task are excluded) and the data set's task embedding (DTE, from its train split:
  FUTE needs labelled training data of the new data set, the baselines do not);
* the label-free baselines of `fute.evaluation.prompt_baselines`, from the LLM's answers
  on the evaluation inputs (MI, GE, LE, MDL, ZPS x 3, perplexity);
* ``random``: uniform random scores, one draw per seed.

Each ranking is compared with the truth by NDCG, NDCG@3, regret@1 and Spearman, per data
set and averaged over data sets, as mean ± std over the seeds (FUTE: seeds of the
embedding space; random: seeds of the draw; the other baselines are deterministic). The
cost column counts the LLM forward passes a method needs for one *new* data set.

Nothing is tuned here: every setting is fixed before the run and written to the result.

    python benchmarks/bench_prompt_selection.py           # full run (make bench-prompts)
    python benchmarks/bench_prompt_selection.py --quick   # tiny caps, pipeline check
    python benchmarks/bench_prompt_selection.py --render  # re-write the table from the JSON
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common import (
    Stages,
    add_common_args,
    bold_best,
    cache_key,
    cached_embedding,
    cached_json,
    environment,
    fmt,
    markdown_table,
    mean_std,
    provenance_markdown,
    quiet_libraries,
    ranking_metrics,
    results_dir,
    write_results,
)
from fute.evaluation import prompt_baselines as pb
from fute.evaluation.labels import align_label_columns

SENTIMENT_SETS = (
    "sentiment-imdb",
    "sentiment-yelp",
    "sentiment-amazon",
    "sentiment-rotten-tomatoes",
)
NLI_SETS = ("nli-vitaminc", "nli-presuppositions")
METRICS = ("ndcg", "ndcg@3", "regret@1", "spearman")
TRUTHS = ("accuracy", "macro_f1")
FUTE_METHODS = ("fisher", "prefix")
PER_PROMPT_BASELINES = {
    "mi": pb.mutual_information,
    "global-entropy": pb.global_entropy,
    "local-entropy": pb.local_entropy,
    "mdl": pb.mdl,
}
ZPS_VARIANTS = {"zps-logprob": "logprob", "zps-prob": "prob", "zps-vote": "vote"}
METHOD_ORDER = (
    *(f"fute-{m}" for m in FUTE_METHODS),
    *PER_PROMPT_BASELINES,
    *ZPS_VARIANTS,
    "perplexity",
    "random",
)


@dataclass(frozen=True)
class Task:
    name: str  # prompt library, "sentiment" or "nli"
    datasets: tuple[str, ...]


# ------------------------------------------------------------------------------ settings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(p)
    p.add_argument("--sentiment-sets", nargs="+", default=list(SENTIMENT_SETS))
    p.add_argument("--nli-sets", nargs="+", default=list(NLI_SETS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="embedding-space seeds")
    p.add_argument(
        "--backend",
        choices=("transformers", "llamacpp"),
        default="transformers",
        help="how SmolLM2-135M-Instruct runs (llamacpp: the bundled Q4 GGUF, often faster on CPU)",
    )
    p.add_argument(
        "--dtype",
        choices=("float32", "bfloat16"),
        default="float32",
        help="precision of the transformers LLM (truth, baselines and MTEs all use it); "
        "bfloat16 pays off only on CPUs with native bf16 (AVX512-BF16, AMX) or GPUs",
    )
    p.add_argument("--max-examples", type=int, default=500, help="labelled examples per data set")
    p.add_argument(
        "--max-words",
        type=int,
        default=128,
        help="each text is cut to its first N words before anything sees it (0: no cut)",
    )
    p.add_argument("--pool-size", type=int, default=200, help="pool inputs per prompt MTE")
    p.add_argument(
        "--ppl-examples", type=int, default=100, help="inputs per data set for perplexity"
    )
    p.add_argument("--dte-examples", type=int, default=1000, help="train examples for a DTE")
    p.add_argument("--max-prompts", type=int, default=None, help="first N prompts of each task")
    p.add_argument(
        "--render",
        action="store_true",
        help="only rewrite the markdown table from the results JSON already written (no run)",
    )
    p.add_argument(
        "--space-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a method hyper-parameter for fute.space.Space (e.g. max_length=64); repeatable",
    )
    args = p.parse_args(argv)
    if args.quick:
        args.sentiment_sets = args.sentiment_sets[:2]
        args.nli_sets = args.nli_sets[:1]
        args.seeds = args.seeds[:1]
        args.max_examples = min(args.max_examples, 24)
        args.ppl_examples = min(args.ppl_examples, 4)
        args.dte_examples = min(args.dte_examples, 32)
        args.pool_size = min(args.pool_size, 16)
        args.max_prompts = args.max_prompts or 4
    return args


def make_lm(backend: str, dtype: str):
    """SmolLM2-135M-Instruct through transformers (`fute.models.default_lm`) or llama.cpp."""
    if backend == "llamacpp":
        from fute.models.backends import LlamaCppLM
        from fute.models.backends.transformers_lm import smollm2_gguf_path

        return LlamaCppLM(smollm2_gguf_path())
    from fute.models import default_lm

    return default_lm(dtype=dtype)


def clip_words(data, max_words: int):
    """`data` with every text (and text pair) cut to its first `max_words` words."""
    from dataclasses import replace

    if max_words <= 0:
        return data

    def clip(texts):
        return [" ".join(t.split()[:max_words]) if len(t.split()) > max_words else t for t in texts]

    pairs = clip(data.text_pairs) if data.text_pairs is not None else None
    return replace(data, texts=clip(data.texts), text_pairs=pairs)


def space_hparams(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            sys.exit(f"--space-arg takes KEY=VALUE, got {pair!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


# ------------------------------------------------------------------------------ steps


def concat(parts: list, name: str):
    """One labelled `Examples` from several with the same label set."""
    from fute.examples import Examples

    pairs = [x for p in parts for x in p.text_pairs] if parts[0].text_pairs is not None else None
    return Examples.from_labels(
        [t for p in parts for t in p.texts],
        [y for p in parts for y in p.labels],
        text_pairs=pairs,
        name=name,
        provenance=parts[0].provenance,
        label_names=parts[0].label_names,
    )


def eval_and_dte_sets(name: str, n_eval: int, n_dte: int):
    """Disjoint evaluation and DTE examples of one data set.

    The truth is measured on the held-out splits (test, then dev); when they hold fewer
    than `n_eval` examples (the UCI sentiment sets have 100 each), the rest comes from a
    seeded part of train, and the DTE is computed on the remaining train examples only, so
    no example is both embedded with its label and used to score the prompts.
    """
    from fute.data.catalog import load_dataset

    held = concat([load_dataset(name, split=s) for s in ("test", "dev")], name)
    train = load_dataset(name, split="train")
    if len(held) >= n_eval:
        return held.sample(n_eval, seed=0), train.sample(n_dte, seed=0), {"eval": "test+dev"}
    order = np.random.default_rng(0).permutation(len(train)).tolist()
    need = n_eval - len(held)
    data = concat([held, train.subset(order[:need])], name)
    dte = train.subset(order[need : need + n_dte])
    return data, dte, {"eval": f"test+dev+{need} of train", "dte": "rest of train"}


def truth_of(probs: np.ndarray, data) -> dict:
    from sklearn.metrics import f1_score

    gold = np.array([data.label_names.index(y) for y in data.labels])
    pred = probs.argmax(axis=1)
    return {
        "accuracy": float((pred == gold).mean()),
        "macro_f1": float(
            f1_score(
                gold,
                pred,
                labels=list(range(len(data.label_names))),
                average="macro",
                zero_division=0,
            )
        ),
    }


class TokenScorer:
    """Log-likelihood of every token of whole texts under a transformers causal LM (for SPELL).

    The backends' `score` gives only the answer words' likelihood; perplexity needs the
    whole filled prompt. This loads the transformers copy of the benchmark's LLM (the same
    weights whichever backend answers the prompts) for full-sequence logits.
    """

    def __init__(
        self, folder, batch_size: int = 8, max_length: int = 1024, dtype: str = "float32"
    ) -> None:
        from fute.models.backends.transformers_lm import folder_fingerprint

        self.folder = str(folder)
        self.dtype = dtype
        self.identity = f"transformers:{folder_fingerprint(folder)}:{dtype}"
        self.batch_size = batch_size
        self.max_length = max_length
        self._model = self._tok = None

    def __call__(self, texts: list[str]) -> list[list[float]]:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if self._model is None:
            self._tok = AutoTokenizer.from_pretrained(self.folder)
            self._model = AutoModelForCausalLM.from_pretrained(
                self.folder, dtype=getattr(torch, self.dtype)
            ).eval()
        out: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            chunk = texts[start : start + self.batch_size]
            ids = [self._tok(t)["input_ids"][-self.max_length :] for t in chunk]
            width = max(len(x) for x in ids)
            batch = torch.zeros((len(ids), width), dtype=torch.long)
            mask = torch.zeros((len(ids), width), dtype=torch.long)
            for i, x in enumerate(ids):  # right padding: token t is predicted at position t - 1
                batch[i, : len(x)] = torch.tensor(x)
                mask[i, : len(x)] = 1
            with torch.inference_mode():
                logits = self._model(input_ids=batch, attention_mask=mask).logits.double()
            logp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, batch[:, 1:, None])[..., 0]
            out += [logp[i, : len(x) - 1].tolist() for i, x in enumerate(ids)]
        return out


def dataset_answers(models, data, label_names) -> np.ndarray:
    """(P, n, L) probabilities of every prompt on the data set, columns in `label_names` order."""
    from fute.models.answers import cached_predict

    return np.stack(
        [
            align_label_columns(cached_predict(m, data, progress=False), m.labels, label_names)
            for m in models
        ]
    )


def perplexities(scorer: TokenScorer, models, inputs) -> list[list[list[float]]]:
    """Token log-likelihoods of each prompt filled with each input, cached by the exact texts."""
    out = []
    for m in models:
        texts = [m.context(x) for x in inputs]
        key = cache_key("token-logprobs", scorer.identity, texts)
        out.append(cached_json("token-logprobs", key, lambda texts=texts: scorer(texts)))
    return out


def fute_scores(task: Task, models, train_sets: dict, seeds, hparams: dict, stages: Stages) -> dict:
    """{method: {dataset: {seed: [cosine(MTE_prompt, DTE_dataset) per prompt]}}}."""
    from fute.embedding import cosine
    from fute.models.protocol import model_identity
    from fute.space import Space

    out: dict = {}
    for method in FUTE_METHODS:
        for seed in seeds:
            space = Space(method=method, seed=seed, progress=False, **hparams)
            with stages(f"{task.name}: {method} MTEs, seed {seed}"):
                mtes = [
                    cached_embedding(
                        cache_key(
                            "mte",
                            space.key,
                            model_identity(m),
                            m.prompt.hash(),
                            sorted(task.datasets),
                        ),
                        lambda m=m, space=space: space.model_embedding(
                            m, name=m.prompt.id, kind="prompted-lm", exclude=tuple(task.datasets)
                        ),
                    )
                    for m in models
                ]
            with stages(f"{task.name}: {method} DTEs, seed {seed}"):
                for name, train in train_sets.items():
                    dte = cached_embedding(
                        cache_key("dte", space.key, train.content_hash()),
                        lambda train=train, name=name, space=space: space.dataset_embedding(
                            train, name=name
                        ),
                    )
                    scores = [cosine(mte, dte) for mte in mtes]
                    out.setdefault(f"fute-{method}", {}).setdefault(name, {})[seed] = scores
    return out


def baseline_scores(probs: np.ndarray, token_logprobs) -> dict:
    """{method: [score per prompt]} for the deterministic label-free baselines."""
    out = {name: [fn(p) for p in probs] for name, fn in PER_PROMPT_BASELINES.items()}
    for name, variant in ZPS_VARIANTS.items():
        out[name] = pb.zps_scores(probs, variant).tolist()
    out["perplexity"] = [pb.perplexity_score(lp) for lp in token_logprobs]
    return out


# ------------------------------------------------------------------------------ evaluation


def evaluate(scores: dict, truth: dict) -> dict:
    """{truth: {method: {"per_dataset": {ds: {metric: stat}}, "average": {metric: stat}}}}.

    A deterministic method has one "seed"; the average over data sets is taken per seed,
    then summarised over seeds.
    """
    out: dict = {}
    for truth_name in TRUTHS:
        for method, by_ds in scores.items():
            per_seed: dict = {}  # seed -> metric -> [value per data set]
            per_ds: dict = {}
            for ds, by_seed in by_ds.items():
                true = [truth[ds]["prompts"][pid][truth_name] for pid in truth[ds]["prompt_ids"]]
                values = {s: ranking_metrics(pred, true, METRICS) for s, pred in by_seed.items()}
                per_ds[ds] = {k: mean_std(v[k] for v in values.values()) for k in METRICS}
                for s, v in values.items():
                    for k in METRICS:
                        per_seed.setdefault(s, {}).setdefault(k, []).append(v[k])
            average = {
                k: mean_std(mean_std(v[k])["mean"] for v in per_seed.values()) for k in METRICS
            }
            out.setdefault(truth_name, {})[method] = {"per_dataset": per_ds, "average": average}
    return out


def cost_of(method: str, n_prompts: int, n_inputs: int, n_ppl: int, pool: str) -> str:
    if method.startswith("fute-"):
        return f"0 (once: {n_prompts} x pool {pool})"
    if method == "random":
        return "0"
    if method == "perplexity":
        return f"{n_prompts} x {n_ppl} = {n_prompts * n_ppl}"
    return f"{n_prompts} x {n_inputs} = {n_prompts * n_inputs}"


def markdown(result: dict, env: dict, settings: dict, stages: Stages) -> str:
    ev, truth = result["metrics"], result["truth"]
    lines = [
        "# Prompt selection: FUTE vs label-free baselines",
        "",
        f"SmolLM2-135M-Instruct; prompts per task {settings['n_prompts']}; truth = each "
        f"prompt's score on up to {settings['max_examples']} labelled examples (held-out splits, "
        "topped up from train where they are small; the DTE never sees them). "
        f"Mean ± std over seeds {settings['seeds']} (FUTE: "
        "embedding space; random: draw); other baselines are deterministic. Higher is better "
        "except regret@1 (accuracy lost against the best prompt, as a fraction: 0.05 = 5 points). Bold: best in column.",
        "",
    ]
    for truth_name in TRUTHS:
        rows = []
        methods = [m for m in METHOD_ORDER if m in ev[truth_name]]
        bold = {
            k: bold_best([ev[truth_name][m]["average"][k] for m in methods], k) for k in METRICS
        }
        for i, m in enumerate(methods):
            cells = [fmt(ev[truth_name][m]["average"][k]) for k in METRICS]
            cells = [f"**{c}**" if bold[k][i] else c for c, k in zip(cells, METRICS, strict=True)]
            rows.append([m, *cells, result["cost"][m], "yes" if m.startswith("fute-") else "no"])
        lines += [
            f"## Averaged over data sets, truth = {truth_name}",
            "",
            markdown_table(
                ["method", *METRICS, "LLM passes per new data set", "needs labels of new data set"],
                rows,
            ),
            "",
        ]
        lines += verdict(ev[truth_name], methods) + [""]
    methods = [m for m in METHOD_ORDER if m in ev["accuracy"]]
    datasets = list(truth)
    for k in METRICS:
        lines += [
            f"## {k} per data set (truth = accuracy)",
            "",
            markdown_table(
                ["method", *datasets],
                [
                    [m, *(fmt(ev["accuracy"][m]["per_dataset"][d][k]) for d in datasets)]
                    for m in methods
                ],
            ),
            "",
        ]
    lines += [
        "## The truth: prompt accuracies per data set",
        "",
        markdown_table(
            [
                "data set",
                "n",
                "majority class",
                "worst prompt",
                "median",
                "best prompt",
                "std of prompts / sampling std",
            ],
            [
                [
                    d,
                    t["n_eval"],
                    f"{t['majority_rate']:.3f}",
                    f"{min(a):.3f}",
                    f"{float(np.median(a)):.3f}",
                    f"{max(a):.3f} ({t['prompt_ids'][int(np.argmax(a))]})",
                    f"{float(np.std(a)):.3f} / {sampling_std(a, t['n_eval']):.3f}",
                ]
                for d, t in truth.items()
                for a in [[t["prompts"][p]["accuracy"] for p in t["prompt_ids"]]]
            ],
        ),
        "",
        "Sampling std: the binomial standard error of one prompt's accuracy on n examples "
        "(median prompt). Where the prompts' accuracies spread little more than this, their "
        "true order is partly noise and no method can rank them reliably.",
        "",
        provenance_markdown(env, settings, stages),
    ]
    return "\n".join(lines)


def sampling_std(accuracies, n: int) -> float:
    """Binomial standard error sqrt(a (1 - a) / n) of the median prompt's accuracy."""
    a = float(np.median(accuracies))
    return float(np.sqrt(a * (1 - a) / n))


def verdict(ev_truth: dict, methods: list[str]) -> list[str]:
    """One sentence per FUTE method: which baselines beat it on averaged NDCG (said plainly)."""
    out = []
    for fute in (m for m in methods if m.startswith("fute-")):
        mine = ev_truth[fute]["average"]["ndcg"]["mean"]
        if mine is None:
            continue
        better = [
            m
            for m in methods
            if not m.startswith("fute-")
            and (ev_truth[m]["average"]["ndcg"]["mean"] or -np.inf) > mine
        ]
        if better:
            out.append(f"- {fute} (NDCG {mine:.3f}) loses to: {', '.join(better)}.")
        else:
            out.append(
                f"- {fute} (NDCG {mine:.3f}) is not beaten by any baseline on averaged NDCG."
            )
    return out


# ------------------------------------------------------------------------------ main


def render(out_dir: Path) -> int:
    """Rewrite ``prompt_selection.md`` from ``prompt_selection.json``: the same measured
    numbers, the current table layout (for a layout change after a multi-hour run)."""
    json_path = out_dir / "prompt_selection.json"
    if not json_path.exists():
        raise SystemExit(f"error: {json_path} does not exist; run the benchmark first")
    result = json.loads(json_path.read_text())
    stages = Stages(seconds=dict(result["stages_seconds"]))
    text = markdown(result, result["environment"], result["settings"], stages)
    (out_dir / "prompt_selection.md").write_text(text.rstrip() + "\n")
    print(f"wrote {out_dir / 'prompt_selection.md'} from {json_path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        return render(results_dir(args))
    env = environment()
    quiet_libraries()
    stages = Stages()
    hparams = {"pool_size": args.pool_size, **space_hparams(args.space_arg)}

    from fute.models.backends.transformers_lm import smollm2_folder
    from fute.models.prompted import PromptedLM
    from fute.models.prompts import load_prompts

    tasks = [Task("sentiment", tuple(args.sentiment_sets)), Task("nli", tuple(args.nli_sets))]
    lm = make_lm(args.backend, args.dtype)
    scorer = TokenScorer(smollm2_folder(), dtype=args.dtype)
    truth: dict = {}
    scores: dict = {}
    n_prompts: dict = {}
    for task in tasks:
        if not task.datasets:
            continue
        models = [PromptedLM(lm, p) for p in load_prompts(task.name)[: args.max_prompts]]
        n_prompts[task.name] = len(models)
        prompt_ids = [m.prompt.id for m in models]
        train_sets = {}
        for ds in task.datasets:
            with stages(f"{ds}: load data"):
                data, train, splits = eval_and_dte_sets(ds, args.max_examples, args.dte_examples)
                data = clip_words(data, args.max_words)
                train_sets[ds] = clip_words(train, args.max_words)
                data.validate()
                train_sets[ds].validate()
            with stages(f"{ds}: LLM answers ({len(models)} prompts x {len(data)})"):
                probs = dataset_answers(models, data, data.label_names)
            with stages(
                f"{ds}: perplexity ({len(models)} prompts x {min(len(data), args.ppl_examples)})"
            ):
                token_lp = perplexities(scorer, models, data.inputs()[: args.ppl_examples])
            counts = np.bincount([data.label_names.index(y) for y in data.labels])
            truth[ds] = {
                "task": task.name,
                "n_eval": len(data),
                "n_dte": len(train_sets[ds]),
                "splits": splits,
                "labels": list(data.label_names),
                "majority_rate": float(counts.max() / counts.sum()),
                "prompt_ids": prompt_ids,
                "prompts": {
                    pid: truth_of(p, data) for pid, p in zip(prompt_ids, probs, strict=True)
                },
            }
            for method, values in baseline_scores(probs, token_lp).items():
                scores.setdefault(method, {})[ds] = {"-": values}
            for seed in args.seeds:
                rng = np.random.default_rng([seed, len(truth)])
                scores.setdefault("random", {}).setdefault(ds, {})[seed] = rng.random(
                    len(models)
                ).tolist()
        for method, by_ds in fute_scores(
            task, models, train_sets, args.seeds, hparams, stages
        ).items():
            scores.setdefault(method, {}).update(by_ds)

    settings = {
        "datasets": [d for t in tasks for d in t.datasets],
        "llm": f"SmolLM2-135M-Instruct via {args.backend}"
        + (f" ({args.dtype})" if args.backend == "transformers" else ""),
        "max_words": args.max_words,
        "n_prompts": n_prompts,
        "seeds": args.seeds,
        "max_examples": args.max_examples,
        "ppl_examples": args.ppl_examples,
        "dte_examples": args.dte_examples,
        "space_hparams": hparams,
        "mte_pool_excludes": "every data set of the task in this benchmark",
        "quick": args.quick,
    }
    n_in = int(np.mean([t["n_eval"] for t in truth.values()]))
    n_ppl = min(args.ppl_examples, n_in)
    pool = str(args.pool_size)
    p_max = max(n_prompts.values())
    cost = {m: cost_of(m, p_max, n_in, n_ppl, pool) for m in scores}
    result = {
        "benchmark": "prompt-selection",
        "environment": env,
        "settings": settings,
        "truth": truth,
        "scores": scores,
        "metrics": evaluate(scores, truth),
        "cost": cost,
        "stages_seconds": stages.seconds,
    }
    write_results(
        "prompt_selection", result, markdown(result, env, settings, stages), results_dir(args)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
