"""Benchmark 2: does task-embedding similarity pick the source task that helps a target most?

The truth (intermediate-task transfer, as in Vu et al. 2020): for a target data set with
little labelled data, fine-tune the MiniLM surrogate on a source data set, then on the
target's limited training set, and measure accuracy on the target's dev split; the *gain*
of the source is that accuracy minus the accuracy of fine-tuning on the target alone
(same seed, same head initialisation, same data order), averaged over 3 seeds.

Each method ranks the sources for each target by cosine similarity to the target's DTE
(computed on the same limited target set):

* ``dte-fisher``, ``dte-prefix``: the sources' dataset task embeddings;
* ``mte-fisher``, ``mte-prefix``: the model task embedding of the classifier fine-tuned
  on each source (seed 0), computed on the unlabelled pool with every target excluded;
* ``mean-embedding``: mean sentence embedding of the inputs (no labels);
* ``random``: one draw per seed.

Metrics per target and averaged: NDCG (gains min-max scaled), Vu et al.'s rho and regret@3
(accuracy lost, as a fraction), Spearman. No setting is tuned on the targets: the fine-tuning recipe is
fixed up front and written into the result.

    python benchmarks/bench_transfer.py           # full run (make bench-transfer)
    python benchmarks/bench_transfer.py --quick   # tiny caps, pipeline check
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

import numpy as np

from common import (
    Stages,
    add_common_args,
    bench_cache,
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

SOURCES = (
    "sentiment-imdb",
    "sentiment-finefood",
    "multiemo-hotels",
    "multiemo-products",
    "topic-bbc",
    "spam-assassin",
    "fact-fever",
    "nli-vitaminc",
)
# multiemo-medicine is the cross-domain case: same four-way task, other domain than the
# multiemo sources; nli-presuppositions is a text-pair target
TARGETS = (
    "multiemo-medicine",
    "sentiment-yelp",
    "sentiment-rotten-tomatoes",
    "nli-presuppositions",
)
METRICS = ("ndcg", "rho", "regret@3", "spearman")
METHOD_ORDER = (
    "dte-fisher",
    "dte-prefix",
    "mte-fisher",
    "mte-prefix",
    "mean-embedding",
    "random",
)


@dataclass(frozen=True)
class Recipe:
    """The fine-tuning recipe of the truth, fixed before any result was seen."""

    source_examples: int = 512
    source_epochs: int = 1
    target_examples: int = 200
    target_epochs: int = 2
    dev_examples: int = 200
    lr: float = 1e-4
    batch_size: int = 16
    max_length: int = 64
    weight_decay: float = 0.01


# ------------------------------------------------------------------------------ settings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(p)
    p.add_argument("--sources", nargs="+", default=list(SOURCES))
    p.add_argument("--targets", nargs="+", default=list(TARGETS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="fine-tuning seeds")
    p.add_argument(
        "--space-seeds", nargs="+", type=int, default=[0, 1, 2], help="embedding-space seeds"
    )
    p.add_argument("--pool-size", type=int, default=200, help="pool inputs per source-model MTE")
    for f in Recipe.__dataclass_fields__.values():
        p.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default)
    args = p.parse_args(argv)
    if args.quick:
        args.sources = args.sources[:3]
        args.targets = args.targets[:1]
        args.seeds = args.seeds[:2]
        args.space_seeds = args.space_seeds[:1]
        args.pool_size = min(args.pool_size, 16)
        args.source_examples = min(args.source_examples, 32)
        args.target_examples = min(args.target_examples, 32)
        args.dev_examples = min(args.dev_examples, 32)
        args.max_length = min(args.max_length, 32)
    args.recipe = Recipe(**{f: getattr(args, f) for f in Recipe.__dataclass_fields__})
    return args


# ------------------------------------------------------------------------------ fine-tuning


def base_folder() -> str:
    from fute.surrogate import default_surrogate_path

    return str(default_surrogate_path())


@cache
def base_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(base_folder())


def new_classifier(label_names, seed: int):
    """MiniLM + a freshly initialised head, drawn from `seed` (identical for equal seeds)."""
    import torch
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    torch.manual_seed(seed)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "newly initialised head" is what we want
    try:
        return AutoModelForSequenceClassification.from_pretrained(
            base_folder(),
            num_labels=len(label_names),
            id2label=dict(enumerate(label_names)),
            label2id={n: i for i, n in enumerate(label_names)},
        )
    finally:
        hf_logging.set_verbosity(verbosity)


def fine_tune(model, tokenizer, data, epochs: int, recipe: Recipe, seed: int):
    """Plain AdamW with linear decay over `epochs` passes of `data` in a seeded order."""
    import torch

    torch.manual_seed(seed)  # dropout
    rng = np.random.default_rng(seed)
    y = torch.tensor([data.label_names.index(label) for label in data.labels])
    steps = epochs * -(-len(data) // recipe.batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0 - step / steps)
    model.train()
    for _ in range(epochs):
        order = rng.permutation(len(data))
        for start in range(0, len(order), recipe.batch_size):
            idx = order[start : start + recipe.batch_size].tolist()
            enc = encode(tokenizer, data.subset(idx), recipe.max_length)
            loss = model(**enc, labels=y[idx]).loss
            loss.backward()
            opt.step()
            sched.step()
            opt.zero_grad()
    model.eval()
    return model


def encode(tokenizer, data, max_length: int):
    return tokenizer(
        data.texts,
        data.text_pairs,
        truncation=True,
        max_length=max_length,
        padding=True,
        return_tensors="pt",
    )


def accuracy(model, tokenizer, data, recipe: Recipe) -> float:
    import torch

    correct = 0
    with torch.inference_mode():
        for start in range(0, len(data), 64):
            part = data.subset(range(start, min(start + 64, len(data))))
            pred = model(**encode(tokenizer, part, recipe.max_length)).logits.argmax(-1)
            correct += sum(
                int(p) == part.label_names.index(y) for p, y in zip(pred, part.labels, strict=True)
            )
    return correct / len(data)


def source_model_dir(source: str, data, seed: int, recipe: Recipe) -> Path:
    """The classifier fine-tuned on `source` (a transformers folder, cached)."""
    key = cache_key("source-model", base_folder(), data.content_hash(), seed, asdict(recipe))
    target = bench_cache("transfer-models") / f"{source}-seed{seed}-{key[:16]}"
    if (target / "config.json").is_file():
        return target
    tokenizer = base_tokenizer()
    model = fine_tune(
        new_classifier(data.label_names, seed), tokenizer, data, recipe.source_epochs, recipe, seed
    )
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def target_accuracy(source_dir: Path | None, train, dev, seed: int, recipe: Recipe) -> float:
    """Dev accuracy after fine-tuning on `train`, starting from the source's encoder (or MiniLM)."""
    from transformers import AutoModelForSequenceClassification

    tokenizer = base_tokenizer()
    model = new_classifier(train.label_names, seed)  # same head for every source at this seed
    if source_dir is not None:
        source = AutoModelForSequenceClassification.from_pretrained(source_dir)
        model.base_model.load_state_dict(source.base_model.state_dict())
    fine_tune(model, tokenizer, train, recipe.target_epochs, recipe, seed)
    return accuracy(model, tokenizer, dev, recipe)


