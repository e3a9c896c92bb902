"""Benchmark 1: how well does each method pick the best prompt of an LLM for a new data set?

For every data set, each prompt of the task's library turns SmolLM2-135M-Instruct into a
classifier; the *truth* is each prompt's accuracy and macro-F1 on labelled examples of the
data set's evaluation split. Every method scores every prompt; the rows fall in four groups
by what they spend on one *new* data set (issue 12 points 3, 4, 6, 7):

* **FUTE, zero LLM calls** (its DTE needs the data set's labelled train split): the prompt's
  model task embedding (MTE, made once on the unlabelled pool, from which *all* of this
  benchmark's data sets of the task are excluded) against the data set's task embedding
  (DTE), by every similarity that applies to the space's method (`fute.ranking.similarity`):
  ``fute-fisher`` / ``fute-prefix`` are the old cosine rows, ``fute-<method>:<similarity>``
  the others (``centred-cosine``, ``task2vec`` for fisher, ``rrf-components``, ``maxsim``
  for prefix, ``behaviour``); the same with pool-anchored DTEs (``+anchor``) and with MTEs
  from answers on clipped pool inputs (``+clip``; issue 12 point 2, their own table); and
  each of them fused by reciprocal rank (k = 60) with each pool prior:
  ``rrf(<fute row>, <prior>)``.
* **zero calls, no labels**: the priors from each prompt's answers on the space's pool
  alone (``pool-mi``, ``pool-cbm-mi``: MI of the CBM-calibrated answers), and ``random``.
* **LLM calls on the new data set's inputs, no labels**: the label-free baselines of
  `fute.evaluation.prompt_baselines` (MI, GE, LE, MDL, ZPS x 3, perplexity) and ``cbm-mi``
  (`fute.evaluation.priors.calibrated_mutual_information` on the target's inputs).
* **k labels of the new data set**: ``few-label-K`` (each prompt's accuracy on K seeded
  labelled examples, K = 8, 16, 32, 64, cost K x P calls; a draw is one user, the rankings
  are scored per draw and summarised as mean ± std over draws) and ``fute-<method>-kK...``
  (FUTE with a DTE made from the *same* K examples as the few-label draw, zero calls).

The few-label examples come from a seeded labelled pool taken from the DTE's train split,
disjoint from the evaluation examples that make the truth (so that few-label evaluation is
not scored against the very examples it used). Each ranking is compared with the truth by
NDCG, NDCG@3, regret@1 and Spearman, per data set and averaged over data sets, as mean ±
std over the seeds of the embedding space (random: of the draw; few-label: over draws;
FUTE-kK: over seeds x draws). Nothing is tuned here: every setting is fixed before the run
and written to the result. The pre-registered default (issue 12 point 6) is read from
benchmarks/preregistered.json, written to the results under the top-level key ``default``
and marked in the tables. The sets reserved for the outside check
(`fute.data.catalog.reserved_names`) are refused as targets.

The tasks: ``sentiment`` (4 development sets, 15 prompts) and ``pair`` (4 sentence-pair
development sets of the rebuilt catalogue: yes/no questions over a passage, syllogism
validity, summary consistency, answer verification; the 14 prompts of
``fute/prompts/pair.json``, written for this project).

Every expensive artefact is cached under ``$FUTE_CACHE/bench/`` (LLM answers by
`cached_predict`, perplexities, embeddings with their extras) keyed by what makes it, so a
killed run resumes; ``--stage`` makes one kind of artefact only (nothing written to
results), ``--only`` restricts the targets; a full run writes the results after each data
set, and ``--render`` rebuilds the markdown from the JSON (the run skeleton:
`benchmarks.harness.selection`).

    python -m benchmarks.prompt_selection           # full run (make bench-prompts)
    python -m benchmarks.prompt_selection --quick   # tiny caps, pipeline check
    python -m benchmarks.prompt_selection --dev     # the run the default is chosen on
    python -m benchmarks.prompt_selection --stage answers --only sentiment-imdb
    python -m benchmarks.prompt_selection --render  # re-write the table from the JSON
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass

import numpy as np

from benchmarks.harness.cache import cache_key, cached_json
from benchmarks.harness.embeddings import (
    FUTE_METHODS,
    SIMILARITIES,
    cached_mte,
    kind_centres,
)
from benchmarks.harness.parts import check_parts, merged_notes_and_stages, part_provenance
from benchmarks.harness.scores import (
    draw_indices,
    evaluate_rows,
    name_seed,
    random_scores,
    similarity_scores,
)
from benchmarks.harness.selection import (
    SelectionBenchmark,
    closing_lines,
    reserved_sets,
)
from benchmarks.harness.stages import Stages
from benchmarks.harness.tables import (
    default_lines,
    dev_run_note,
    fmt,
    in_order,
    markdown_table,
    metric_table,
    partial_lines,
    starred,
)
from fute.evaluation import prompt_baselines as pb
from fute.evaluation.label_baselines import few_label_accuracies
from fute.evaluation.labels import align_label_columns
from fute.evaluation.priors import calibrated_mutual_information, reciprocal_rank_fusion

SENTIMENT_SETS = (
    "sentiment-imdb",
    "sentiment-yelp",
    "sentiment-amazon",
    "sentiment-rotten-tomatoes",
)
#: sentence-pair development sets (the "pair" prompt library: yes/no over two texts)
PAIR_SETS = ("pair-boolq", "pair-syllogisms", "pair-factual-summary", "pair-mc-openbookqa")
METRICS = ("ndcg", "ndcg@3", "regret@1", "spearman")
TRUTHS = ("accuracy", "macro_f1")
PER_PROMPT_BASELINES = {
    "mi": pb.mutual_information,
    "cbm-mi": calibrated_mutual_information,
    "global-entropy": pb.global_entropy,
    "local-entropy": pb.local_entropy,
    "mdl": pb.mdl,
}
ZPS_VARIANTS = {"zps-logprob": "logprob", "zps-prob": "prob", "zps-vote": "vote"}
#: zero-call priors from each prompt's answers on the space's pool
POOL_PRIORS = {"pool-mi": pb.mutual_information, "pool-cbm-mi": calibrated_mutual_information}
#: every FUTE row is fused with each of these priors by reciprocal rank
FUSION_PRIORS = tuple(POOL_PRIORS)
RRF_K = 60.0
FEW_LABEL_KS = (8, 16, 32, 64)
DTE_KS = (16, 64)
STAGES = (
    "answers",
    "perplexity",
    "few-label-answers",
    "pool-answers",
    "mtes",
    "dtes",
    "dtes-k",
    "clipped-mtes",
    "anchored-dtes",
)
#: variants of the FUTE rows (issue 12 point 2), rows ``fute-<method>+<variant>[:<sim>]``:
#: ``anchor``: pool-anchored DTEs (`Space(pool_anchor=True)`: the surrogate trained on the
#: data set answers the pool and the method is trained on those answers) against the same
#: MTEs (an MTE is made the same way in both spaces); ``clip``: MTEs whose LLM answered each
#: pool input cut to the surrogate's `max_length` tokens (`Space(clip_pool=True)`) against
#: the same DTEs
VARIANTS = ("anchor", "clip")
#: settings that may differ between the parts of one run (each part has its own targets)
PART_KEYS = ("datasets", "n_prompts", "part")

G_FUTE = "FUTE, 0 calls"
G_FREE = "0 calls, no labels"
G_CALLS = "calls, no labels"
G_LABELS = "k labels"
GROUPS = (G_FUTE, G_FREE, G_CALLS, G_LABELS)


@dataclass(frozen=True)
class Task:
    name: str  # prompt library, "sentiment" or "pair"
    datasets: tuple[str, ...]


@dataclass
class Sets:
    data: object  # evaluation examples (the truth)
    train: object  # the DTE's examples
    few: object  # labelled pool of the few-label draws (from train, disjoint from data)
    splits: dict


# ------------------------------------------------------------------------------ row names


def fute_row(
    method: str, similarity: str = "cosine", k: int | None = None, variant: str | None = None
) -> str:
    """``fute-fisher`` (cosine, full DTE: the old row), ``fute-prefix:maxsim``,
    ``fute-fisher-k16`` (DTE from 16 labelled examples), ``fute-fisher-k16:task2vec``,
    ``fute-fisher+anchor:behaviour`` (a variant of `VARIANTS`)."""
    base = (
        f"fute-{method}" + (f"-k{k}" if k is not None else "") + (f"+{variant}" if variant else "")
    )
    return base if similarity == "cosine" else f"{base}:{similarity}"


def fused_row(row: str, prior: str) -> str:
    return f"rrf({row}, {prior})"


def parse_row(name: str) -> dict:
    """What a row name says: {"kind", "method", "similarity", "k", "prior", "inner"}."""
    if name.startswith("rrf(") and name.endswith(")"):
        inner, _, prior = name[4:-1].rpartition(", ")
        return {**parse_row(inner), "kind": "fused", "prior": prior, "inner": inner}
    if name.startswith("fute-"):
        head, _, similarity = name.partition(":")
        head, _, variant = head.partition("+")
        parts = head.split("-")  # fute, method[, kK]
        k = int(parts[2][1:]) if len(parts) > 2 else None
        return {
            "kind": "fute",
            "method": parts[1],
            "similarity": similarity or "cosine",
            "k": k,
            "variant": variant or None,
        }
    if name.startswith("few-label-"):
        return {"kind": "few-label", "k": int(name.rsplit("-", 1)[1])}
    if name in POOL_PRIORS:
        return {"kind": "prior"}
    if name == "random":
        return {"kind": "random"}
    return {"kind": "baseline"}


def row_order(
    methods=FUTE_METHODS,
    few_ks=FEW_LABEL_KS,
    dte_ks=DTE_KS,
    variants=VARIANTS,
    k_variants=(None, "anchor"),
) -> list[str]:
    """Every row name in table order: the FUTE rows (old cosine first, then the variants)
    and their fusions, the zero-call priors, the baselines with calls, then the label-using
    rows."""
    fute = [fute_row(m, s) for m in methods for s in SIMILARITIES[m]]
    fute += [fute_row(m, s, variant=v) for v in variants for m in methods for s in SIMILARITIES[m]]
    fused = [fused_row(r, p) for p in FUSION_PRIORS for r in fute]
    free = [*POOL_PRIORS, "random"]
    calls = [*PER_PROMPT_BASELINES, *ZPS_VARIANTS, "perplexity"]
    labels = [f"few-label-{k}" for k in few_ks]
    for k in dte_ks:
        rows_k = [
            fute_row(m, s, k, v) for v in k_variants for m in methods for s in SIMILARITIES[m]
        ]
        labels += rows_k + [fused_row(r, p) for p in FUSION_PRIORS for r in rows_k]
    return [*fute, *fused, *free, *calls, *labels]


def group_of(name: str) -> str:
    info = parse_row(name)
    if info.get("k") is not None or info["kind"] == "few-label":
        return G_LABELS
    if info["kind"] in ("fute", "fused"):
        return G_FUTE
    if info["kind"] in ("prior", "random"):
        return G_FREE
    return G_CALLS


def cost_of(name: str, n_prompts: int, n_inputs: int, n_ppl: int, pool: str) -> dict:
    """{"calls": LLM calls per new data set, "labels": labelled examples of it it needs}."""
    info = parse_row(name)
    once = f"0 (once: {n_prompts} x pool {pool})"
    if info["kind"] == "few-label":
        k = info["k"]
        return {"calls": f"{k} x {n_prompts} = {k * n_prompts}", "labels": str(k)}
    if info["kind"] in ("fute", "fused"):
        return {"calls": once, "labels": str(info["k"]) if info["k"] else "train split"}
    if info["kind"] == "prior":
        return {"calls": once, "labels": "0"}
    if info["kind"] == "random":
        return {"calls": "0", "labels": "0"}
    if name == "perplexity":
        return {"calls": f"{n_prompts} x {n_ppl} = {n_prompts * n_ppl}", "labels": "0"}
    return {"calls": f"{n_prompts} x {n_inputs} = {n_prompts * n_inputs}", "labels": "0"}


def default_rows(default, methods=FUTE_METHODS, k: int | None = None) -> list[str]:
    """The row names of a pre-registered default: a row name (str), or
    {"similarity": NAME, "method": "fisher" | "prefix" | null (both), "prior": null | a
    pool prior, "fusion": null | "rrf", "variant": null | one of `VARIANTS`}; `k` gives the
    same choice with a DTE from k labels."""
    if default is None:
        return []
    if isinstance(default, str):
        return [default]
    similarity = default.get("similarity", "cosine")
    chosen = [default["method"]] if default.get("method") else list(methods)
    variant = default.get("variant")
    rows = [fute_row(m, similarity, k, variant) for m in chosen if similarity in SIMILARITIES[m]]
    prior = default.get("prior")
    if prior:
        if default.get("fusion", "rrf") != "rrf":
            raise SystemExit(f"error: fusion {default.get('fusion')!r} is not in this benchmark")
        rows = [fused_row(r, prior) for r in rows]
    return rows


def k_row_of(row: str, k: int) -> str | None:
    """The row of the same method, similarity and variant with a DTE from k labels."""
    info = parse_row(row)
    if info["kind"] != "fute" or info["k"] is not None:
        return None
    return fute_row(info["method"], info["similarity"], k, info["variant"])


def is_main_row(name: str) -> bool:
    """Rows of the main table: all but the FUTE rows from k labels and the variants (their
    own tables)."""
    info = parse_row(name)
    return not (info.get("k") is not None and info["kind"] != "few-label") and not info.get(
        "variant"
    )


def k_variants(args, method: str) -> list[str | None]:
    """The variants of the DTEs from k labels of `method` (None: plain)."""
    out = [None if v == "plain" else v for v in args.dte_k_variants]
    return [v for v in out if v != "anchor" or method in args.anchor_methods]


# ------------------------------------------------------------------------------ data and models


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


def parse_space_args(pairs: list[str]) -> dict:
    """{KEY: VALUE} of the --space-arg KEY=VALUE flags (a VALUE in JSON is read as such)."""
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


def concat(parts: list, name: str):
    """One labelled `Examples` from several with the same label set."""
    from fute.core.examples import Examples

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


def load_sets(ds: str, args) -> Sets:
    data, train, splits = eval_and_dte_sets(ds, args.max_examples, args.dte_examples)
    data, train = clip_words(data, args.max_words), clip_words(train, args.max_words)
    few = train.sample(args.few_label_pool, seed=1)
    for part in (data, train, few):
        part.validate()
    splits = {**splits, "few_label_pool": f"{len(few)} of the DTE's train examples"}
    return Sets(data, train, few, splits)


def gold_of(data) -> np.ndarray:
    return np.array([data.label_names.index(y) for y in data.labels])


def truth_of(probs: np.ndarray, data) -> dict:
    from sklearn.metrics import f1_score

    gold = gold_of(data)
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


# ------------------------------------------------------------------------------ scores


def draw_seed(dataset: str, k: int) -> int:
    """The seed of a data set's few-label draws of size k: fixed by the names, not the run."""
    return name_seed("few-label-draws", dataset, k)


