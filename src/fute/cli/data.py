"""`fute data ...`: the catalogue, fetching, user files and the unlabelled pool."""

import typer

app = typer.Typer(help="Catalogue data sets, fetch them, describe the unlabelled pool.", no_args_is_help=True)
