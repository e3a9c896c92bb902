"""`fute embed dataset|model`: compute and store task embeddings."""

import typer

app = typer.Typer(help="Compute task embeddings and store them.", no_args_is_help=True)