def few_label_scores(probs: np.ndarray, gold: np.ndarray, k: int, draws: int, seed: int) -> dict:
    """{draw: [accuracy of each prompt on that draw's k labelled examples]}."""
    acc = few_label_accuracies(probs, gold, k, draws, seed)
    return {str(d): row.tolist() for d, row in enumerate(acc)}


def pool_prior_scores(pool_probs) -> dict:
    """{prior: [score of each prompt]} from each prompt's (n, L) answers on the pool."""
    return {name: [float(fn(p)) for p in pool_probs] for name, fn in POOL_PRIORS.items()}


def baseline_scores(probs: np.ndarray, token_logprobs) -> dict:
    """{method: [score per prompt]} for the deterministic label-free baselines."""
    out = {name: [float(fn(p)) for p in probs] for name, fn in PER_PROMPT_BASELINES.items()}
    for name, variant in ZPS_VARIANTS.items():
        out[name] = pb.zps_scores(probs, variant).tolist()
    if token_logprobs:
        out["perplexity"] = [pb.perplexity_score(lp) for lp in token_logprobs]
    return out


def with_fused(scores: dict) -> dict:
    """`scores` ({row: {data set: {key: [score per prompt]}}}) with every FUTE row fused
    with every pool prior (``rrf(<row>, <prior>)``): derived, so never stored in a part."""
    out = {r: v for r, v in scores.items() if parse_row(r)["kind"] != "fused"}
    for name in [r for r in out if r.startswith("fute-")]:
        for prior in (p for p in FUSION_PRIORS if p in out):
            out[fused_row(name, prior)] = {
                ds: fuse(by_key, out[prior][ds])
                for ds, by_key in out[name].items()
                if ds in out[prior]
            }
    return out


