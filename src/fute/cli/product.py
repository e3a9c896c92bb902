"""Top-level product commands: store, rank, report, demo."""

import typer


def register(app: typer.Typer) -> None:
    """Add the product commands to the root app."""
