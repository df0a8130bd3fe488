"""Monitoring tests reuse the served model of the serving tests, and run `mw` in-process."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.helpers import Result, mw_in_process

__all__ = ["CliResult", "mw_cli", "mw_in_process"]


CliResult = Result  # the name these tests use for `mw`'s exit code, stdout and stderr


@pytest.fixture
def mw_cli() -> Callable[..., CliResult]:
    """`mw_in_process`, as a fixture."""
    return mw_in_process
