"""`mw ...` run in this process, through the real entry point and its error boundary."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from modelward.cli.main import main
from tests.helpers import Result


def invoke(*args: str | Path, home: Path) -> Result:
    """`mw ARGS` with MODELWARD_HOME=home: its exit code, stdout and stderr.

    The same `main` a shell runs (one-line errors, exit codes), on click's test
    runner instead of a new interpreter: no start-up cost, and tests stay quick.
    """
    env = {"MODELWARD_HOME": str(home), "MODELWARD_DB": None, "MODELWARD_ARTIFACTS": None}
    with CliRunner().isolation(env=env) as (stdout, stderr, _output):
        try:
            main([str(arg) for arg in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        else:  # pragma: no cover - main always exits
            code = 0
        return Result(code, stdout.getvalue().decode(), stderr.getvalue().decode())
