"""`fute prompts ...`: the prompt library (shipped prompts plus files under FUTE_PROMPTS)."""

from __future__ import annotations

import typer

from fute.cli.output import JsonOption, emit_json, out

app = typer.Typer(
    help="List and show the prompts a prompted LLM can use (add your own with FUTE_PROMPTS).",
    no_args_is_help=True,
)


@app.command("list")
def list_cmd(
    task: str = typer.Option(
        None, "--task", help="Only prompts of this task (sentiment, pair, nli)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """List prompt ids with their task, answer words and source file."""
    from rich.table import Table

    from fute.models.prompts import load_prompts

    prompts = load_prompts(task)
    if as_json:
        emit_json([{**p.to_dict(), "hash": p.hash(), "file": p.source} for p in prompts])
        return
    table = Table("id", "task", "chat", "answer words", "description")
    for p in prompts:
        words = "; ".join(f"{label}: {'/'.join(ws)}" for label, ws in p.verbalizer.items())
        table.add_row(p.id, p.task, "yes" if p.chat else "no", words, p.description)
    out.print(table)


@app.command("show")
def show_cmd(
    prompt: str = typer.Argument(..., help="Prompt id or JSON file."),
    text: str = typer.Option("The film was a delight.", "--text", help="Example input."),
    pair: str = typer.Option(None, "--pair", help="Second text (pair tasks)."),
    as_json: bool = JsonOption,
) -> None:
    """Show one prompt and how it renders on an example input."""
    from fute.models.prompts import load_prompt

    p = load_prompt(prompt)
    if p.arity == 2 and pair is None:
        pair = "Nobody enjoyed it."
    x = (text, pair) if p.arity == 2 else text
    rendered = p.render(x)
    if as_json:
        emit_json({**p.to_dict(), "hash": p.hash(), "file": p.source, "rendered": rendered})
        return
    out.print(f"[bold]{p.id}[/] ({p.task}, {'chat' if p.chat else 'plain'}) from {p.source}")
    out.print(rendered, markup=False)
