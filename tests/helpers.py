"""Helpers for tests that drive the real `mw` command in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def mw(*args: str | Path, home: Path, cwd: Path | None = None, timeout: float = 120) -> Result:
    """Run `python -m modelward ARGS` with MODELWARD_HOME=home."""
    env = {**os.environ, "MODELWARD_HOME": str(home)}
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