def without_fused(result: dict) -> dict:
    """`result` as stored: without the fused rows, which `with_fused` derives again."""
    kept = {r: v for r, v in result["scores"].items() if parse_row(r)["kind"] != "fused"}
    return {**result, "scores": kept}


def fuse(fute_scores: dict, prior_scores: dict, k: float = RRF_K) -> dict:
    """Reciprocal-rank fusion per key of a FUTE row's {seed or "seed/draw": scores} with the
    prior of the same embedding seed ({seed: scores})."""
    out = {}
    for key, scores in fute_scores.items():
        prior = prior_scores[str(key).split("/")[0]]
        out[key] = reciprocal_rank_fusion([scores, prior], k=k).tolist()
    return out


def centres_for(mtes, other_dtes) -> dict:
    """The fixed references of centred-cosine: the task's prompt MTEs (every candidate), and
    the full DTEs of the benchmark's *other* data sets in the space (never the target's own)."""
    return kind_centres((("prompted-lm", mtes), ("dataset", other_dtes)))


def evaluate(scores: dict, truth: dict) -> dict:
    """{truth: {method: {"per_dataset": {ds: {metric: stat}}, "average": {metric: stat}}}}.

    A deterministic method has one "seed" (``-``); a FUTE row one per embedding seed, a
    few-label row one per draw, a FUTE row from k labels one per (seed, draw). The average
    over data sets is taken per seed key, then summarised over the keys.
    """
    return {
        name: evaluate_rows(
            scores,
            {ds: [t["prompts"][p][name] for p in t["prompt_ids"]] for ds, t in truth.items()},
            METRICS,
            "per_dataset",
        )
        for name in TRUTHS
    }


def costs_of(scores: dict, truth: dict, settings: dict) -> dict:
    """{"cost": {row: LLM calls per new data set}, "labels": {row: labels of it}}."""
    n_in = int(np.mean([t["n_eval"] for t in truth.values()]))
    n_ppl = min(settings["ppl_examples"], n_in)
    p_max = max(settings["n_prompts"].values())
    pool = str(settings["space_hparams"].get("pool_size", "?"))
    costs = {m: cost_of(m, p_max, n_in, n_ppl, pool) for m in scores}
    return {
        "cost": {m: c["calls"] for m, c in costs.items()},
        "labels": {m: c["labels"] for m, c in costs.items()},
    }


