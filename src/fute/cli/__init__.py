"""The `fute` command line: thin wrappers, one library call per command.

User errors (`FuteError`) and usage errors print one line on stderr (`error: ...`) and exit
with status 2, no traceback; `DataWarning`s print one `warning: ...` line.
"""

from __future__ import annotations

import sys
import warnings

import typer

try:  # typer >= 0.20 vendors click
    from typer._click import exceptions as click_exc
except ImportError:  # pragma: no cover
    from click import exceptions as click_exc

from fute._version import __version__
from fute.cli import data as data_cmds
from fute.cli import embed as embed_cmds
from fute.cli import product as product_cmds
from fute.cli import prompts as prompt_cmds
from fute.cli import recommend as recommend_cmds
from fute.core.errors import FuteError
from fute.core.examples import DataWarning

_default_show_warning = warnings.showwarning

app = typer.Typer(
    name="fute",
    help="Unified task embeddings: data sets, models and prompted LLMs in one space.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(data_cmds.app, name="data")
app.add_typer(embed_cmds.app, name="embed")
app.add_typer(prompt_cmds.app, name="prompts")
product_cmds.register(app)
app.command("recommend")(recommend_cmds.recommend_cmd)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fute {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """fute: which of my models, prompts or source tasks fits this data set?"""


def fail(message: str, code: int = 2) -> None:
    """Print one line on stderr and exit."""
    sys.stderr.write(f"error: {message.splitlines()[0] if message else 'failed'}\n")
    sys.exit(code)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """fute's own warnings as one `warning: ...` line; others in Python's format."""
    if issubclass(category, DataWarning):
        sys.stderr.write(f"warning: {str(message).splitlines()[0]}\n")
    else:
        _default_show_warning(message, category, filename, lineno, file, line)


def main(argv: list[str] | None = None) -> None:
    warnings.showwarning = _show_warning
    try:
        rv = app(args=argv, standalone_mode=False)
    except FuteError as exc:
        fail(str(exc))
    except typer.Abort:
        fail("aborted", 130)
    except click_exc.NoArgsIsHelpError:
        sys.exit(0)
    except click_exc.UsageError as exc:
        ctx = exc.ctx
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        fail(f"{exc.format_message()}{hint}", exc.exit_code)
    except click_exc.ClickException as exc:
        fail(exc.format_message(), exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        fail("interrupted", 130)
    sys.exit(rv if isinstance(rv, int) else 0)
