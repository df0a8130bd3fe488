"""Monitoring tests reuse the served model of the serving tests, and run `mw` in-process."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from modelward.cli.main import main
from tests.serving.conftest import production_server, served, server_factory

__all__ = [
    "CliResult",
    "mw_cli",
    "mw_in_process",
    "production_server",
    "served",
    "server_factory",
]


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@click.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.pass_context
def _mw(ctx: click.Context) -> None:
    main(list(ctx.args))  # the real entry point: its error boundary and exit codes


def mw_in_process(*args: str | Path, home: Path) -> CliResult:
    """`mw ARGS` run in this process (click's CliRunner) against the home given."""
    result = CliRunner().invoke(
        _mw, [str(a) for a in args], env={"MODELWARD_HOME": str(home), "MODELWARD_DB": None}
    )
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return CliResult(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def mw_cli() -> Callable[..., CliResult]:
    """`mw_in_process`, as a fixture."""
    return mw_in_process