def cost_labels(name: str) -> str:
    return cost_of(name, 0, 0, 0, "?")["labels"]


# ------------------------------------------------------------------------------ markdown


def ordered(names, settings: dict) -> list[str]:
    """`names` in table order (rows this version does not know go last, sorted)."""
    few_ks, dte_ks = settings.get("few_label_ks", FEW_LABEL_KS), settings.get("dte_ks", DTE_KS)
    return in_order(names, row_order(FUTE_METHODS, few_ks, dte_ks))


def table(ev: dict, rows: list[str], result: dict, defaults) -> str:
    costs = {
        "LLM calls per new data set": lambda m: result["cost"].get(m, "?"),
        "labels of it": lambda m: result.get("labels", {}).get(m, "?"),
    }
    return metric_table(ev, rows, METRICS, defaults, group_of, costs)


def diff_line(ev: dict, mine: str, other: str, metric: str) -> str:
    a, b = ev[mine]["average"][metric], ev[other]["average"][metric]
    if a.get("mean") is None or b.get("mean") is None:
        return f"{metric} vs {other}: -"
    delta = a["mean"] - b["mean"]
    good = delta <= 0 if metric.startswith("regret") else delta >= 0
    spread = max(a.get("std") or 0.0, b.get("std") or 0.0)
    return (
        f"{metric} {a['mean']:.3f} vs {other} {b['mean']:.3f}: "
        f"{'met' if good else 'missed'} by {abs(delta):.3f} (larger seed/draw std {spread:.3f})"
    )


def targets_section(ev: dict, defaults: list[str], few_ks) -> list[str]:
    """Issue 12 point 7 for the pre-registered default (or, without one, orientation only)."""
    lines = ["## Targets of issue 12 (truth = accuracy)", ""]
    shown = [d for d in defaults if d in ev]
    if not shown:
        zero = [m for m in ev if group_of(m) in (G_FUTE, G_FREE) and m != "random"]
        best = max(zero, key=lambda m: ev[m]["average"]["ndcg"]["mean"] or -np.inf, default=None)
        lines.append(
            "No default is pre-registered yet (benchmarks/preregistered.json). For orientation "
            f"only, the zero-call row with the best mean NDCG here is {best}: picked by looking "
            "at these numbers, so it is not a test of any target."
        )
        shown = [best] if best else []
    for row in shown:
        lines.append("")
        lines.append(f"- {row}:")
        if "mi" in ev:
            lines.append(f"  - {diff_line(ev, row, 'mi', 'ndcg')}")
            lines.append(f"  - {diff_line(ev, row, 'mi', 'regret@1')}")
        for k in few_ks:
            if f"few-label-{k}" in ev:
                lines.append(f"  - {diff_line(ev, row, f'few-label-{k}', 'ndcg')}")
        for k in few_ks:
            same = k_row_of(row, k)
            if same in ev and f"few-label-{k}" in ev:
                lines.append(
                    f"  - same {k} labels: {same} {diff_line(ev, same, f'few-label-{k}', 'ndcg')}"
                )
    return lines + [""]


def verdict(ev_truth: dict, methods: list[str]) -> list[str]:
    """For the old cosine rows: which label-free baselines beat them on averaged NDCG."""
    out = []
    for fute in (m for m in methods if m in ("fute-fisher", "fute-prefix")):
        mine = ev_truth[fute]["average"]["ndcg"]["mean"]
        if mine is None:
            continue
        better = [
            m
            for m in methods
            if group_of(m) in (G_CALLS, G_FREE)
            and (ev_truth[m]["average"]["ndcg"]["mean"] or -np.inf) > mine
        ]
        if better:
            out.append(f"- {fute} (NDCG {mine:.3f}) loses to: {', '.join(better)}.")
        else:
            out.append(
                f"- {fute} (NDCG {mine:.3f}) is not beaten by any label-free baseline on "
                "averaged NDCG."
            )
    return out


def sampling_std(accuracies, n: int) -> float:
    """Binomial standard error sqrt(a (1 - a) / n) of the median prompt's accuracy."""
    a = float(np.median(accuracies))
    return float(np.sqrt(a * (1 - a) / n))


def variants_section(ev_acc: dict, methods: list[str], result: dict, defaults) -> list[str]:
    """The table of the variant rows (not from k labels: those are in the tables of the
    same k labels), with the plain rows for comparison."""
    variant_rows = [
        m for m in methods if parse_row(m).get("variant") and parse_row(m).get("k") is None
    ]
    if not variant_rows:
        return []
    present = {parse_row(m)["variant"] for m in variant_rows}
    plain = [
        m
        for m in methods
        if parse_row(m)["kind"] == "fute"
        and parse_row(m).get("k") is None
        and not parse_row(m).get("variant")
    ]
    what = {
        "anchor": (
            "pool-anchored DTEs",
            "`+anchor`: each data set's DTE is pool-anchored (the surrogate trained on the "
            "data set answers the space's pool, and the method is trained on those answers, "
            "as for an MTE), against the same MTEs.",
        ),
        "clip": (
            "clipped pools",
            "`+clip`: each prompt's MTE comes from the LLM's answers on pool inputs cut to "
            "the surrogate's max_length tokens, against the same DTEs.",
        ),
    }
    shown = [v for v in VARIANTS if v in present]
    title = " and ".join(what[v][0] for v in shown)
    return [
        f"## {title[0].upper() + title[1:]} (issue 12 point 2; truth = accuracy)",
        "",
        " ".join(what[v][1] for v in shown) + " The plain rows are repeated for comparison.",
        "",
        table(ev_acc, plain + variant_rows, result, defaults),
        "",
    ]


def truth_table(truth: dict) -> list[str]:
    return [
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
    ]


