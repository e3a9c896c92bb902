"""`fute demo` (`make demo`): the whole product in one command, on the embedded defaults.

It builds one pool-anchored fisher space over the bundled MiniLM surrogate (the space
the selection benchmarks' pre-registered default ranks in: `fute.ranking.recommend.DEFAULT`) holding

* the DTEs of eight catalogue data sets (sentiment, NLI, topic, spam),
* the MTEs of three sentiment models of different kinds: VADER (rules), a TF-IDF logistic
  regression and a fine-tuned MiniLM classifier (both trained here, on a sentiment set that
  is not the target),
* the MTE of SmolLM2-135M-Instruct with each shipped sentiment prompt,

then prints which prompts and models the space ranks highest for one sentiment data set,
and writes the HTML report.

Everything lands in the default store under the cache, so afterwards `fute rank`,
`fute store list` and `fute report` work on it. Work already done is skipped: prepared
data, trained models, the models' answers (`fute.models.answers`) and stored embeddings,
so a second run only re-reads the store, ranks and redraws.

The budget (`DemoPlan`): `make demo` must finish in at most 5 minutes on a 2-core CPU
from a fresh clone, install and data fetch included, so its space is smaller than a
research run's: at most 128 training examples and 4 optimiser steps per embedding, the
Fisher over 16 examples, 24 pool inputs per model (the paper uses ~1000), and every model
answers only the first 48 words of a pool input (`FirstWords`; the surrogate reads 64
tokens, about that many words). SmolLM2 scoring was the dominant cost: 15 prompts x 64
whole pool inputs (4,638 prompt tokens per prompt) took 229-478 s; 32 inputs cut to 48
words are 1,649 tokens per prompt. The embeddings are real but noisier than
`benchmarks/` ones; raise the caps with `DemoPlan(...)` (or `python -m fute.cli.demo
--pool-size N --max-words 0`) for a slower, steadier picture.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stderr
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from fute.core.errors import FuteError
from fute.core.kinds import Kind
from fute.core.paths import cache_subdir
from fute.core.progress import progress_bar

DEMO_DATASETS = (
    "sentiment-imdb",
    "sentiment-yelp",
    "sentiment-amazon",
    "sentiment-rotten-tomatoes",
    "pair-boolq",
    "genre-brown",
    "topic-bbc",
    "spam-assassin",
)

DEMO_HPARAMS = {  # per embedding: ~5 s of training + Fisher on an idle 2-core CPU
    "max_examples": 128,
    "max_steps": 4,
    "eval_every": 2,
    "fisher_examples": 16,
    "fisher_batch_size": 32,
    "max_length": 64,
}


class FirstWords:
    """`model` answering only the first `max_words` words of each input (and of each pair text).

    The surrogate reads the first `max_length` tokens of a pool input (64: about 45 English
    words), while pool texts run to 1000 characters; a model that reads all of it answers
    about text the surrogate never sees, and an LLM pays for every token. The cut is part of
    the identity, so the cached answers of the whole texts are not mixed up with these.
    """

    def __init__(self, model, max_words: int) -> None:
        if int(max_words) < 1:
            raise FuteError(f"max_words must be at least 1, got {max_words}")
        self.model = model
        self.max_words = int(max_words)
        self.labels = tuple(model.labels)
        self.arity = int(model.arity)
        self.prompt = getattr(model, "prompt", None)
        self.batch_size = getattr(model, "batch_size", None)

    @property
    def name(self) -> str:
        from fute.models.protocol import model_name

        return model_name(self.model)

    def identity(self) -> str:
        from fute.models.protocol import model_identity

        return f"{model_identity(self.model)}|first {self.max_words} words"

    def cut(self, text: str) -> str:
        words = text.split()
        return " ".join(words[: self.max_words]) if len(words) > self.max_words else text

    def predict_proba(self, inputs):
        cut = [
            (self.cut(x[0]), self.cut(x[1])) if isinstance(x, tuple) else self.cut(x)
            for x in inputs
        ]
        return self.model.predict_proba(cut)


@dataclass(frozen=True)
class DemoPlan:
    """What the demo computes; the defaults fit the 5-minute budget (see the module doc)."""

    datasets: tuple[str, ...] = DEMO_DATASETS
    target: str = "sentiment-imdb"
    method: str = "fisher"
    pool_anchor: bool = True  # the space of the pre-registered default (fute.recommend)
    seed: int = 0
    pool_size: int = 24
    max_words: int | None = 48  # models answer the first N words of a pool input (None: all)
    hparams: dict = field(default_factory=lambda: dict(DEMO_HPARAMS))
    classifier_data: str = "sentiment-rotten-tomatoes"
    classifier_examples: int = 256
    prompt_task: str = "sentiment"
    top: int = 5

    def check(self) -> None:
        if self.target not in self.datasets:
            raise FuteError(
                f"demo target {self.target!r} must be one of its data sets {list(self.datasets)}"
            )
        if self.classifier_data == self.target:
            raise FuteError("train the demo classifiers on another data set than the target")
        if self.max_words is not None and self.max_words < 1:
            raise FuteError(f"max_words must be at least 1 or None, got {self.max_words}")


@dataclass
class _Run:
    """Bookkeeping of one demo run: the overall bar, per-phase times, what was skipped."""

    progress: Progress
    task: int
    console: Console
    times: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    done: dict[str, int] = field(default_factory=dict)
    _phase: str = ""

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        self._phase = name
        start = time.perf_counter()
        yield
        seconds = time.perf_counter() - start
        self.times[name] = round(seconds, 2)
        done, skipped = self.done.get(name, 0), self.skipped.get(name, 0)
        note = f"{done} computed, {skipped} already there" if done or skipped else ""
        self.console.print(f"[green]✓[/green] {name:<26} {seconds:7.1f} s  [dim]{note}[/dim]")

    def step(self, label: str, already_done: bool, work: Callable[[], object]) -> object:
        """One unit of the overall bar: skipped when its result exists, else run."""
        self.progress.update(self.task, description=f"{self._phase}: {label}")
        result = None
        if already_done:
            self.skipped[self._phase] = self.skipped.get(self._phase, 0) + 1
        else:
            result = work()
            self.done[self._phase] = self.done.get(self._phase, 0) + 1
        self.progress.advance(self.task)
        return result


def _prompts(task: str) -> list:
    from fute.models.prompts import load_prompts

    prompts = load_prompts(task)
    if not prompts:
        raise FuteError(f"no shipped prompts for task {task!r}")
    return prompts


def _train_models(run: _Run, plan: DemoPlan, folder: Path) -> dict[str, Path]:
    """TF-IDF + logistic regression and a fine-tuned MiniLM, trained once and kept in the cache."""
    from fute.data.catalog import load_dataset
    from fute.models.train import train_minilm_classifier, train_tfidf_logreg

    data = load_dataset(plan.classifier_data, "train").sample(plan.classifier_examples, plan.seed)
    tfidf = folder / f"tfidf-logreg-{plan.classifier_data}-{plan.classifier_examples}.joblib"
    minilm = folder / f"minilm-{plan.classifier_data}-{plan.classifier_examples}"

    def tfidf_work() -> None:
        tmp = tfidf.with_name(tfidf.name + ".partial.joblib")
        train_tfidf_logreg(data, tmp, seed=plan.seed)
        os.replace(tmp, tfidf)

    def minilm_work() -> None:
        import shutil

        tmp = minilm.with_name(minilm.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        train_minilm_classifier(data, tmp, max_examples=plan.classifier_examples, seed=plan.seed)
        shutil.rmtree(minilm, ignore_errors=True)
        os.replace(tmp, minilm)  # a killed run leaves only the .partial folder behind

    run.step("TF-IDF logistic regression", tfidf.is_file(), tfidf_work)
    run.step("MiniLM classifier", (minilm / "config.json").is_file(), minilm_work)
    return {"tfidf": tfidf, "minilm": minilm}


def _same_caps(meta: dict, plan: DemoPlan) -> bool:
    """Whether a stored MTE was made with the plan's pool size and word cut (both are
    per-embedding settings, outside the space key, so the key alone cannot tell)."""
    identity = str(meta.get("model", {}).get("identity", ""))
    cut = f"|first {plan.max_words} words" if plan.max_words else ""
    same_cut = identity.endswith(cut) if cut else "|first " not in identity
    return meta.get("pool", {}).get("n") == plan.pool_size and same_cut


def _quiet_libraries() -> None:
    """One progress bar for the demo: silence the libraries' own loading bars and notices."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:  # pragma: no cover - transformers is a dependency
        pass


