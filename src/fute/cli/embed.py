"""`fute embed dataset|model`: compute task embeddings and store them.

Examples::

    fute embed dataset sentiment-imdb --method fisher
    fute embed dataset my_reviews.csv --text review --label stars
    fute embed model vader
    fute embed model lm:smollm2 --prompt sentiment   # every shipped sentiment prompt
"""

from __future__ import annotations

from pathlib import Path

import typer

from fute.cli.output import (
    JsonOption,
    StoreOption,
    emit_json,
    err,
    open_store,
    out,
    progress,
    working,
)
from fute.core.errors import FuteError, ModelError
from fute.core.kinds import Kind

app = typer.Typer(help="Compute task embeddings and store them.", no_args_is_help=True)

MethodOption = typer.Option(
    "fisher", "--method", help="Embedding method: fisher, prefix or mean-embedding."
)
SeedOption = typer.Option(0, "--seed", help="Seed of the space (head and prefix init, sampling).")
# Per-embedding settings (docs/methods.md): how much data, recorded with the embedding but not
# part of the space key, so embeddings made with other amounts still rank together.
MaxExamplesOption = typer.Option(
    None,
    "--max-examples",
    min=2,
    help="Use a seeded sample of at most this many examples (default: 1000; stays in the "
    "same space).",
)
FisherExamplesOption = typer.Option(
    None,
    "--fisher-examples",
    min=1,
    help="fisher only: examples whose gradients are averaged (default: 256; same space).",
)
PoolAnchorOption = typer.Option(
    None,
    "--pool-anchor/--no-pool-anchor",
    help="Pool-anchored space (defines the space; the default for fisher and prefix, the "
    "space `fute recommend` was chosen for): data-set embeddings are made on the pool, as "
    "model embeddings are; --no-pool-anchor makes them on the data set alone "
    "(docs/methods.md).",
    show_default=False,
)


def _space(
    method: str,
    seed: int,
    max_examples: int | None,
    fisher_examples: int | None,
    pool_size: int | None = None,
    pool_anchor: bool | None = None,
    clip_pool: bool = False,
):
    from fute.space import DEFAULT_POOL_SIZE, Space

    settings = {"max_examples": max_examples, "fisher_examples": fisher_examples}
    settings = {k: v for k, v in settings.items() if v is not None}
    space = Space(
        method=method,
        seed=seed,
        pool_size=pool_size or DEFAULT_POOL_SIZE,
        pool_anchor=pool_anchor,
        clip_pool=clip_pool,
    )
    if fisher_examples is not None and "fisher_examples" not in space.settings:
        raise FuteError(
            f"--fisher-examples applies to --method fisher only, not {space.method.name}; drop it"
        )
    return space.with_settings(**settings) if settings else space


def _report(emb, store, as_json: bool, row_id: int) -> dict:
    from fute.space import short_key

    info = {
        "id": row_id,
        "kind": emb.kind,
        "name": emb.name,
        "space_key": emb.space_key,
        "space": short_key(emb.space_key),
        "settings": emb.meta.get("settings", {}),
        "size": int(emb.vector.size),
        "store": str(store.path),
        "seconds": emb.meta.get("seconds"),
    }
    if not as_json:
        out.print(
            f"stored {emb.kind} [bold]{emb.name}[/bold] (#{row_id}, {info['size']:,} values) "
            f"in space {info['space']}"
        )
    return info


@app.command("dataset")
def embed_dataset(
    data: str = typer.Argument(
        ..., help="A catalogue name (see `fute data list`) or a CSV / JSONL / Parquet file."
    ),
    method: str = MethodOption,
    seed: int = SeedOption,
    max_examples: int = MaxExamplesOption,
    fisher_examples: int = FisherExamplesOption,
    pool_anchor: bool | None = PoolAnchorOption,
    split: str = typer.Option("train", "--split", help="Split of a catalogue data set."),
    text: str = typer.Option(None, "--text", help="Text column of a file."),
    pair: str = typer.Option(None, "--pair", help="Second-text column of a file (pair tasks)."),
    label: str = typer.Option(None, "--label", help="Label column of a file."),
    name: str = typer.Option(
        None, "--name", help="Name to store it under (default: the data set's name)."
    ),
    store: Path = StoreOption,
    as_json: bool = JsonOption,
) -> None:
    """Embed a labelled data set (its DTE) and store it."""
    from fute.data.loaders import load_data
    from fute.store import check_name

    if name is not None:
        check_name(name)  # before minutes of work
    if not data.strip():
        raise FuteError("the data set is empty: give a catalogue name or a file path")
    st = open_store(store)  # fail on a bad store before spending minutes
    space = _space(method, seed, max_examples, fisher_examples, pool_anchor=pool_anchor)
    with working(f"loading {data}"):
        examples = load_data(data, split=split, text=text, pair=pair, label=label)
    with working(f"embedding {examples.name or data} ({len(examples)} examples, {method})"):
        emb = space.dataset_embedding(examples, name=name or examples.name or Path(data).stem)
    info = _report(emb, st, as_json, st.add(emb))
    if as_json:
        emit_json(info)