def markdown(result: dict, env: dict, settings: dict, stages: Stages) -> str:
    ev, truth = result["metrics"], result["truth"]
    defaults = result.get("default_rows") or []
    done = result.get("datasets_done", list(truth))
    lines = [
        "# Prompt selection: FUTE vs label-free and label-using baselines",
        "",
        f"SmolLM2-135M-Instruct; prompts per task {settings['n_prompts']}; truth = each "
        f"prompt's score on up to {settings['max_examples']} labelled examples (held-out splits, "
        "topped up from train where they are small; no DTE and no few-label draw sees them). "
        f"Mean ± std over seeds {settings['seeds']} (FUTE and pool priors: embedding space; "
        "random: draw), over draws (few-label: "
        f"{settings.get('few_label_draws', '-')} per k from a labelled pool of "
        f"{settings.get('few_label_pool', '-')} train examples) or over seeds x draws (FUTE "
        f"from k labels: the first {settings.get('dte_k_draws', '-')} draws); the other "
        "baselines are deterministic. Higher is better except regret@1 (accuracy lost against "
        "the best prompt, as a fraction: 0.05 = 5 points). Bold: best in column. "
        f"Fusion: reciprocal rank, k = {settings.get('rrf_k', RRF_K):g}, of each FUTE row with "
        f"each pool prior ({', '.join(settings.get('fusion_priors', FUSION_PRIORS))}).",
        "",
        f"Groups: *{G_FUTE}*: FUTE by each similarity, and fused with a pool prior (no LLM "
        "call per new data set; the DTE uses its labelled train split); "
        f"*{G_FREE}*: priors from each prompt's answers on the pool alone, and random; "
        f"*{G_CALLS}*: label-free baselines that run the LLM on the new data set's inputs; "
        f"*{G_LABELS}*: few-label evaluation (k x P calls) and FUTE with a DTE from the same "
        "k labelled examples (own table below). ★: the pre-registered default.",
        "",
    ]
    if settings.get("run") == "development":
        lines += dev_run_note("one embedding seed, every row")
    if not result.get("complete", True):
        lines += partial_lines(done, len(settings["datasets"]), "data sets")
    lines += default_lines(result, defaults)
    few_ks = settings.get("few_label_ks", FEW_LABEL_KS)
    for truth_name in TRUTHS:
        methods = ordered(ev[truth_name], settings)
        main = [m for m in methods if is_main_row(m)]
        lines += [
            f"## Averaged over data sets, truth = {truth_name}",
            "",
            table(ev[truth_name], main, result, defaults),
            "",
        ]
        lines += verdict(ev[truth_name], methods) + [""]
    ev_acc = ev["accuracy"]
    methods = ordered(ev_acc, settings)
    for k in settings.get("dte_ks", DTE_KS):
        same = [f"few-label-{k}"] + [
            m for m in methods if parse_row(m).get("k") == k and parse_row(m)["kind"] != "few-label"
        ]
        same = [m for m in same if m in ev_acc]
        if len(same) > 1:
            lines += [
                f"## The same {k} labels: few-label evaluation vs FUTE's DTE from them "
                "(truth = accuracy)",
                "",
                table(ev_acc, same, result, defaults),
                "",
            ]
    lines += variants_section(ev_acc, methods, result, defaults)
    lines += targets_section(ev_acc, defaults, few_ks)
    # the per-data-set tables: the main rows, and the default with its fused rows wherever
    # it is a variant (issue 12 point 7 asks for the default per data set)
    main = [
        m
        for m in methods
        if is_main_row(m) or m in defaults or any(m.startswith(f"rrf({d}, ") for d in defaults)
    ]
    datasets = list(truth)
    for k in METRICS:
        lines += [
            f"## {k} per data set (truth = accuracy)",
            "",
            markdown_table(
                ["method", *datasets],
                [
                    [
                        starred(m, defaults),
                        *(
                            fmt(ev_acc[m]["per_dataset"][d][k])
                            if d in ev_acc[m]["per_dataset"]
                            else "-"
                            for d in datasets
                        ),
                    ]
                    for m in main
                ],
            ),
            "",
        ]
    lines += truth_table(truth)
    lines += closing_lines(result, env, settings, stages)
    return "\n".join(lines)


# ------------------------------------------------------------------------------ parts


def part_scores(parts: dict) -> dict:
    """{row: {data set: {seed key: [score per prompt]}}}: the union of the parts' row scores
    (each part holds its own data sets), without the fused rows a part does not store."""
    scores: dict = {}
    for part in parts.values():
        for row, by_ds in part["scores"].items():
            scores.setdefault(row, {}).update(by_ds)
    return scores


def merge_parts(parts: dict) -> dict:
    """One result from {part name: result of a run with ``--part``}: the union of their
    targets, re-scored together. The parts must share every setting but their targets and
    the pre-registered default, be complete, and have no target in common."""
    base = check_parts(parts, PART_KEYS, "datasets_done")
    names = list(parts)
    seen: dict = {}
    for name in names:
        for ds in parts[name]["truth"]:
            if ds in seen:
                raise SystemExit(f"error: {ds} is a target of parts {seen[ds]} and {name}")
            seen[ds] = name
    order = [d for d in base.get("all_datasets", []) if d in seen]
    order += [d for d in seen if d not in order]
    truth = {ds: parts[seen[ds]]["truth"][ds] for ds in order}
    few: dict = {}
    n_prompts: dict = {}
    for name in names:
        few.update(parts[name].get("few_label", {}))
        n_prompts.update(parts[name]["settings"]["n_prompts"])
    scores = with_fused(part_scores(parts))  # a part stores no fused rows
    first = parts[names[0]]
    settings = {**first["settings"], "datasets": order, "n_prompts": n_prompts, "part": None}
    return {
        **{k: first[k] for k in ("benchmark", "default", "preregistered", "default_rows")},
        "environment": first["environment"],
        "settings": settings,
        "complete": set(truth) == set(base.get("all_datasets", truth)),
        "datasets_done": order,
        "parts": {n: part_provenance(parts[n], targets=list(parts[n]["truth"])) for n in names},
        "truth": truth,
        "scores": scores,
        "few_label": few,
        "metrics": evaluate(scores, truth),
        **costs_of(scores, truth, settings),
        **merged_notes_and_stages(parts),
    }


# ------------------------------------------------------------------------------ the run


def variant_space(variant: str | None) -> dict:
    """The space flags of a variant of the FUTE rows (None: the plain space)."""
    return {"pool_anchor": variant == "anchor", "clip_pool": variant == "clip"}


