"""Entry point of `mw` / `modelward`: the command tree and the error boundary.

Command modules are imported only when their command runs (or when help lists
them), and none of them imports pandas, numpy, scikit-learn or SQLAlchemy at
module level, so `mw --help` starts fast.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from modelward.cli.output import emit_error
from modelward.errors import (
    AccessDenied,
    AlreadyExists,
    Conflict,
    DoesNotFit,
    Forbidden,
    GateFailed,
    IntegrityError,
    InvalidInput,
    ModelwardError,
    NotFound,
    TooLarge,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
)
from modelward.version import __version__

# command name -> "module:attribute", loaded on demand
COMMANDS: dict[str, str] = {
    "init": "modelward.cli.init:init",
    "demo": "modelward.cli.demo:demo",
    "data": "modelward.cli.data:data",
    "runs": "modelward.cli.runs:runs",
    "train": "modelward.cli.train:train",
    "evaluate": "modelward.cli.evaluate:evaluate",
    "models": "modelward.cli.models:models",
    "serve": "modelward.cli.serve:serve",
    "predict": "modelward.cli.predict:predict",
    "monitor": "modelward.cli.monitor:monitor",
    "server": "modelward.cli.server:server",
    "token": "modelward.cli.token:token",
    "pipeline": "modelward.cli.pipeline:pipeline",
}


# The exit code of every error type (PRODUCT.md: 1 the work failed, 2 bad usage or bad
# input). A test keeps it complete: every class of modelward.errors is a key.
EXIT_CODES: dict[type[ModelwardError], int] = {
    ModelwardError: 1,
    InvalidInput: 2,
    NotFound: 2,
    AlreadyExists: 2,
    DoesNotFit: 2,
    TooLarge: 2,
    UnsupportedMediaType: 2,
    Conflict: 1,
    GateFailed: 1,
    IntegrityError: 1,
    # a missing or weak token is bad usage: retrying the same command cannot help
    AccessDenied: 2,
    Unauthorized: 2,
    Forbidden: 2,
    Unavailable: 1,
}
INTERRUPTED = 130


def exit_code(exc: BaseException) -> int:
    """The exit code for anything a command raised: the one place that decides it."""
    if isinstance(exc, click.exceptions.Exit):
        return exc.exit_code
    if isinstance(exc, click.exceptions.Abort | KeyboardInterrupt):
        return INTERRUPTED
    if isinstance(exc, click.ClickException):  # a UsageError's code is 2
        return exc.exit_code
    if isinstance(exc, ModelwardError):
        # the nearest class in the table: one defined elsewhere takes its parent's code
        return next(EXIT_CODES[c] for c in type(exc).__mro__ if c in EXIT_CODES)
    return 1


class LazyGroup(click.Group):
    """A group whose subcommands are imported when first needed."""

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            module_name, attribute = self.lazy[cmd_name].split(":")
            command = getattr(importlib.import_module(module_name), attribute)
            assert isinstance(command, click.Command)
            return command
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, "--version", prog_name="modelward")
def cli() -> None:
    """modelward: data -> train -> evaluate -> register -> deploy -> monitor.

    Every command accepts --json. Exit codes: 0 success, 1 the work failed,
    2 bad usage or bad input. The store lives in MODELWARD_HOME (./.modelward).
    """


def main(argv: list[str] | None = None) -> None:
    """Run the CLI and turn every error into a one-line message and an exit code."""
    args = sys.argv[1:] if argv is None else argv
    as_json = "--json" in args
    command = "mw " + " ".join(a for a in args[:2] if not a.startswith("-")).strip()
    try:
        result = cli.main(args=args, prog_name="mw", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exit_code(exc))
    except (click.exceptions.Abort, KeyboardInterrupt) as exc:
        click.echo(
            "mw: aborted" if isinstance(exc, click.exceptions.Abort) else "mw: interrupted",
            err=True,
        )
        sys.exit(exit_code(exc))
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx else command.strip()
        hint = f" (see `{where} --help`)" if exc.ctx else ""
        emit_error(where, exc.format_message() + hint, kind="UsageError", as_json=as_json)
        sys.exit(exit_code(exc))
    except click.ClickException as exc:
        emit_error(command.strip(), exc.format_message(), kind="UsageError", as_json=as_json)
        sys.exit(exit_code(exc))
    except ModelwardError as exc:
        emit_error(command.strip(), exc.message, kind=type(exc).__name__, as_json=as_json)
        sys.exit(exit_code(exc))
    except Exception as exc:  # a bug: still one line, with the traceback on request
        if os.environ.get("MODELWARD_DEBUG"):
            raise
        message = (
            f"internal error: {type(exc).__name__}: {exc} (MODELWARD_DEBUG=1 shows the traceback)"
        )
        emit_error(command.strip(), message, kind="InternalError", as_json=as_json)
        sys.exit(exit_code(exc))
    # Without standalone mode click returns the exit code of --help / --version.
    sys.exit(result if isinstance(result, int) else 0)