def _ranking_table(title: str, rows: list) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("name")
    table.add_column("cosine", justify="right")
    for r in rows:
        table.add_row(str(r.rank), r.embedding.name, f"{r.similarity:.4f}")
    return table


def run_demo(
    store_path: str | os.PathLike | None = None,
    report_dir: str | os.PathLike | None = None,
    plan: DemoPlan | None = None,
    quiet: bool = False,
) -> dict:
    """Run the demo; return what it did (phase times, ranking, report path) as a dict.

    `quiet=True` sends the narration to stderr (for `fute demo --json`).
    """
    from fute.data.catalog import get_entry
    from fute.data.pool import prepare_pool
    from fute.data.prepare import prepare
    from fute.models import PromptedLM, SklearnModel, VaderModel, default_lm
    from fute.models.adapters import HFClassifier
    from fute.ranking import rank
    from fute.report import write_report
    from fute.space import Space
    from fute.store import Store

    plan = plan or DemoPlan()
    plan.check()
    _quiet_libraries()
    for name in {*plan.datasets, plan.classifier_data}:
        get_entry(name)  # unknown names fail now, not after minutes of work
    console = Console(stderr=quiet, highlight=False)
    store = Store(store_path)
    report_dir = Path(report_dir) if report_dir else cache_subdir("demo") / "report"
    prompts = _prompts(plan.prompt_task)
    n_units = 2 + 2 + len(plan.datasets) + 3 + len(prompts) + 1 + 1
    space = Space(
        method=plan.method,
        seed=plan.seed,
        pool_size=plan.pool_size,
        pool_anchor=plan.pool_anchor,
        progress=False,
        **plan.hparams,
    )
    console.print(
        f"[bold]fute demo[/bold]: {len(plan.datasets)} data sets, 3 models, SmolLM2 x {len(prompts)} prompts "
        f"-> store {store.path}"
    )
    started = time.perf_counter()
    bar = progress_bar(show=True, console=console)
    with bar:
        run = _Run(bar, bar.add_task("starting", total=n_units), console)

        with run.phase("prepare data"):
            names = [*plan.datasets, plan.classifier_data]
            run.step("data sets", False, lambda: prepare(names, pool=False, quiet=True))
            run.step("unlabelled pool", False, lambda: prepare_pool(quiet=True))
            key = space.key  # loads and fingerprints the surrogate
            console.print(f"  space {key}")

        with run.phase("train models"):
            trained = _train_models(run, plan, cache_subdir("demo") / "models")

        stored = {(e.kind, e.name): e.meta for e in store.load(space_key=key)}

        def store_embedding(kind: str, name: str, compute: Callable[[], object]) -> None:
            meta = stored.get((kind, name))
            done = meta is not None and (kind == "dataset" or _same_caps(meta, plan))
            run.step(name, done, lambda: store.add(compute()))

        with run.phase("dataset embeddings"):
            for name in plan.datasets:
                store_embedding("dataset", name, lambda name=name: space.dataset_embedding(name))

        exclude = (plan.target,)  # its inputs must not be among the pool inputs models answer

        def cut(model):
            return FirstWords(model, plan.max_words) if plan.max_words else model

        models = {
            "vader": VaderModel,
            f"tfidf-logreg@{plan.classifier_data}": lambda: SklearnModel(trained["tfidf"]),
            f"minilm-classifier@{plan.classifier_data}": lambda: HFClassifier(trained["minilm"]),
        }
        with run.phase("model embeddings"):
            for name, make in models.items():
                store_embedding(
                    "model",
                    name,
                    lambda n=name, m=make: space.model_embedding(
                        cut(m()), name=n, kind="model", exclude=exclude
                    ),
                )

        with run.phase("LLM + prompt embeddings"):
            backend = None
            for prompt in prompts:
                name = f"smollm2/{prompt.id}"

                def embed_prompt(prompt=prompt, name=name):
                    nonlocal backend
                    if backend is None:  # loaded only if some prompt needs it
                        with redirect_stderr(io.StringIO()):  # the GGUF conversion's tqdm bar
                            backend = default_lm()
                    model = cut(PromptedLM(backend, prompt))
                    return space.model_embedding(
                        model, name=name, kind=Kind.PROMPTED_LM, exclude=exclude
                    )

                store_embedding(Kind.PROMPTED_LM, name, embed_prompt)

        with run.phase("ranking"):
            embeddings = store.load(space_key=key)
            target = next(e for e in embeddings if e.kind == "dataset" and e.name == plan.target)
            ranked = {
                kind: rank(target, [e for e in embeddings if e.kind == kind], top=plan.top)
                for kind in (Kind.PROMPTED_LM, Kind.MODEL, Kind.DATASET)
            }
            prompt_order = rank(target, [e for e in embeddings if e.kind == Kind.PROMPTED_LM])
            if not store.centres(key):  # every write keeps them; a store an older fute made
                store.remake_centres(key)  # gets them here, as `fute store centre --reset`
            run.step("cosine similarities", False, lambda: None)

        with run.phase("report"):
            index = run.step(
                "heat-maps, map, tables",
                False,
                lambda: write_report(embeddings, report_dir, title="fute demo"),
            )

    total = time.perf_counter() - started
    console.print()
    console.print(
        _ranking_table(
            f"Prompts for SmolLM2 on {plan.target} (most similar first)", ranked[Kind.PROMPTED_LM]
        )
    )
    console.print(_ranking_table(f"Models for {plan.target}", ranked["model"]))
    console.print(_ranking_table(f"Data sets nearest to {plan.target}", ranked["dataset"]))
    from fute.cli.recommend import show_recommendation

    console.print(f"\n[bold]fute recommend {plan.target} --kind prompt[/bold]")
    show_recommendation(plan.target, kind="prompt", top=plan.top, store=store.path, console=console)
    console.print(f"\n[bold]total {total:.1f} s[/bold]; report: {index}")
    console.print(
        f"next: fute recommend {plan.target}   ·   fute rank {plan.target} --kind prompt   ·   "
        "fute store list   ·   fute report --out DIR"
    )
    return {
        "space_key": key,
        "store": str(store.path),
        "report": str(index),
        "seconds": round(total, 2),
        "phases": run.times,
        "computed": run.done,
        "skipped": run.skipped,
        "plan": asdict(plan),
        "target": plan.target,
        "ranking": {kind: [r.to_dict() for r in rows] for kind, rows in ranked.items()},
        "prompt_similarities": {r.embedding.name: r.similarity for r in prompt_order},
    }