def cached_target_accuracy(source_dir: Path | None, train, dev, seed: int, recipe: Recipe) -> float:
    key = cache_key(
        "target-acc",
        base_folder(),
        str(source_dir),
        train.content_hash(),
        dev.content_hash(),
        seed,
        asdict(recipe),
    )
    return cached_json(
        "transfer", key, lambda: target_accuracy(source_dir, train, dev, seed, recipe)
    )


# ------------------------------------------------------------------------------ rankings


def embed_scores(args, sources: dict, targets: dict, source_dirs: dict, stages: Stages) -> dict:
    """{method: {target: {space_seed: [cosine per source]}}}."""
    from fute.embedding import cosine
    from fute.models.adapters import HFClassifier
    from fute.space import Space

    def dte(space, data, name):
        return cached_embedding(
            cache_key("dte", space.key, data.content_hash()),
            lambda: space.dataset_embedding(data, name=name),
        )

    out: dict = {}
    for seed in args.space_seeds:
        for method in ("fisher", "prefix", "mean-embedding"):
            space = Space(method=method, seed=seed, pool_size=args.pool_size, progress=False)
            with stages(f"{method} DTEs, space seed {seed}"):
                target_dtes = {t: dte(space, d, t) for t, d in targets.items()}
                source_dtes = {s: dte(space, d, s) for s, d in sources.items()}
            label = "mean-embedding" if method == "mean-embedding" else f"dte-{method}"
            for t, target_emb in target_dtes.items():
                out.setdefault(label, {}).setdefault(t, {})[seed] = [
                    cosine(source_dtes[s], target_emb) for s in sources
                ]
            if method == "mean-embedding":
                continue
            with stages(f"{method} MTEs of source classifiers, space seed {seed}"):
                mtes = {}
                for s, data in sources.items():
                    clf = HFClassifier(source_dirs[s], arity=data.arity, max_length=args.max_length)
                    mtes[s] = cached_embedding(
                        cache_key("mte", space.key, clf.identity(), sorted(targets)),
                        lambda clf=clf, s=s, space=space: space.model_embedding(
                            clf, name=s, kind="model", exclude=tuple(targets)
                        ),
                    )
            for t, target_emb in target_dtes.items():
                out.setdefault(f"mte-{method}", {}).setdefault(t, {})[seed] = [
                    cosine(mtes[s], target_emb) for s in sources
                ]
    for seed in args.seeds:
        for i, t in enumerate(targets):
            rng = np.random.default_rng([seed, i])
            out.setdefault("random", {}).setdefault(t, {})[seed] = rng.random(len(sources)).tolist()
    return out