class PromptSelection(SelectionBenchmark):
    """One run: its settings, the cached artefacts it makes (each keyed by what makes it)."""

    name = "prompt_selection"
    STAGES = STAGES
    targets_from = "the task lists"
    only_metavar = "DATASET"
    stage_help = (
        "only make these cached artefacts (nothing written to the results); "
        "without it every stage runs and the results are written after each data set"
    )
    only_help = (
        "targets to process (of the task lists; the MTE pools still exclude every "
        "data set of the task)"
    )
    part_help = (
        "a piece of a run that takes longer than one working session (archive/FINAL_RUNS.md): "
        "a full run of some targets (--only) writing to <out>/parts/prompt_selection.NAME."
        "{json,md}; --merge combines the parts"
    )
    merge_help = (
        "only combine <out>/parts/prompt_selection.*.json (disjoint targets, the same "
        "settings) into <out>/prompt_selection.{json,md} (no run)"
    )
    dev_help = (
        "the development run: embedding seed 0 only, every row and baseline; results "
        "to benchmarks/results/dev/"
    )
    markdown = staticmethod(markdown)
    merge_parts = staticmethod(merge_parts)

    def __init__(self) -> None:
        super().__init__()
        self.few: dict = {}  # data set -> few-label summary
        self.hparams: dict = {}  # of every space (--pool-size, --space-arg)
        self._lm = self._scorer = None

    # ------------------------------------------------------------------ flags

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        p.add_argument("--sentiment-sets", nargs="*", default=list(SENTIMENT_SETS))
        p.add_argument("--pair-sets", nargs="*", default=list(PAIR_SETS))
        p.add_argument(
            "--seeds", nargs="+", type=int, default=[0, 1, 2], help="embedding-space seeds"
        )
        p.add_argument(
            "--backend",
            choices=("transformers", "llamacpp"),
            default="transformers",
            help="how SmolLM2-135M-Instruct runs (llamacpp: the bundled Q4 GGUF, often faster "
            "on CPU)",
        )
        p.add_argument(
            "--dtype",
            choices=("float32", "bfloat16"),
            default="float32",
            help="precision of the transformers LLM (truth, baselines and MTEs all use it); "
            "bfloat16 pays off only on CPUs with native bf16 (AVX512-BF16, AMX) or GPUs",
        )
        p.add_argument(
            "--max-examples", type=int, default=500, help="labelled examples per data set"
        )
        p.add_argument(
            "--max-words",
            type=int,
            default=128,
            help="each text is cut to its first N words before anything sees it (0: no cut)",
        )
        p.add_argument("--pool-size", type=int, default=200, help="pool inputs per prompt MTE")
        p.add_argument(
            "--ppl-examples",
            type=int,
            default=100,
            help="inputs per data set for perplexity (0: no perplexity row)",
        )
        p.add_argument("--dte-examples", type=int, default=1000, help="train examples for a DTE")
        p.add_argument("--max-prompts", type=int, default=None, help="first N prompts of each task")
        p.add_argument(
            "--few-label-pool",
            type=int,
            default=256,
            help="labelled examples (from the DTE's train split) the few-label draws come "
            "from; every prompt answers them once",
        )
        p.add_argument(
            "--few-label-ks",
            nargs="*",
            type=int,
            default=list(FEW_LABEL_KS),
            help="k of the few-label rows (none: no few-label rows and no few-label answers)",
        )
        p.add_argument("--few-label-draws", type=int, default=20, help="draws per k")
        p.add_argument(
            "--dte-ks",
            nargs="*",
            type=int,
            default=list(DTE_KS),
            help="k of the DTEs from k labels",
        )
        p.add_argument(
            "--dte-k-draws",
            type=int,
            default=5,
            help="DTEs from k labels per (k, method, seed): the first N few-label draws",
        )
        p.add_argument(
            "--dte-k-variants",
            nargs="+",
            choices=("plain", "anchor"),
            default=["plain"],
            help="the DTEs from k labels: plain, and/or pool-anchored (rows "
            "fute-<method>-kK+anchor)",
        )
        p.add_argument(
            "--anchor-methods",
            nargs="+",
            choices=FUTE_METHODS,
            default=list(FUTE_METHODS),
            help="the methods that get pool-anchored DTEs (full and from k labels)",
        )
        p.add_argument(
            "--space-arg",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="a method hyper-parameter for fute.space.Space (e.g. max_length=64); repeatable",
        )
        p.add_argument(
            "--variants",
            nargs="*",
            choices=VARIANTS,
            default=list(VARIANTS),
            help="variants of the FUTE rows to add (issue 12 point 2; none: only the plain rows)",
        )

    def targets_of(self, args: argparse.Namespace) -> list[str]:
        return [*args.sentiment_sets, *args.pair_sets]

    def caps(self, args: argparse.Namespace) -> None:
        if not args.quick:
            return
        args.sentiment_sets = args.sentiment_sets[:2]
        args.pair_sets = args.pair_sets[:1]
        args.seeds = args.seeds[:1]
        args.max_examples = min(args.max_examples, 24)
        args.ppl_examples = min(args.ppl_examples, 4)
        args.dte_examples = min(args.dte_examples, 48)
        args.pool_size = min(args.pool_size, 16)
        args.max_prompts = args.max_prompts or 4
        args.few_label_pool = min(args.few_label_pool, 24)
        args.few_label_ks = [k for k in args.few_label_ks if k <= 16][:2]
        args.few_label_draws = min(args.few_label_draws, 4)
        args.dte_ks = [k for k in args.dte_ks if k <= 16][:1]
        args.dte_k_draws = min(args.dte_k_draws, 1)

    def space_hparams(self) -> dict:
        return self.hparams

    # ------------------------------------------------------------------ artefacts

    @property
    def lm(self):
        if self._lm is None:
            self._lm = make_lm(self.args.backend, self.args.dtype)
        return self._lm

    @property
    def scorer(self):
        if self._scorer is None:
            from fute.models.backends.transformers_lm import smollm2_folder

            self._scorer = TokenScorer(smollm2_folder(), dtype=self.args.dtype)
        return self._scorer

    def models(self, task: Task):
        from fute.models.prompted import PromptedLM
        from fute.models.prompts import load_prompts

        return [PromptedLM(self.lm, p) for p in load_prompts(task.name)[: self.args.max_prompts]]

    def pool_answers(self, task: Task, models, seed: int) -> list[np.ndarray]:
        """Each prompt's answers on the space's pool of this seed (the MTE's own pool)."""
        from fute.models.answers import cached_predict

        pool = self.space("fisher", seed).pool(models[0].arity, tuple(task.datasets))
        with self.stages(f"{task.name}: pool answers, seed {seed} ({len(models)} x {len(pool)})"):
            return [cached_predict(m, pool, progress=False) for m in models]

    def mtes(self, task: Task, models, method: str, seed: int, variant: str | None = None) -> list:
        from fute.models.protocol import model_identity

        space = self.space(method, seed, **variant_space(variant))
        what = f"{method} MTEs" + (f" ({variant})" if variant else "")
        with self.stages(f"{task.name}: {what}, seed {seed}"):
            return [
                cached_mte(
                    space,
                    m,
                    (model_identity(m), m.prompt.hash()),
                    m.prompt.id,
                    "prompted-lm",
                    task.datasets,
                )
                for m in models
            ]

    def full_dtes(self, sets: dict, method: str, seed: int, variant: str | None = None) -> dict:
        what = f"{method} DTEs" + (f" ({variant})" if variant else "")
        with self.stages(f"{what}, seed {seed} ({len(sets)} data sets)"):
            return {
                ds: self.dte(s.train, ds, method, seed, **variant_space(variant))
                for ds, s in sets.items()
            }

    def dtes_k(self, ds: str, s, method: str, seed: int, variant: str | None = None) -> dict:
        """{(k, draw): DTE of the k labelled examples of few-label draw `draw`}."""
        out = {}
        what = f"{method} DTEs from k labels" + (f" ({variant})" if variant else "")
        with self.stages(f"{ds}: {what}, seed {seed}"):
            for k in self.ks_for_dte(s):
                idx = draw_indices(len(s.few), k, self.args.dte_k_draws, draw_seed(ds, k))
                for d, rows in enumerate(idx):
                    train = s.few.subset(rows.tolist())
                    out[k, d] = self.dte(
                        train, f"{ds}-k{k}-d{d}", method, seed, **variant_space(variant)
                    )
        return out

    def ks_for_dte(self, s) -> list[int]:
        return [k for k in self.args.dte_ks if k <= len(s.few)] if self.args.dte_k_draws else []

    def answers(self, ds: str, models, data, what: str) -> np.ndarray:
        """(P, n, L) probabilities of every prompt on `data`, columns in its label order."""
        from fute.models.answers import cached_predict

        with self.stages(f"{ds}: LLM answers on {what} ({len(models)} prompts x {len(data)})"):
            return np.stack(
                [
                    align_label_columns(
                        cached_predict(m, data, progress=False), m.labels, data.label_names
                    )
                    for m in models
                ]
            )

    def perplexities(self, ds: str, models, inputs) -> list:
        """Token log-likelihoods of each prompt filled with each input, cached by the texts."""
        out = []
        with self.stages(f"{ds}: perplexity ({len(models)} prompts x {len(inputs)})"):
            for m in models:
                texts = [m.context(x) for x in inputs]
                key = cache_key("token-logprobs", self.scorer.identity, texts)
                out.append(cached_json("token-logprobs", key, lambda t=texts: self.scorer(t)))
        return out

    # ------------------------------------------------------------------ the run

    def prepare(self) -> list[str]:
        args, need = self.args, self.need
        self.hparams = {"pool_size": args.pool_size, **parse_space_args(args.space_arg)}
        tasks = [Task("sentiment", tuple(args.sentiment_sets)), Task("pair", tuple(args.pair_sets))]
        self.tasks = [t for t in tasks if t.datasets]
        self.all_datasets = [d for t in self.tasks for d in t.datasets]
        self.targets = [d for d in self.all_datasets if args.only is None or d in args.only]
        self.n_prompts: dict = {}
        self.pool_probs: dict = {}  # (task, seed) -> answers of each prompt on the pool
        self.task_mtes: dict = {}  # (task, method, seed) -> MTE of each prompt
        self.clipped_mtes: dict = {}  # the same, from answers on clipped pool inputs
        self.dtes: dict = {}  # (method, seed) -> {data set: full DTE}
        self.anchored_dtes: dict = {}  # the same, pool-anchored
        with self.stages("load data"):
            self.sets = {ds: load_sets(ds, args) for ds in self.all_datasets}
        self.models_of: dict = {}
        for task in self.tasks:
            if not any(d in self.targets for d in task.datasets):
                continue
            models = self.models_of[task.name] = self.models(task)
            self.n_prompts[task.name] = len(models)
            for seed in args.seeds:
                if need("pool-answers"):
                    self.pool_probs[task.name, seed] = self.pool_answers(task, models, seed)
                if need("mtes"):
                    for method in FUTE_METHODS:
                        self.task_mtes[task.name, method, seed] = self.mtes(
                            task, models, method, seed
                        )
                if need("clipped-mtes") and "clip" in args.variants:
                    for method in FUTE_METHODS:
                        self.clipped_mtes[task.name, method, seed] = self.mtes(
                            task, models, method, seed, "clip"
                        )
        # a full run needs every data set's DTEs: the others centre centred-cosine
        dte_sets = {
            d: self.sets[d] for d in (self.all_datasets if args.stage is None else self.targets)
        }
        if need("dtes"):
            for method in FUTE_METHODS:
                for seed in args.seeds:
                    self.dtes[method, seed] = self.full_dtes(dte_sets, method, seed)
        if need("anchored-dtes") and "anchor" in (*args.variants, *args.dte_k_variants):
            for method in args.anchor_methods:
                for seed in args.seeds:
                    self.anchored_dtes[method, seed] = self.full_dtes(
                        dte_sets, method, seed, "anchor"
                    )
        return self.targets

    def target_stages(self, ds: str) -> dict:
        args, need = self.args, self.need
        task = next(t for t in self.tasks if ds in t.datasets)
        models, s = self.models_of[task.name], self.sets[ds]
        made: dict = {"task": task, "models": models, "dtes_k": {}, "token_lp": []}
        if need("answers"):
            made["probs"] = self.answers(ds, models, s.data, "evaluation examples")
        if need("perplexity") and args.ppl_examples > 0:
            made["token_lp"] = self.perplexities(ds, models, s.data.inputs()[: args.ppl_examples])
        if need("few-label-answers") and args.few_label_ks:
            made["few_probs"] = self.answers(ds, models, s.few, "few-label pool")
        if need("dtes-k"):
            for method in FUTE_METHODS:
                for seed in args.seeds:
                    for variant in k_variants(args, method):
                        made["dtes_k"][method, seed, variant] = self.dtes_k(
                            ds, s, method, seed, variant
                        )
        return made

    def score(self, ds: str, made: dict) -> tuple[dict, dict]:
        """(truth entry, {row: {seed key: [score per prompt]}}) of one target; its few-label
        summary goes to `few`."""
        args, s, models = self.args, self.sets[ds], made["models"]
        task, probs = made["task"], made["probs"]
        prompt_ids = [m.prompt.id for m in models]
        gold = gold_of(s.data)
        counts = np.bincount(gold, minlength=len(s.data.label_names))
        truth = {
            "task": task.name,
            "n_eval": len(s.data),
            "n_dte": len(s.train),
            "n_few_label_pool": len(s.few),
            "splits": s.splits,
            "labels": list(s.data.label_names),
            "majority_rate": float(counts.max() / counts.sum()),
            "prompt_ids": prompt_ids,
            "prompts": {pid: truth_of(p, s.data) for pid, p in zip(prompt_ids, probs, strict=True)},
        }
        rows: dict = {
            name: {"-": v} for name, v in baseline_scores(probs, made["token_lp"]).items()
        }
        # the old benchmark's draw of `random`
        rows["random"] = random_scores(args.seeds, self.all_datasets.index(ds) + 1, len(models))
        for seed in args.seeds:
            for name, values in pool_prior_scores(self.pool_probs[task.name, seed]).items():
                rows.setdefault(name, {})[str(seed)] = values
        for method in FUTE_METHODS:
            for seed in args.seeds:
                rows_of = self.fute_scores(ds, task, method, seed, made["dtes_k"])
                for row, value in rows_of.items():
                    rows.setdefault(row, {}).update(value)
        self.few[ds], few_rows = self.few_label(ds, s, made.get("few_probs"))
        rows.update(few_rows)
        return truth, rows

    def fute_scores(self, ds: str, task: Task, method: str, seed: int, dtes_k: dict) -> dict:
        """{row: {key: [score per prompt]}} of the FUTE rows of one method and seed: full
        DTEs (plain and each variant) and DTEs from k labels."""
        args, rows = self.args, {}
        for variant in (None, *args.variants):
            if variant == "anchor" and method not in args.anchor_methods:
                continue
            mtes = self.clipped_mtes if variant == "clip" else self.task_mtes
            cands = mtes[task.name, method, seed]
            full = (self.anchored_dtes if variant == "anchor" else self.dtes)[method, seed]
            centres = centres_for(cands, [e for d, e in full.items() if d != ds])
            for similarity in SIMILARITIES[method]:
                rows.setdefault(fute_row(method, similarity, variant=variant), {})[str(seed)] = (
                    similarity_scores(similarity, full[ds], cands, centres, self.notes)
                )
        for variant in k_variants(args, method):
            cands = self.task_mtes[task.name, method, seed]
            full = (self.anchored_dtes if variant == "anchor" else self.dtes)[method, seed]
            centres = centres_for(cands, [e for d, e in full.items() if d != ds])
            for similarity in SIMILARITIES[method]:
                for (k, d), dte in dtes_k[method, seed, variant].items():
                    rows.setdefault(fute_row(method, similarity, k, variant), {})[f"{seed}/{d}"] = (
                        similarity_scores(similarity, dte, cands, centres, self.notes)
                    )
        return rows

    def few_label(self, ds: str, s: Sets, few_probs) -> tuple[dict, dict]:
        """(summary per k, {few-label-K: {draw: [accuracy per prompt]}}) of one data set."""
        few_gold, summary, rows = gold_of(s.few), {}, {}
        for k in self.args.few_label_ks:
            if k > len(s.few):
                self.notes.append(
                    f"{ds}: few-label-{k} skipped: only {len(s.few)} labelled examples"
                )
                continue
            draws = few_label_scores(
                few_probs, few_gold, k, self.args.few_label_draws, draw_seed(ds, k)
            )
            rows[f"few-label-{k}"] = draws
            acc = np.array(list(draws.values()))
            summary[str(k)] = {
                "mean": acc.mean(axis=0).tolist(),
                "std": acc.std(axis=0).tolist(),
                "draws": len(acc),
                "seed": draw_seed(ds, k),
            }
        return summary, rows

    def assemble(self) -> dict:
        args = self.args
        settings = {
            "datasets": self.targets,
            "llm": f"SmolLM2-135M-Instruct via {args.backend}"
            + (f" ({args.dtype})" if args.backend == "transformers" else ""),
            "max_words": args.max_words,
            "n_prompts": self.n_prompts,
            "seeds": args.seeds,
            "max_examples": args.max_examples,
            "ppl_examples": args.ppl_examples,
            "dte_examples": args.dte_examples,
            "space_hparams": self.space_hparams(),
            "mte_pool_excludes": "every data set of the task in this benchmark",
            "few_label_pool": args.few_label_pool,
            "few_label_ks": args.few_label_ks,
            "few_label_draws": args.few_label_draws,
            "dte_ks": args.dte_ks,
            "dte_k_draws": args.dte_k_draws,
            "similarities": SIMILARITIES,
            "variants": list(args.variants),
            "fusion": "reciprocal rank",
            "rrf_k": RRF_K,
            "fusion_priors": list(FUSION_PRIORS),
            "centres": "prompted-lm: the task's prompt MTEs; dataset: the full DTEs of the other "
            "data sets of the benchmark in the same space",
            "reserved_targets": list(reserved_sets()),
            "quick": args.quick,
            "run": "development" if args.dev else "full",
            "all_datasets": self.all_datasets,
            "anchor_methods": list(args.anchor_methods),
            "dte_k_variants": list(args.dte_k_variants),
            "part": args.part,
        }
        prereg = self.preregistered
        scores = with_fused(self.scores)
        return {
            "benchmark": "prompt-selection",
            "default": prereg.get("default"),
            "preregistered": prereg,
            "default_rows": default_rows(prereg.get("default")),
            "environment": self.env,
            "settings": settings,
            "complete": set(self.truth) == set(self.targets),
            "datasets_done": list(self.truth),
            "truth": self.truth,
            "scores": scores,
            "few_label": self.few,
            "metrics": evaluate(scores, self.truth),
            **costs_of(scores, self.truth, settings),
            "notes": list(self.notes),
            "stages_seconds": self.stages.seconds,
        }

    def stored_part(self, result: dict) -> dict:
        return without_fused(result)

    def completed(self, result: dict) -> dict:
        if "metrics" not in result:  # a part: its fused rows and metrics are derived
            result["scores"] = with_fused(result["scores"])
            result["metrics"] = evaluate(result["scores"], result["truth"])
            result.update(costs_of(result["scores"], result["truth"], result["settings"]))
        result.setdefault("labels", {m: cost_labels(m) for m in result["cost"]})
        return result


if __name__ == "__main__":
    raise SystemExit(PromptSelection().main())