def benchmark_agreement(result: dict, benchmark: str | os.PathLike) -> dict:
    """How the demo's prompt order agrees with a prompt-selection benchmark's truth.

    `result` is what `run_demo` returned; `benchmark` a ``prompt_selection.json`` written by
    ``benchmarks/prompt_selection.py``. Returns, for each truth the benchmark measured
    (accuracy, macro-F1 of each prompt on labelled examples of the demo's target), the
    Spearman correlation between those and the demo's cosines (prompt MTE to target DTE),
    over the prompts both have.
    """
    import json

    from fute.evaluation.metrics import spearman

    path = Path(benchmark)
    try:
        truth = json.loads(path.read_text("utf-8"))["truth"][result["target"]]["prompts"]
    except OSError as exc:
        raise FuteError(f"cannot read benchmark results {path}: {exc.strerror}") from None
    except (ValueError, KeyError, TypeError):
        raise FuteError(
            f"{path} has no prompt-selection truth for {result['target']!r}; give the "
            "prompt_selection.json of benchmarks/prompt_selection.py"
        ) from None
    cosines = {name.split("/", 1)[1]: sim for name, sim in result["prompt_similarities"].items()}
    shared = [p for p in cosines if p in truth]
    if len(shared) < 2:
        raise FuteError(f"the demo and {path} share {len(shared)} prompts; need at least 2")
    out = {"n_prompts": len(shared), "target": result["target"]}
    for metric in sorted({m for p in shared for m in truth[p]}):
        pairs = [(cosines[p], truth[p][metric]) for p in shared if metric in truth[p]]
        out[f"spearman_{metric}"] = round(spearman(*zip(*pairs, strict=True)), 4)
    return out


def main(argv: list[str] | None = None) -> None:
    """``python -m fute.cli.demo``: the demo with other caps, and its agreement with a benchmark."""
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m fute.cli.demo", description=main.__doc__)
    parser.add_argument("--store", help="store file (default: the default store)")
    parser.add_argument("--report-dir", help="where the HTML report goes")
    parser.add_argument("--pool-size", type=int, default=DemoPlan.pool_size)
    parser.add_argument(
        "--max-words", type=int, default=DemoPlan.max_words, help="0: models read whole inputs"
    )
    parser.add_argument(
        "--compare",
        metavar="PROMPT_SELECTION_JSON",
        help="print the Spearman correlation of the demo's prompt order with this benchmark's",
    )
    args = parser.parse_args(argv)
    plan = DemoPlan(pool_size=args.pool_size, max_words=args.max_words or None)
    try:
        result = run_demo(args.store, args.report_dir, plan)
        if args.compare:
            print(json.dumps(benchmark_agreement(result, args.compare)))
    except FuteError as exc:
        import sys

        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