def load_lm_backend(spec: str):
    """The LM behind an LLM spec (lm:smollm2, lm:hf:NAME, gguf:PATH, openai:URL#MODEL)."""
    from fute.models.loading import is_lm_spec, load_backend

    if not is_lm_spec(spec):
        raise ModelError(
            f"{spec!r} is not a language model, so it takes no --prompt; "
            "use an LLM spec such as lm:smollm2, or drop --prompt"
        )
    return load_backend(spec)


def _prompts(refs: list[str]):
    from fute.models.prompts import TASK_ARITY, load_prompt, load_prompts

    prompts = []
    for ref in refs:  # a task name (all its shipped prompts), a prompt id, or a JSON file
        prompts.extend(load_prompts(ref) if ref in TASK_ARITY else [load_prompt(ref)])
    return list({p.id: p for p in prompts}.values())


@app.command("model")
def embed_model(
    spec: str = typer.Argument(
        ...,
        help="vader, hf:NAME_OR_DIR, a .joblib file, or an LLM (lm:smollm2, lm:hf:NAME, "
        "gguf:PATH, openai:URL#MODEL) with --prompt.",
    ),
    prompt: list[str] = typer.Option(
        None,
        "--prompt",
        help="Prompt id, JSON file or task name (repeatable); SPEC is then an LLM.",
    ),
    method: str = MethodOption,
    seed: int = SeedOption,
    max_examples: int = MaxExamplesOption,
    fisher_examples: int = FisherExamplesOption,
    pool_size: int = typer.Option(
        None,
        "--pool-size",
        min=2,
        help="Pool inputs the model answers (default: 1000; stays in the same space).",
    ),
    pool_anchor: bool | None = PoolAnchorOption,
    clip_pool: bool = typer.Option(
        False,
        "--clip-pool",
        help="Ask the model each pool input cut to the tokens the surrogate reads (same space).",
    ),
    exclude: list[str] = typer.Option(
        None, "--exclude", help="Pool source to leave out (a data set you will compare with)."
    ),
    name: str = typer.Option(
        None, "--name", help="Name to store it under (default: the model's name)."
    ),
    store: Path = StoreOption,
    as_json: bool = JsonOption,
) -> None:
    """Embed a black-box model (its MTE) or an LLM with each prompt, and store them."""
    from fute.models import load_model
    from fute.models.prompted import PromptedLM
    from fute.store import check_name

    if name is not None:
        check_name(name)  # before minutes of work
    if not spec.strip():
        raise FuteError("the model is empty: give a model name, path or LLM spec")
    st = open_store(store)
    space = _space(method, seed, max_examples, fisher_examples, pool_size, pool_anchor, clip_pool)
    if prompt:
        backend = load_lm_backend(spec)
        models = [(PromptedLM(backend, p), Kind.PROMPTED_LM) for p in _prompts(prompt)]
        if name and len(models) > 1:
            raise FuteError(
                "--name names one embedding; leave it out when embedding several prompts"
            )
    else:
        with working(f"loading {spec}"):
            models = [(load_model(spec), None)]
    results = []
    with progress(transient=False) as bar:
        task = bar.add_task(f"embedding {spec}", total=len(models))
        for model, kind in models:
            bar.update(task, description=f"embedding {getattr(model, 'name', spec)}")
            emb = space.model_embedding(model, name=name, kind=kind, exclude=tuple(exclude or ()))
            results.append(_report(emb, st, as_json, st.add(emb)))
            bar.advance(task)
    if as_json:
        emit_json(results[0] if len(results) == 1 and not prompt else results)
    elif len(results) > 1:
        err.print(f"{len(results)} embeddings stored in {st.path}")


from fute.cli import batch as _batch  # noqa: E402  (`fute embed batch`)

_batch.register(app)
