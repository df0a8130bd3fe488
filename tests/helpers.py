"""Helpers for tests that drive the real `mw` command in a subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def mw(
    *args: str | Path,
    home: Path,
    cwd: Path | None = None,
    timeout: float = 120,
    keep_db: bool = False,
) -> Result:
    """Run `python -m modelward ARGS` with MODELWARD_HOME=home (and the metadata in its
    SQLite file, unless `keep_db` keeps this process's MODELWARD_DB)."""
    env = {**os.environ, "MODELWARD_HOME": str(home)}
    if not keep_db:
        env.pop("MODELWARD_DB", None)
    completed = subprocess.run(
        [sys.executable, "-m", "modelward", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
    )
    return Result(completed.returncode, completed.stdout, completed.stderr)


class _Main(click.Command):
    """`modelward.cli.main.main` as a command CliRunner can invoke: its error boundary included."""

    def main(self, args: Any = None, prog_name: Any = None, **extra: Any) -> Any:  # type: ignore[override]
        from modelward.cli.main import main

        return main(list(args or ()))


def mw_in_process(
    *args: str | Path,
    home: Path,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    color: bool = False,
) -> Result:
    """Run `mw ARGS` in this process, as a user's shell would (exit code, stdout, stderr).

    The whole entry point runs, error boundary included, so exit codes and the
    one-line errors are those of the real command; output is not a terminal
    (`color=True`: click passes escape sequences on as it does to a terminal).
    Workspaces are closed afterwards, as a process ending would close them.
    """
    from click.testing import CliRunner

    from modelward.store.workspace import close_workspaces

    environment: dict[str, str | None] = {
        "MODELWARD_HOME": str(home),
        "MODELWARD_DB": None,
        "MODELWARD_ARTIFACTS": None,
        **(env or {}),
    }
    with contextlib.chdir(cwd or Path.cwd()):
        try:
            result = CliRunner().invoke(
                _Main("mw"),
                [str(a) for a in args],
                env=environment,
                catch_exceptions=False,
                color=color,
            )
        finally:
            close_workspaces()
    return Result(result.exit_code, result.stdout, result.stderr)


def bird_features(n: int, seed: int) -> tuple[pd.DataFrame, np.random.Generator]:
    """Raw penguin-like rows (an id, a text column, two numbers, a year) and the generator
    that made them, for the caller to draw its label from."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "row_id": np.arange(n),
            "island": rng.choice(["Biscoe", "Dream", "Torgersen"], size=n),
            "bill": rng.normal(44.0, 5.0, size=n),
            "mass": rng.normal(4200.0, 800.0, size=n),
            "year": rng.choice([2007, 2008, 2009], size=n),
        }
    )
    return frame, rng


def copy_home(source: Path, target: Path) -> None:
    """Copy a home that other processes (or this one) may be using.

    The database goes through SQLite's backup API: opening and closing its files by
    hand (`shutil.copytree`) would drop every POSIX lock this process's own SQLite
    connections hold on them, letting another writer corrupt the live database.
    """
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("modelward.db*"))
    live = contextlib.closing(sqlite3.connect(source / "modelward.db"))
    with live as source_db, contextlib.closing(sqlite3.connect(target / "modelward.db")) as copy:
        source_db.backup(copy)
