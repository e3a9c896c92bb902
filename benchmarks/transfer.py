"""Benchmark 2: does task-embedding similarity pick the source task that helps a target most?

The truth (intermediate-task transfer, as in Vu et al. 2020): for a target data set with
little labelled data, fine-tune the MiniLM surrogate on a source data set, then on the
target's limited training set, and measure accuracy on the target's dev split; the *gain*
of the source is that accuracy minus the accuracy of fine-tuning on the target alone
(same seed, same head initialisation, same data order), averaged over 3 seeds. Each
target's truth noise (spread of the sources' mean gains against their seed std) is shown
with the truth.

The data sets (issue 25 point 7: at least 12 sources and 8 targets, none reserved; all text
classification sets of the catalogue rebuilt from what the registries serve today):

* **13 sources**, chosen for diverse domains so that most targets have a related source and
  several unrelated ones: sentiment (``sentiment-imdb``, ``sentiment-amazon``, the Dutch
  ``sentiment-bolcom-nl``), topic (``topic-bbc``), spam (``spam-assassin``), humour
  (``humour-seinfeld``), genre (``genre-brown``), language identification
  (``langid-chatterbot``) and five sentence-pair sets (``pair-boolq``, ``pair-syllogisms``,
  ``pair-mc-commonsenseqa``, ``pair-mc-mmlu``, ``pair-pubmedqa``).
* **8 targets**, each with at least 200 train examples (the limited training set) and a
  dev split (the truth; n in the truth table): ``sentiment-yelp`` and
  ``sentiment-rotten-tomatoes`` (related: the sentiment sources), the French
  ``sentiment-amazon-fr`` (related across languages: sentiment-amazon, the Dutch
  sentiment-bolcom-nl), ``speaker-seinfeld`` (the same scripts as humour-seinfeld),
  ``langid-pattern`` (langid-chatterbot), and three pair sets: ``pair-factual-summary``
  (summary consistency), ``pair-mc-openbookqa`` and ``pair-mc-medqa`` (answer
  verification, like commonsenseqa / mmlu / pubmedqa).
* The sets reserved for the outside check (`fute.data.catalog.reserved_names`:
  ``sentiment-finefood``, ``sentiment-pang-lee``, ``sentiment-pang-lee-reviews``,
  ``pair-privacy-policy``, ``pair-consumer-contracts``, ``hedge-conll2010``,
  ``party-debates2016``) are refused as targets and as sources (one-line error).

The rows (issue 12 points 1-4), each ranking the sources for each target:

* **FUTE** with the target's DTE from its limited training set: ``dte-<method>`` and
  ``mte-<method>`` (cosine, the old rows: the sources' DTEs, and the MTEs of the classifier
  fine-tuned on each source, seed 0, computed on the pool with every target excluded), and
  ``dte-<method>:<similarity>`` / ``mte-<method>:<similarity>`` for every other
  similarity that applies (`fute.ranking.similarity.scores`): ``centred-cosine`` (centres: the unit
  mean of the sources' DTEs for data sets, of the sources' MTEs for models; never the
  target), ``task2vec`` (fisher), ``rrf-components``, ``maxsim`` (prefix) and
  ``behaviour`` (the fine-tuned surrogate's answers on the pool, kept with each DTE; a
  source whose label names or pool items the target does not share is left out and
  ranked last, tied, and the notes say so).
* ``mean-embedding`` (mean sentence embedding of the inputs, no labels): the baseline to
  beat; ``random``: one draw per fine-tuning seed.
* **k labels** (k = 16, 64; draws of k distinct examples of the target's training set,
  seeded by the target's name and k): ``logme-K``, LogME (You et al. 2021, used by Poth et
  al. 2021; `fute.evaluation.label_baselines.logme`) of each source-fine-tuned encoder's
  features (the pooler output its classifier head reads) on the k examples, cost k forward
  passes per source (with k below the feature dimension, LogME's fixed point is stopped
  after 11 updates, see `logme_scores`); ``dte-<method>-kK...`` / ``mte-<method>-kK...``: FUTE with the
  target's DTE made from the *same* k examples; ``mean-embedding-kK``: the same for the
  baseline. A draw is one user: the rankings are scored per (seed, draw) and summarised
  over them.

Metrics per target and averaged: NDCG (gains min-max scaled), Vu et al.'s rho and regret@3
(accuracy lost, as a fraction), Spearman. No setting is tuned on the targets: the
fine-tuning recipe is fixed up front and written into the result. The pre-registered
default (issue 12 point 6) is read from benchmarks/preregistered.json, written to the
results under the top-level key ``default`` and its rows are starred; the targets section
(issue 12 point 7) says where each row stands against "NDCG better than mean-embedding by
more than one seed std, and rho <= 2".

Every expensive artefact is cached under ``$FUTE_CACHE/bench/`` keyed by what makes it, so
a killed run resumes; ``--stage`` makes one kind of artefact only (nothing written to the
results), ``--only`` restricts the targets; a full run writes the results after each
target, and ``--render`` rebuilds the markdown from the JSON (the run skeleton:
`benchmarks.harness.selection`).

    python -m benchmarks.transfer           # full run (make bench-transfer)
    python -m benchmarks.transfer --quick   # tiny caps, pipeline check
    python -m benchmarks.transfer --dev     # the run the default is chosen on
    python -m benchmarks.transfer --stage sources truth --only sentiment-yelp
    python -m benchmarks.transfer --render  # re-write the table from the JSON
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

import numpy as np

from benchmarks.harness.cache import bench_cache, cache_key, cached_array, cached_json
from benchmarks.harness.embeddings import FUTE_METHODS, SIMILARITIES, cached_mte, kind_centres
from benchmarks.harness.parts import check_parts, merged_notes_and_stages, part_provenance
from benchmarks.harness.scores import (
    complete_scores,
    draw_indices,
    evaluate_rows,
    mean_std,
    name_seed,
    random_scores,
    similarity_scores,
)
from benchmarks.harness.selection import (
    SelectionBenchmark,
    check_reserved,
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

SOURCES = (
    "sentiment-imdb",
    "sentiment-amazon",
    "sentiment-bolcom-nl",
    "topic-bbc",
    "spam-assassin",
    "humour-seinfeld",
    "genre-brown",
    "langid-chatterbot",
    "pair-boolq",
    "pair-syllogisms",
    "pair-mc-commonsenseqa",
    "pair-mc-mmlu",
    "pair-pubmedqa",
)
TARGETS = (
    "sentiment-yelp",
    "sentiment-rotten-tomatoes",
    "sentiment-amazon-fr",
    "speaker-seinfeld",
    "langid-pattern",
    "pair-factual-summary",
    "pair-mc-openbookqa",
    "pair-mc-medqa",
)
METRICS = ("ndcg", "rho", "regret@3", "spearman")
CANDIDATES = ("dte", "mte")  # the sources' DTEs, or the MTEs of their fine-tuned classifiers
#: methods with pool-anchored rows ``<dte|mte>-<method>+anchor[:sim]`` (issue 12 point 2):
#: the target's DTE, and for ``dte`` rows the sources' DTEs too, made in a pool-anchored
#: space (`Space(pool_anchor=True)`), the space of the pre-registered default; fisher only,
#: as prefix+anchor lost to plain prefix in the prompt development run
ANCHORED = ("fisher",)
#: every DTE a run makes per space seed: (key in the DTE dicts, method, pool-anchored)
DTE_SPACES = (
    *((m, m, False) for m in (*FUTE_METHODS, "mean-embedding")),
    *((f"{m}+anchor", m, True) for m in ANCHORED),
)
KS = (16, 64)
STAGES = ("sources", "truth", "dtes", "mtes", "dtes-k", "features")
#: what a full run with ``--rows`` makes: everything, or one of the two halves a run can be
#: cut into (archive/FINAL_RUNS.md): the truth with the rows that need every fine-tuning seed's
#: source models (random, LogME), or the embedding rows of some space seeds (FUTE and
#: mean-embedding; their MTEs need only the first fine-tuning seed's source models)
ROWS = {
    "all": STAGES,
    "truth": ("sources", "truth", "features"),
    "embeddings": ("sources", "dtes", "mtes", "dtes-k"),
}
TARGET_RHO = 2.0  # issue 12 point 7: rho <= 2
LOGME_MAX_ITER = 11  # MacKay updates per LogME column (see `logme_scores`)
#: settings that differ between the parts of one run
PART_KEYS = ("rows", "part", "space_seeds")

G_FULL = "target train split"
G_FREE = "no labels"
G_K = "k labels"


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


# ------------------------------------------------------------------------------ row names


def fute_row(
    candidates: str,
    method: str,
    similarity: str = "cosine",
    k: int | None = None,
    anchor: bool = False,
):
    """``dte-fisher`` (cosine, DTE from the target's train split: the old row),
    ``mte-prefix:maxsim``, ``dte-fisher-k16`` (DTE from 16 labelled examples),
    ``mte-fisher-k64:task2vec``, ``dte-fisher+anchor`` (pool-anchored DTEs)."""
    base = f"{candidates}-{method}" + (f"-k{k}" if k is not None else "")
    if anchor:
        base += "+anchor"
    return base if similarity == "cosine" else f"{base}:{similarity}"


def parse_row(name: str) -> dict:
    """What a row name says: {"kind", "candidates", "method", "similarity", "k"}."""
    m = re.fullmatch(r"(dte|mte)-(fisher|prefix)(?:-k(\d+))?(\+anchor)?(?::(.+))?", name)
    if m:
        return {
            "kind": "fute",
            "candidates": m[1],
            "method": m[2],
            "similarity": m[5] or "cosine",
            "k": int(m[3]) if m[3] else None,
            "anchor": bool(m[4]),
        }
    m = re.fullmatch(r"mean-embedding(?:-k(\d+))?", name)
    if m:
        return {"kind": "mean-embedding", "k": int(m[1]) if m[1] else None}
    m = re.fullmatch(r"logme-(\d+)", name)
    if m:
        return {"kind": "logme", "k": int(m[1])}
    return {"kind": name, "k": None}


def row_order(ks=KS) -> list[str]:
    """Every row name in table order: FUTE (old cosine rows first within each block), the
    baselines, then per k: LogME, mean-embedding and FUTE from the same k labels."""
    fute = [fute_row(c, m, s) for c in CANDIDATES for m in FUTE_METHODS for s in SIMILARITIES[m]]
    fute += [
        fute_row(c, m, s, anchor=True)
        for c in CANDIDATES
        for m in ANCHORED
        for s in SIMILARITIES[m]
    ]
    rows = [*fute, "mean-embedding", "random"]
    for k in ks:
        rows += [f"logme-{k}", f"mean-embedding-k{k}"]
        rows += [
            fute_row(c, m, s, k) for c in CANDIDATES for m in FUTE_METHODS for s in SIMILARITIES[m]
        ]
    return rows


def group_of(name: str) -> str:
    info = parse_row(name)
    if info.get("k") is not None:
        return G_K
    if info["kind"] == "fute":
        return G_FULL
    return G_FREE


def cost_of(name: str, n_sources: int, n_train: int, pool: str) -> dict:
    """{"passes": forward passes of the source models per new target, "labels": labelled
    examples of the target it needs}."""
    info = parse_row(name)
    k = info.get("k")
    labels = str(k) if k is not None else "0"
    if info["kind"] == "logme":
        return {"passes": f"{k} x {n_sources} = {k * n_sources}", "labels": labels}
    if info["kind"] == "fute":
        once = f"0 (once: {n_sources} x pool {pool})"
        passes = once if info["candidates"] == "mte" else "0"
        return {"passes": passes, "labels": labels if k is not None else str(n_train)}
    return {"passes": "0", "labels": labels}


# ------------------------------------------------------------------------------ pre-registration


def default_rows(default) -> tuple[list[str], str]:
    """The rows of this table a pre-registered default names, and a note. `default`: a row
    name of this table, a row name of the prompt-selection table (``fute-<method>[:sim]``,
    maybe fused with a prior), or {"similarity", "method", "prior", "fusion"}. Priors and
    fusion have no row here (they score prompts and models by their own answers, not a
    source's transfer), so the default's similarity alone is starred and the note says so."""
    if default is None:
        return [], ""
    note = ""
    if isinstance(default, str):
        name = default
        fused = re.fullmatch(r"rrf\((.+), ([^,]+)\)", name)
        if fused:
            name = fused[1]
            note = f"the prior {fused[2]} of the default has no row here: its similarity is starred"
        if parse_row(name)["kind"] == "fute" or name in row_order():
            return [name], note
        m = re.fullmatch(r"fute-(fisher|prefix)(?:\+(anchor|clip))?(?::(.+))?", name)
        if not m:
            return [], f"the default {default!r} names no row of this table"
        if m[2]:  # as the rule scores it in step 2 (preregistered.json, rule_clarified)
            note = (note + "; " if note else "") + (
                f"the default's variant +{m[2]} is scored by the pre-registered rule on the "
                "plain rows of its method and similarity: those are starred"
                + ("; the +anchor rows show the default's own space" if m[2] == "anchor" else "")
            )
        default = {"similarity": m[3] or "cosine", "method": m[1]}
    similarity = default.get("similarity") or "cosine"
    methods = [default["method"]] if default.get("method") else list(FUTE_METHODS)
    rows = [
        fute_row(c, m, similarity)
        for c in CANDIDATES
        for m in methods
        if similarity in SIMILARITIES.get(m, ())
    ]
    if default.get("prior") and not note:
        note = (
            f"the prior {default['prior']} of the default has no row here: its similarity "
            "is starred"
        )
    return rows, note


# ------------------------------------------------------------------------------ fine-tuning


def base_folder() -> str:
    from fute.engine.surrogate import default_surrogate_path

    return str(default_surrogate_path())


@cache
def base_identity() -> str:
    """The base encoder in cache keys: its package and version, not its folder's path, so a
    result carried to another machine (benchmarks.harness.carry) keeps its key."""
    from importlib.metadata import version

    from fute.engine.surrogate import DEFAULT_PACKAGE

    return f"{DEFAULT_PACKAGE}=={version(DEFAULT_PACKAGE.replace('_', '-'))}"


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
    key = cache_key("source-model", base_identity(), data.content_hash(), seed, asdict(recipe))
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
        base_identity(),
        # the folder's name (source, seed, recipe key), not its path: the same key under any
        # cache root, so an accuracy carried by benchmarks.harness.carry is found again
        source_dir.name if source_dir is not None else None,
        train.content_hash(),
        dev.content_hash(),
        seed,
        asdict(recipe),
    )
    return cached_json(
        "transfer", key, lambda: target_accuracy(source_dir, train, dev, seed, recipe)
    )


def load_encoder(source_dir: Path):
    from transformers import AutoModelForSequenceClassification

    return AutoModelForSequenceClassification.from_pretrained(source_dir).eval()


def encoder_features(model, data, recipe: Recipe) -> np.ndarray:
    """(n, hidden) features of `data` by a source-fine-tuned classifier's encoder: the
    pooler output its classifier head reads (the mean of the last hidden states where it
    has no pooler)."""
    import torch

    tokenizer = base_tokenizer()
    out = []
    with torch.inference_mode():
        for start in range(0, len(data), 64):
            part = data.subset(range(start, min(start + 64, len(data))))
            enc = encode(tokenizer, part, recipe.max_length)
            hidden = model.base_model(**enc)
            pooled = getattr(hidden, "pooler_output", None)
            if pooled is None:
                mask = enc["attention_mask"][..., None].float()
                pooled = (hidden.last_hidden_state * mask).sum(1) / mask.sum(1)
            out.append(pooled.double().numpy())
    return np.concatenate(out)


def cached_features(source_dir: Path, datasets: dict, recipe: Recipe) -> dict:
    """{name: features of that data set} by one source model, loaded once (and only when
    some data set's features are not cached yet)."""
    loaded: list = []

    def compute(data):
        if not loaded:
            loaded.append(load_encoder(source_dir))
        return encoder_features(loaded[0], data, recipe)

    out = {}
    for name, data in datasets.items():
        key = cache_key(
            "encoder-features", source_dir.name, data.content_hash(), recipe.max_length, "pooler"
        )
        out[name] = cached_array("transfer-features", key, lambda data=data: compute(data))
    return out


# ------------------------------------------------------------------------------ k labels


def draw_seed(target: str, k: int) -> int:
    """The seed of a target's draws of k labelled examples: fixed by the names, not the run."""
    return name_seed("transfer-k-draws", target, k)


def k_draws(target: str, n: int, ks, draws: int) -> dict:
    """{k: (draws, k) indices into the target's training set}: the examples LogME and the
    DTEs from k labels both spend."""
    if draws <= 0:
        return {}
    return {k: draw_indices(n, k, draws, draw_seed(target, k)) for k in ks if k <= n}


def logme_scores(features: dict, gold: np.ndarray, rows: np.ndarray) -> tuple[list[float], int]:
    """LogME of each source's features (`features`: {source: (n, D)}) on the examples
    `rows` with labels `gold[rows]`, in the order of `features`; and how many were not
    finite (those are placed last, tied, as a similarity's left-out candidates).

    With k examples fewer than the feature dimension and features that nearly separate
    the labels, `logme`'s fixed point runs off (noise precision to infinity, a non-finite
    evidence); it is stopped after `LOGME_MAX_ITER` updates, where the scores are still
    finite (see the benchmark's notes for any that are not)."""
    from fute.core.errors import DataError
    from fute.evaluation.label_baselines import logme

    values = []
    for f in features.values():
        try:
            with np.errstate(all="ignore"):
                values.append(float(logme(f[rows], gold[rows], max_iter=LOGME_MAX_ITER)))
        except DataError:  # a draw of a single class: nothing to separate, no score
            values.append(float("nan"))
    kept = [i for i, v in enumerate(values) if np.isfinite(v)]
    out, missing = complete_scores(len(values), kept, [values[i] for i in kept])
    return out, missing


def centres_for(source_dtes, source_mtes=()) -> dict:
    """The fixed references of centred-cosine: the unit mean of the sources' DTEs (every
    candidate data set; never the target's own) and of the source models' MTEs."""
    return kind_centres((("dataset", source_dtes), ("model", source_mtes)))


# ------------------------------------------------------------------------------ scoring


def evaluate(scores: dict, gains: dict) -> dict:
    """{row: {"per_target": {t: {metric: stat}}, "average": {metric: stat}}}.

    A row has one score list per key (space seed, fine-tuning seed for random, "seed/draw"
    for the rows from k labels); the average over targets is taken per key, then summarised
    over the keys (mean ± std)."""
    return evaluate_rows(scores, gains, METRICS, "per_target")


def scored(scores: dict, truth: dict, settings: dict) -> dict:
    """{"metrics", "cost"} of the rows against the truth (targets without truth: none)."""
    sources = settings["sources"]
    gains = {t: [truth[t]["gains"][s]["mean"] for s in sources] for t in truth}
    n_train, pool = settings["target_examples"], str(settings["pool_size"])
    return {
        "metrics": evaluate(scores, gains) if gains else {},
        "cost": {m: cost_of(m, len(sources), n_train, pool) for m in scores},
    }


def target_check(ev: dict, row: str, baseline: str = "mean-embedding") -> dict:
    """Issue 12 point 7 for one row: NDCG above the baseline's by more than one seed std
    (the larger of the two rows' std over keys), and mean rho <= 2; with by how much each
    is met (>= 0) or missed (< 0)."""
    a, b = ev[row]["average"], ev[baseline]["average"]
    if a["ndcg"]["mean"] is None or b["ndcg"]["mean"] is None:
        return {"ndcg_ok": False, "ndcg_margin": None, "rho_ok": False, "rho_margin": None}
    std = max(a["ndcg"].get("std") or 0.0, b["ndcg"].get("std") or 0.0)
    ndcg_margin = a["ndcg"]["mean"] - (b["ndcg"]["mean"] + std)
    rho = a["rho"]["mean"]
    rho_margin = None if rho is None else TARGET_RHO - rho
    return {
        "ndcg": a["ndcg"]["mean"],
        "baseline_ndcg": b["ndcg"]["mean"],
        "std": std,
        "ndcg_margin": ndcg_margin,
        "ndcg_ok": ndcg_margin > 0,
        "rho": rho,
        "rho_margin": rho_margin,
        "rho_ok": rho_margin is not None and rho_margin >= 0,
    }


def baseline_for(row: str) -> str:
    """The mean-embedding row spending the same labels (k rows: the one from k examples)."""
    k = parse_row(row).get("k")
    return "mean-embedding" if k is None else f"mean-embedding-k{k}"


def target_line(ev: dict, row: str) -> str:
    base = baseline_for(row)
    if base not in ev:
        base = "mean-embedding"
    c = target_check(ev, row, base)
    if c["ndcg_margin"] is None:
        return f"{row}: -"
    ndcg = f"NDCG {c['ndcg']:.3f} vs {base} {c['baseline_ndcg']:.3f} + std {c['std']:.3f}: " + (
        f"met by {c['ndcg_margin']:.3f}" if c["ndcg_ok"] else f"missed by {-c['ndcg_margin']:.3f}"
    )
    rho = (
        "rho -"
        if c["rho"] is None
        else f"rho {c['rho']:.2f}: "
        + (f"met by {c['rho_margin']:.2f}" if c["rho_ok"] else f"missed by {-c['rho_margin']:.2f}")
    )
    return f"{row}: {ndcg}; {rho}"


# ------------------------------------------------------------------------------ report


def ordered(names, settings: dict) -> list[str]:
    """`names` in table order (rows this version does not know go last, sorted)."""
    return in_order(names, row_order(settings.get("ks", KS)))


def table(ev: dict, rows: list[str], result: dict, defaults) -> str:
    costs = {
        "source-model passes per new target": lambda m: (
            result.get("cost", {}).get(m, {}).get("passes", "?")
        ),
        "target labels": lambda m: result.get("cost", {}).get(m, {}).get("labels", "?"),
    }
    return metric_table(ev, rows, METRICS, defaults, group_of, costs)


def targets_section(ev: dict, defaults: list[str], settings: dict) -> list[str]:
    """Issue 12 point 7: NDCG above mean-embedding by more than one seed std, and rho <= 2,
    for the pre-registered default's rows, then for every row (orientation)."""
    lines = [
        "## Targets of issue 12 (point 7)",
        "",
        "NDCG better than mean-embedding's by more than one std (the larger of the two rows' "
        "std over seeds / draws in the table above; rows from k labels against "
        "mean-embedding from the same k examples), and mean rho <= 2. Margins: positive = "
        "met by, negative = missed by.",
        "",
    ]
    shown = [d for d in defaults if d in ev]
    if shown:
        lines += ["Pre-registered default (★):", ""] + [f"- {target_line(ev, r)}" for r in shown]
    else:
        lines.append(
            "No default is pre-registered yet (benchmarks/preregistered.json): the rows below "
            "are for orientation only, not a test of any target."
        )
    rest = [
        m
        for m in ordered(ev, settings)
        if m not in shown and parse_row(m)["kind"] in ("fute", "logme")
    ]
    rows = []
    for m in rest:
        base = baseline_for(m) if baseline_for(m) in ev else "mean-embedding"
        c = target_check(ev, m, base)
        if c["ndcg_margin"] is None:
            continue
        rows.append(
            [
                starred(m, defaults),
                base,
                f"{c['ndcg_margin']:+.3f}",
                "yes" if c["ndcg_ok"] else "no",
                f"{c['rho_margin']:+.2f}" if c["rho_margin"] is not None else "-",
                "yes" if c["rho_ok"] else "no",
            ]
        )
    if rows:
        lines += [
            "",
            markdown_table(
                ["row", "against", "NDCG margin", "NDCG met", "rho margin (2 - rho)", "rho met"],
                rows,
            ),
        ]
    return lines + [""]


def verdict(ev: dict, methods: list[str]) -> list[str]:
    """For the old cosine rows: do they beat mean-embedding and random on averaged NDCG."""
    out = []
    for m in (x for x in methods if x in ("dte-fisher", "dte-prefix", "mte-fisher", "mte-prefix")):
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


def markdown(result: dict, env: dict, settings: dict, stages: Stages) -> str:
    ev, truth = result["metrics"], result["truth"]
    sources = settings["sources"]
    targets = [t for t in settings["targets"] if t in truth]
    defaults = result.get("default_rows") or []
    methods = ordered(ev, settings)
    main = [m for m in methods if group_of(m) != G_K]
    lines = [
        "# Intermediate-task selection: which source helps a target most?",
        "",
        f"{len(sources)} sources, {len(settings['targets'])} targets. Truth: target dev "
        "accuracy after source -> target fine-tuning minus target-only fine-tuning, mean over "
        f"fine-tuning seeds {settings['seeds']}. Rankings: mean ± std over embedding-space "
        f"seeds {settings['space_seeds']} (random: over fine-tuning seeds; rows from k labels: "
        f"over seeds x {settings.get('k_draws', '-')} draws of k labelled target examples). "
        "Higher is better except rho (rank of the truly best source, 1 = perfect) and "
        "regret@3 (gain lost against the best source, as a fraction of accuracy: 0.05 = 5 "
        "points). Bold: best in column. ★: the pre-registered default.",
        "",
        f"Groups: *{G_FULL}*: FUTE with the target's DTE from its limited training set "
        f"({settings.get('target_examples')} labelled examples); *{G_FREE}*: mean-embedding "
        f"(inputs only) and random; *{G_K}*: LogME of each source-fine-tuned encoder, FUTE and "
        "mean-embedding, all on the same k labelled target examples (own tables below). "
        "Cost: forward passes of the source models on the new target's examples (LogME: k "
        "per source); FUTE's MTEs are made once on the pool. `+anchor`: the target's DTE "
        "is pool-anchored (the surrogate trained on it answers the space's pool and the "
        "method is trained on those answers, as for an MTE), against the sources' "
        "pool-anchored DTEs (dte) or the same MTEs (mte): the space of the pre-registered "
        "default.",
        "",
    ]
    if settings.get("run") == "development":
        lines += dev_run_note("one fine-tuning seed and one embedding seed, every row")
    if not result.get("complete", True):
        lines += partial_lines(targets, len(settings["targets"]), "targets")
    lines += default_lines(result, defaults)
    lines += [
        "## Averaged over targets",
        "",
        table(ev, main, result, defaults),
        "",
        *verdict(ev, methods),
        *flat_truth_note(truth, targets),
        "",
    ]
    for k in settings.get("ks", KS):
        same = [m for m in methods if parse_row(m).get("k") == k]
        if same:
            lines += [
                f"## The same {k} labelled target examples: LogME vs FUTE's DTE from them",
                "",
                table(ev, same, result, defaults),
                "",
            ]
    lines += targets_section(ev, defaults, settings)
    lines += [
        "## NDCG and rho per target",
        "",
        markdown_table(
            ["method", *(f"{t} NDCG / rho" for t in targets)],
            [
                [
                    starred(m, defaults),
                    *(
                        f"{fmt(ev[m]['per_target'][t]['ndcg'])} / "
                        f"{fmt(ev[m]['per_target'][t]['rho'], 1)}"
                        if t in ev[m]["per_target"]
                        else "-"
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
            + [["(dev examples)", *(str(truth[t]["n_dev"]) for t in targets)]]
            + [["(spread of mean gains / mean std)", *(noise_cell(truth[t]) for t in targets)]],
        ),
        "",
        "Where the spread of the mean gains over sources is not much larger than their "
        "seed-to-seed std, the true order of the sources is mostly noise and no method can "
        "rank them reliably there.",
        "",
    ]
    lines += closing_lines(result, env, settings, stages)
    return "\n".join(lines)


# ------------------------------------------------------------------------------ parts


def part_markdown(result: dict, env=None, settings=None, stages=None) -> str:
    """What a part's markdown says: which half, targets and space seeds it holds."""
    s = result["settings"]
    return (
        f"# Transfer benchmark, part {s['part']} ({s['rows']})\n\n"
        f"Targets done: {', '.join(result['targets_done'])}; space seeds {s['space_seeds']}. "
        "One piece of a run cut to fit working sessions (benchmarks/archive/FINAL_RUNS.md); "
        "`python -m benchmarks.transfer --merge` combines the parts into transfer.md.\n"
    )


def merge_parts(parts: dict) -> dict:
    """One result from {part name: result of a run with ``--part``}: the truth of the
    ``truth`` parts (disjoint targets), every row score of every part (no (row, target,
    key) given twice), re-scored together. The parts must share every setting but the
    space seeds and the half they make, and name the same pre-registered default."""
    base = check_parts(parts, PART_KEYS, "targets_done")
    truth: dict = {}
    scores: dict = {}
    covered: dict = {}  # space seed -> targets with embedding rows
    for name, part in parts.items():
        for t, entry in part["truth"].items():
            if t in truth:
                raise SystemExit(f"error: part {name} repeats the truth of {t}")
            truth[t] = entry
        for row, by_target in part["scores"].items():
            for t, by_key in by_target.items():
                have = scores.setdefault(row, {}).setdefault(t, {})
                twice = sorted(set(have) & set(by_key))
                if twice:
                    raise SystemExit(f"error: part {name} repeats {row} / {t} / key {twice[0]}")
                have.update(by_key)
        if part["settings"]["rows"] != "truth":
            for seed in part["settings"]["space_seeds"]:
                covered.setdefault(seed, set()).update(part["targets_done"])
    targets = [t for t in base["targets"] if t in truth]
    space_seeds = sorted(covered)
    first = next(iter(parts.values()))
    settings = {**first["settings"], "space_seeds": space_seeds, "rows": "all"}
    settings["part"] = None
    keys = ("benchmark", "default", "preregistered", "default_rows", "default_note")
    return {
        **{k: first.get(k) for k in keys},
        "environment": first["environment"],
        "settings": settings,
        "complete": set(targets) == set(base["targets"])
        and bool(covered)
        and all(set(c) == set(base["targets"]) for c in covered.values()),
        "targets_done": targets,
        "parts": {
            n: part_provenance(
                p, rows=p["settings"]["rows"], space_seeds=p["settings"]["space_seeds"]
            )
            for n, p in parts.items()
        },
        "truth": {t: truth[t] for t in targets},
        "scores": scores,
        **scored(scores, truth, settings),
        **merged_notes_and_stages(parts),
    }


# ------------------------------------------------------------------------------ the run


class Transfer(SelectionBenchmark):
    """One run: its settings, the cached artefacts it makes (each keyed by what makes it)."""

    name = "transfer"
    STAGES = STAGES
    dev_seeds = ("seeds", "space_seeds")
    targets_from = "--targets"
    stage_help = (
        "only make these cached artefacts (nothing written to the results): sources "
        "(fine-tuned source models), truth (target fine-tuning), dtes (sources' and targets' "
        "DTEs), mtes (source models' MTEs), dtes-k (targets' DTEs from k labels), features "
        "(source encoders' features for LogME); without it every stage runs and the results "
        "are written after each target"
    )
    only_help = "targets to process (of --targets; the MTE pools still exclude every target)"
    part_help = (
        "a piece of a run that takes longer than one working session (archive/FINAL_RUNS.md): "
        "results to <out>/parts/transfer.NAME.json; --merge combines the parts"
    )
    merge_help = "only combine <out>/parts/transfer.*.json into <out>/transfer.{json,md} (no run)"
    dev_help = (
        "the development run: fine-tuning seed 0 and embedding seed 0 only, every row "
        "and baseline; results to benchmarks/results/dev/"
    )
    markdown = staticmethod(markdown)
    part_markdown = staticmethod(part_markdown)
    merge_parts = staticmethod(merge_parts)

    def __init__(self) -> None:
        super().__init__()
        self._source_dirs: dict = {}

    # ------------------------------------------------------------------ flags

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        p.add_argument("--sources", nargs="+", default=list(SOURCES))
        p.add_argument("--targets", nargs="+", default=list(TARGETS))
        p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="fine-tuning seeds")
        p.add_argument(
            "--space-seeds", nargs="+", type=int, default=[0, 1, 2], help="embedding-space seeds"
        )
        p.add_argument(
            "--pool-size", type=int, default=200, help="pool inputs per source-model MTE"
        )
        p.add_argument("--ks", nargs="*", type=int, default=list(KS), help="k of the k-label rows")
        p.add_argument(
            "--k-draws",
            type=int,
            default=5,
            help="draws of k labelled target examples per k (LogME and the DTEs from k labels)",
        )
        p.add_argument(
            "--rows",
            choices=tuple(ROWS),
            default="all",
            help="with --part: make the truth and its rows (random, LogME) or the embedding "
            "rows (FUTE, mean-embedding) of --space-seeds only",
        )
        for f in Recipe.__dataclass_fields__.values():
            p.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default)

    def targets_of(self, args: argparse.Namespace) -> list[str]:
        return list(args.targets)

    def check(self, args: argparse.Namespace) -> None:
        check_reserved(args.sources, "source")
        if args.rows != "all" and args.part is None:
            raise SystemExit(
                "error: --rows truth|embeddings makes half a result: name it with --part"
            )
        overlap = set(args.sources) & set(args.targets)
        if overlap:
            raise SystemExit(f"error: {', '.join(sorted(overlap))}: both source and target")

    def caps(self, args: argparse.Namespace) -> None:
        if args.quick:
            args.sources = args.sources[:3]
            args.targets = args.targets[:1]
            args.seeds = args.seeds[:1]
            args.space_seeds = args.space_seeds[:1]
            args.pool_size = min(args.pool_size, 16)
            args.source_examples = min(args.source_examples, 32)
            args.target_examples = min(args.target_examples, 32)
            args.dev_examples = min(args.dev_examples, 32)
            args.max_length = min(args.max_length, 32)
            args.ks = [k for k in args.ks if k <= 16][:1]
            args.k_draws = min(args.k_draws, 1)
            if args.only is not None:
                args.only = [t for t in args.only if t in args.targets]
        args.ks = [k for k in args.ks if k <= args.target_examples]
        args.recipe = Recipe(**{f: getattr(args, f) for f in Recipe.__dataclass_fields__})

    def full_stages(self) -> tuple[str, ...]:
        return ROWS[self.args.rows]

    # ------------------------------------------------------------------ artefacts

    def source_dirs(self, sources: dict, seeds=None) -> dict:
        """{(source, seed): folder of the classifier fine-tuned on it}, for `seeds` (all
        fine-tuning seeds by default)."""
        for seed in self.args.seeds if seeds is None else seeds:
            if all((s, seed) in self._source_dirs for s in sources):
                continue
            with self.stages(f"fine-tune sources, seed {seed}"):
                for s, data in sources.items():
                    self._source_dirs[s, seed] = source_model_dir(s, data, seed, self.args.recipe)
        return self._source_dirs

    def source_dtes(self, sources: dict) -> dict:
        """{(method, seed): {source: DTE}} for fisher, prefix and mean-embedding, and
        {(method + "+anchor", seed): ...} for the pool-anchored ones (`ANCHORED`)."""
        out = {}
        for seed in self.args.space_seeds:
            for key, method, anchor in DTE_SPACES:
                with self.stages(f"{key} DTEs of the sources, space seed {seed}"):
                    out[key, seed] = {
                        s: self.dte(d, s, method, seed, pool_anchor=anchor)
                        for s, d in sources.items()
                    }
        return out

    def target_dtes(self, t: str, train) -> dict:
        out = {}
        with self.stages(f"{t}: DTEs"):
            for seed in self.args.space_seeds:
                for key, method, anchor in DTE_SPACES:
                    out[key, seed] = self.dte(train, t, method, seed, pool_anchor=anchor)
        return out

    def target_dtes_k(self, t: str, train, draws: dict) -> dict:
        """{(method, seed): {(k, draw): DTE of the k labelled examples of that draw}}."""
        out: dict = {}
        with self.stages(f"{t}: DTEs from k labels"):
            for seed in self.args.space_seeds:
                for method in (*FUTE_METHODS, "mean-embedding"):
                    for k, idx in draws.items():
                        for d, rows in enumerate(idx):
                            out.setdefault((method, seed), {})[k, d] = self.dte(
                                train.subset(rows.tolist()), f"{t}-k{k}-d{d}", method, seed
                            )
        return out

    def mtes(self, sources: dict, source_dirs: dict) -> dict:
        """{(method, seed): {source: MTE of its classifier (first fine-tuning seed)}}."""
        from fute.models.adapters import HFClassifier

        out = {}
        first = self.args.seeds[0]
        for seed in self.args.space_seeds:
            for method in FUTE_METHODS:
                space = self.space(method, seed)
                with self.stages(f"{method} MTEs of source classifiers, space seed {seed}"):
                    got = {}
                    for s, data in sources.items():
                        clf = HFClassifier(
                            source_dirs[s, first], arity=data.arity, max_length=self.args.max_length
                        )
                        got[s] = cached_mte(
                            space, clf, (clf.identity(),), s, "model", self.args.targets
                        )
                    out[method, seed] = got
        return out

    def truth_of(self, t: str, train, dev, sources: dict, source_dirs: dict) -> dict:
        args = self.args
        with self.stages(f"{t}: target fine-tuning ({len(args.seeds)} seeds x {len(sources) + 1})"):
            base = {}
            per_source: dict = {s: [] for s in sources}
            for seed in args.seeds:
                base[seed] = cached_target_accuracy(None, train, dev, seed, args.recipe)
                for s in sources:
                    acc = cached_target_accuracy(
                        source_dirs[s, seed], train, dev, seed, args.recipe
                    )
                    per_source[s].append(acc - base[seed])
        return {
            "n_train": len(train),
            "n_dev": len(dev),
            "target_only": mean_std(base.values()),
            "target_only_per_seed": list(base.values()),
            "gains": {s: mean_std(v) for s, v in per_source.items()},
            "gains_per_seed": per_source,
        }

    def features(self, trains: dict, sources: dict, source_dirs: dict) -> dict:
        """{target: {seed: {source: (n_train, D) encoder features}}} for LogME; each source
        model is loaded once for all targets."""
        out: dict = {t: {} for t in trains}
        with self.stages(
            f"source encoders' features ({len(self.args.seeds)} seeds x {len(sources)} sources "
            f"x {len(trains)} targets)"
        ):
            for seed in self.args.seeds:
                for s in sources:
                    got = cached_features(source_dirs[s, seed], trains, self.args.recipe)
                    for t, f in got.items():
                        out[t].setdefault(seed, {})[s] = f
        return out

    # ------------------------------------------------------------------ the run

    def prepare(self) -> list[str]:
        from fute.data.catalog import load_dataset

        args, need, recipe = self.args, self.need, self.args.recipe
        self.targets = [t for t in args.targets if args.only is None or t in args.only]
        with self.stages("load data"):
            self.sources = {
                s: load_dataset(s, split="train").sample(recipe.source_examples, seed=0).validate()
                for s in args.sources
            }
            self.trains = {
                t: load_dataset(t, split="train").sample(recipe.target_examples, seed=0).validate()
                for t in self.targets
            }
            self.devs = {
                t: load_dataset(t, split="dev").sample(recipe.dev_examples, seed=0).validate()
                for t in self.targets
            }
        self.source_dir_of: dict = {}
        if any(need(s) for s in ("sources", "truth", "mtes", "features")):
            # the embedding half needs only the MTEs' classifiers (the first fine-tuning seed)
            first_only = args.rows == "embeddings"
            self.source_dir_of = self.source_dirs(
                self.sources, args.seeds[:1] if first_only else None
            )
        self.dtes = self.source_dtes(self.sources) if need("dtes") else {}
        self.source_mtes = self.mtes(self.sources, self.source_dir_of) if need("mtes") else {}
        # LogME reads the features only in the rows from k labels (none in a --dev run)
        self.target_features = (
            self.features(self.trains, self.sources, self.source_dir_of)
            if need("features") and args.ks
            else {}
        )
        return self.targets

    def target_stages(self, t: str) -> dict:
        args, need = self.args, self.need
        train, dev = self.trains[t], self.devs[t]
        made: dict = {"draws": k_draws(t, len(train), args.ks, args.k_draws), "dtes_k": {}}
        if need("truth"):
            made["truth"] = self.truth_of(t, train, dev, self.sources, self.source_dir_of)
        if need("dtes"):
            made["dtes"] = self.target_dtes(t, train)
        if need("dtes-k"):
            made["dtes_k"] = self.target_dtes_k(t, train, made["draws"])
        made["features"] = self.target_features.get(t, {})
        return made

    def score(self, t: str, made: dict) -> tuple[dict | None, dict]:
        """(truth, {row: {key: [score per source]}}) of one target, of the half `--rows`
        names (the embedding half has no truth)."""
        args = self.args
        rows = self.fute_scores(made) if args.rows != "truth" else {}
        if args.rows == "embeddings":
            return made.get("truth"), rows
        # the old benchmark's draw of `random`
        rows["random"] = random_scores(args.seeds, args.targets.index(t), len(self.sources))
        train = self.trains[t]
        gold = np.array([train.label_names.index(y) for y in train.labels])
        for k, idx in made["draws"].items():
            for seed in args.seeds:
                for d, sel in enumerate(idx):
                    values, bad = logme_scores(made["features"][seed], gold, sel)
                    rows.setdefault(f"logme-{k}", {})[f"{seed}/{d}"] = values
                    if bad:
                        self.notes.append(
                            f"{t} / logme-{k}, seed {seed}, draw {d}: {bad} source(s) with a "
                            "non-finite LogME placed last"
                        )
        return made.get("truth"), rows

    def fute_scores(self, made: dict) -> dict:
        """{row: {key: [score per source]}} of the FUTE and mean-embedding rows of one target;
        keys: the space seed, or "seed/draw" for the rows from k labels."""
        rows: dict = {}
        for seed in self.args.space_seeds:
            for key, method, anchor in DTE_SPACES:
                if method not in FUTE_METHODS:
                    continue
                # an anchored target is compared with anchored DTEs and with the same MTEs
                dtes = [self.dtes[key, seed][s] for s in self.sources]
                mtes = [self.source_mtes[method, seed][s] for s in self.sources]
                centres = centres_for(dtes, mtes)
                target = made["dtes"][key, seed]
                k_targets = made["dtes_k"].get((key, seed), {})  # none for anchored keys
                for cands_kind, cands in (("dte", dtes), ("mte", mtes)):
                    for similarity in SIMILARITIES[method]:
                        name = fute_row(cands_kind, method, similarity, anchor=anchor)
                        rows.setdefault(name, {})[str(seed)] = similarity_scores(
                            similarity, target, cands, centres, self.notes
                        )
                        for (k, d), dte in k_targets.items():
                            name = fute_row(cands_kind, method, similarity, k)
                            rows.setdefault(name, {})[f"{seed}/{d}"] = similarity_scores(
                                similarity, dte, cands, centres, self.notes
                            )
            dtes = [self.dtes["mean-embedding", seed][s] for s in self.sources]
            rows.setdefault("mean-embedding", {})[str(seed)] = similarity_scores(
                "cosine", made["dtes"]["mean-embedding", seed], dtes
            )
            for (k, d), dte in made["dtes_k"].get(("mean-embedding", seed), {}).items():
                rows.setdefault(f"mean-embedding-k{k}", {})[f"{seed}/{d}"] = similarity_scores(
                    "cosine", dte, dtes
                )
        return rows

    def assemble(self) -> dict:
        args, recipe = self.args, self.args.recipe
        settings = {
            "sources": list(self.sources),
            "targets": list(args.targets),
            "seeds": args.seeds,
            "space_seeds": args.space_seeds,
            "pool_size": args.pool_size,
            "mte_classifier_seed": args.seeds[0],
            "mte_pool_excludes": "every target",
            **asdict(recipe),
            "target_dte": "the same limited target training set",
            "ks": args.ks,
            "k_draws": args.k_draws,
            "k_examples": "draws of k distinct examples of the target's limited training set",
            "logme_features": "pooler output of each source-fine-tuned encoder (the head's input)",
            "similarities": SIMILARITIES,
            "centres": "dataset: unit mean of the sources' DTEs; model: of the sources' MTEs",
            "reserved_targets": list(reserved_sets()),
            "quick": args.quick,
            "run": "development" if args.dev else "full",
            "rows": args.rows,
            "part": args.part,
        }
        prereg = self.preregistered
        rows, note = default_rows(prereg.get("default"))
        return {
            "benchmark": "transfer",
            "default": prereg.get("default"),
            "preregistered": prereg,
            "default_rows": rows,
            "default_note": note,
            "environment": self.env,
            "settings": settings,
            "complete": set(self.done) == set(self.targets),  # the targets of --only
            "targets_done": list(self.done),
            "truth": self.truth,
            "scores": self.scores,
            **scored(self.scores, self.truth, settings),
            "notes": list(dict.fromkeys(self.notes)),
            "stages_seconds": self.stages.seconds,
        }

    def completed(self, result: dict) -> dict:
        settings = result["settings"]
        if "cost" not in result:  # a result of the benchmark before issue 12
            n_train = settings.get("target_examples", 0)
            result["cost"] = {
                m: cost_of(m, len(settings["sources"]), n_train, str(settings.get("pool_size")))
                for m in result["metrics"]
            }
        return result


if __name__ == "__main__":
    raise SystemExit(Transfer().main())