def evaluate(scores: dict, gains: dict) -> dict:
    """{method: {"per_target": {t: {metric: stat}}, "average": {metric: stat}}}."""
    out = {}
    for method, by_target in scores.items():
        per_seed: dict = {}
        per_target = {}
        for t, by_seed in by_target.items():
            values = {s: ranking_metrics(pred, gains[t], METRICS) for s, pred in by_seed.items()}
            per_target[t] = {k: mean_std(v[k] for v in values.values()) for k in METRICS}
            for s, v in values.items():
                for k in METRICS:
                    per_seed.setdefault(s, {}).setdefault(k, []).append(v[k])
        average = {k: mean_std(mean_std(v[k])["mean"] for v in per_seed.values()) for k in METRICS}
        out[method] = {"per_target": per_target, "average": average}
    return out


# ------------------------------------------------------------------------------ report


def markdown(result: dict, env: dict, settings: dict, stages: Stages) -> str:
    ev, truth = result["metrics"], result["truth"]
    sources, targets = settings["sources"], settings["targets"]
    methods = [m for m in METHOD_ORDER if m in ev]
    bold = {k: bold_best([ev[m]["average"][k] for m in methods], k) for k in METRICS}
    rows = []
    for i, m in enumerate(methods):
        cells = [fmt(ev[m]["average"][k]) for k in METRICS]
        rows.append(
            [m, *(f"**{c}**" if bold[k][i] else c for c, k in zip(cells, METRICS, strict=True))]
        )
    lines = [
        "# Intermediate-task selection: which source helps a target most?",
        "",
        f"{len(sources)} sources, {len(targets)} targets. Truth: target dev accuracy after "
        "source -> target fine-tuning minus target-only fine-tuning, mean over fine-tuning "
        f"seeds {settings['seeds']}. Rankings: mean ± std over embedding-space seeds "
        f"{settings['space_seeds']} (random: over draws). Higher is better except rho (rank "
        "of the truly best source, 1 = perfect) and regret@3 (gain lost against the best source, as a fraction of accuracy: 0.05 = 5 points). "
        "Bold: best in column.",
        "",
        "## Averaged over targets",
        "",
        markdown_table(["method", *METRICS], rows),
        "",
        *verdict(ev, methods),
        *flat_truth_note(truth, targets),
        "",
        "## NDCG and rho per target",
        "",
        markdown_table(
            ["method", *(f"{t} NDCG / rho" for t in targets)],
            [
                [
                    m,
                    *(
                        f"{fmt(ev[m]['per_target'][t]['ndcg'])} / {fmt(ev[m]['per_target'][t]['rho'], 1)}"
                        for t in targets
                    ),
                ]
                for m in methods
            ],
        ),
        "",
        "## The truth: gain in target dev accuracy (mean ± std over seeds)",
        "",
        markdown_table(
            ["source", *targets],
            [[s, *(fmt(truth[t]["gains"][s]) for t in targets)] for s in sources]
            + [["(target only: accuracy)", *(fmt(truth[t]["target_only"]) for t in targets)]]
            + [["(spread of mean gains / mean std)", *(noise_cell(truth[t]) for t in targets)]],
        ),
        "",
        "Where the spread of the mean gains over sources is not much larger than their "
        "seed-to-seed std, the true order of the sources is mostly noise and no method can "
        "rank them reliably there.",
        "",
        provenance_markdown(env, settings, stages),
    ]
    return "\n".join(lines)


