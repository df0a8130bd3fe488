"""Property-based requests generated from /openapi.json find no server error."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.serving.conftest import Server


@pytest.mark.timeout(300)
def test_schemathesis_finds_no_server_error(production_server: Server) -> None:
    command = shutil.which("schemathesis")
    argv = [command] if command else [sys.executable, "-m", "schemathesis.cli"]
    result = subprocess.run(
        [
            *argv,
            "run",
            f"{production_server.url}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "60",
            "--workers",
            "1",
            "--phases",
            "examples,coverage,fuzzing",
            "--suppress-health-check",
            "all",
            "--seed",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "No issues found" in result.stdout or "passed" in result.stdout.lower()
