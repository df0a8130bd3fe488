"""How commands show results: JSON for machines, rich tables for people, one-line errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rich.console import Console

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print machine-readable JSON on stdout."
)


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def print_json(payload: Any) -> None:
    """Write `payload` as JSON on stdout."""
    click.echo(json.dumps(payload, default=_default, indent=2, allow_nan=False))


def console() -> Console:
    """A rich console on stdout (imported only when a command prints for people)."""
    from rich.console import Console

    # Piped output is read by people too (logs, `| less`): don't squeeze it to 80 columns.
    width = None if sys.stdout.isatty() else 160
    return Console(highlight=False, soft_wrap=False, width=width)


def error_line(command: str, message: str) -> str:
    """The one-line error format: `mw data add: error: ...`."""
    return f"{command}: error: {' '.join(message.split())}"


def emit_error(command: str, message: str, *, kind: str, as_json: bool) -> None:
    """Print an error: one line on stderr, and a JSON object on stdout with --json."""
    click.echo(error_line(command, message), err=True)
    if as_json:
        click.echo(json.dumps({"error": {"type": kind, "message": message}}))


@contextmanager
def progress(as_json: bool) -> Iterator[Callable[[str], None]]:
    """A stage reporter: a spinner with the current stage on a terminal, silent otherwise."""
    if as_json or not sys.stderr.isatty():
        yield lambda _stage: None
        return
    from rich.console import Console

    with Console(stderr=True).status("working...") as status:
        yield lambda stage: status.update(f"{stage}...")


def human_size(size: float) -> str:
    """Bytes as a short human-readable size."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(size) < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def fmt_number(value: Any, digits: int = 4) -> str:
    """A compact number for tables; blank for missing."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:  # NaN
            return "nan"
        return f"{value:.{digits}g}"
    return str(value)


_BARS = " ▁▂▃▄▅▆▇█"


def sparkline(counts: list[int] | tuple[int, ...]) -> str:
    """A histogram as a row of block characters."""
    if not counts:
        return ""
    top = max(counts) or 1
    return "".join(_BARS[round(count / top * (len(_BARS) - 1))] for count in counts)