def noise_cell(t: dict) -> str:
    """max - min of the sources' mean gains, and the mean of their std over seeds."""
    means = [g["mean"] for g in t["gains"].values()]
    stds = [g["std"] for g in t["gains"].values()]
    return f"{max(means) - min(means):.3f} / {float(np.mean(stds)):.3f}"


def flat_truth_note(truth: dict, targets: list[str]) -> list[str]:
    """Name the targets on which every source gives the same gain: nothing there to rank
    (NDCG is undefined and rho is 1 for any order), so their rows say little."""
    flat = [
        t for t in targets if len({round(g["mean"], 12) for g in truth[t]["gains"].values()}) == 1
    ]
    if not flat:
        return []
    return [
        f"- every source gives the same gain on {', '.join(flat)}: those rankings are not informative."
    ]


def verdict(ev: dict, methods: list[str]) -> list[str]:
    out = []
    fute = [m for m in methods if m.startswith(("dte-", "mte-"))]
    for m in fute:
        mine = ev[m]["average"]["ndcg"]["mean"]
        if mine is None:
            continue
        better = [
            b
            for b in ("mean-embedding", "random")
            if b in ev and (ev[b]["average"]["ndcg"]["mean"] or -np.inf) > mine
        ]
        if better:
            out.append(f"- {m} (NDCG {mine:.3f}) loses to: {', '.join(better)}.")
        else:
            out.append(f"- {m} (NDCG {mine:.3f}) beats mean-embedding and random on averaged NDCG.")
    return out


# ------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    env = environment()
    quiet_libraries()
    stages = Stages()
    recipe: Recipe = args.recipe

    from fute.data.catalog import load_dataset

    with stages("load data"):
        sources = {
            s: load_dataset(s, split="train").sample(recipe.source_examples, seed=0).validate()
            for s in args.sources
        }
        targets = {
            t: load_dataset(t, split="train").sample(recipe.target_examples, seed=0).validate()
            for t in args.targets
        }
        devs = {
            t: load_dataset(t, split="dev").sample(recipe.dev_examples, seed=0).validate()
            for t in args.targets
        }
    overlap = set(sources) & set(targets)
    if overlap:
        raise SystemExit(f"{sorted(overlap)} are both source and target; give disjoint lists")

    source_dirs: dict = {}
    for seed in args.seeds:
        with stages(f"fine-tune sources, seed {seed}"):
            for s, data in sources.items():
                source_dirs[(s, seed)] = source_model_dir(s, data, seed, recipe)

    truth: dict = {}
    for t in args.targets:
        train, dev = targets[t], devs[t]
        with stages(f"{t}: target fine-tuning ({len(args.seeds)} seeds x {len(sources) + 1})"):
            base = {}
            per_source: dict = {s: [] for s in sources}
            for seed in args.seeds:
                base[seed] = cached_target_accuracy(None, train, dev, seed, recipe)
                for s in sources:
                    acc = cached_target_accuracy(source_dirs[(s, seed)], train, dev, seed, recipe)
                    per_source[s].append(acc - base[seed])
        truth[t] = {
            "n_train": len(train),
            "n_dev": len(dev),
            "target_only": mean_std(base.values()),
            "target_only_per_seed": list(base.values()),
            "gains": {s: mean_std(v) for s, v in per_source.items()},
            "gains_per_seed": per_source,
        }
    gains = {t: [truth[t]["gains"][s]["mean"] for s in sources] for t in args.targets}

    first_seed_dirs = {s: source_dirs[(s, args.seeds[0])] for s in sources}
    scores = embed_scores(args, sources, targets, first_seed_dirs, stages)
    settings = {
        "sources": list(sources),
        "targets": list(targets),
        "seeds": args.seeds,
        "space_seeds": args.space_seeds,
        "pool_size": args.pool_size,
        "mte_classifier_seed": args.seeds[0],
        "mte_pool_excludes": "every target",
        **asdict(recipe),
        "target_dte": "the same limited target training set",
        "quick": args.quick,
    }
    result = {
        "benchmark": "transfer",
        "environment": env,
        "settings": settings,
        "truth": truth,
        "scores": scores,
        "metrics": evaluate(scores, gains),
        "stages_seconds": stages.seconds,
    }
    write_results("transfer", result, markdown(result, env, settings, stages), results_dir(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
