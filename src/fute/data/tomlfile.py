"""Read the package's TOML data files (tomllib from Python 3.11, tomli before)."""

from __future__ import annotations

import sys

from fute.core.errors import DataError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def load_toml(resource, name: str) -> dict:
    """Parse a TOML file (a path or an importlib resource); a syntax error names the file."""
    try:
        return tomllib.loads(resource.read_text("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"{name}: {exc}") from None
