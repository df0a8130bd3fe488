"""How commands show results: JSON for machines, rich tables for people, one-line errors.

Text that users or their data wrote (names, column names, values, paths,
messages) never reaches the terminal as it is: `safe_text` shows control and
bidirectional-override characters as escapes (a raw ESC would drive the
terminal), and `safe_markup` also escapes Rich markup (a run called `[/red]`
would otherwise end a style that was never opened and break the whole table).
Every cli module passes such text through one of the two before printing.
"""

from __future__ import annotations

import json
import sys
import unicodedata
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


_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Control characters, format characters (bidi overrides, zero-width), line and
# paragraph separators, unassigned and private-use code points, surrogates.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def _escaped(char: str) -> str:
    if unicodedata.category(char) not in _UNSAFE_CATEGORIES:
        return char
    named = _NAMED_ESCAPES.get(char)
    if named is not None:
        return named
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def safe_text(value: object) -> str:
    """`value` as text a terminal shows as it is: control characters become escapes."""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable():  # the common case, and it covers every unsafe character
        return text
    return "".join(map(_escaped, text))


def safe_markup(value: object) -> str:
    """`value` as text for a Rich markup string or table cell: shown, never interpreted."""
    from rich.markup import escape

    return escape(safe_text(value))


def print_json(payload: Any) -> None:
    """Write `payload` as JSON on stdout."""
    click.echo(json.dumps(payload, default=_default, indent=2, allow_nan=False))


def console() -> Console:
    """A rich console on stdout (imported only when a command prints for people)."""
    from rich.console import Console

    # Piped output is read by people too (logs, `| less`): don't squeeze it to 80 columns.
    width = None if sys.stdout.isatty() else 160
    return Console(highlight=False, soft_wrap=False, width=width, emoji=False)


def error_line(command: str, message: str) -> str:
    """The one-line error format: `mw data add: error: ...` (user text in it made safe)."""
    return f"{safe_text(command)}: error: {safe_text(' '.join(message.split()))}"


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

    with Console(stderr=True, emoji=False).status("working...") as status:
        yield lambda stage: status.update(f"{safe_markup(stage)}...")


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
