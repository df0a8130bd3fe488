"""Gate parse errors say where the requirement stopped making sense, as a position in it."""

from __future__ import annotations

import pytest

from modelward.errors import InvalidInput
from modelward.registry.gates import MAX_LENGTH, parse_gate


def _message(text: str) -> str:
    with pytest.raises(InvalidInput) as info:
        parse_gate(text)
    message = str(info.value)
    assert "\n" not in message and len(message) < 300
    return message


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        # Ends too early: the missing operand belongs right after the last token.
        ("f1 >= production.f1 + ", len("f1 >= production.f1 +") + 1, "after '+'"),
        ("f1 >= production.f1 + 0.01 and", len("f1 >= production.f1 + 0.01 and") + 1, "'and'"),
        ("  f1 >=", len("  f1 >=") + 1, "after '>='"),
        ("f1 >= production.f1 +\n", len("f1 >= production.f1 +") + 1, "after '+'"),
        # Stops in the middle: the offending character, counted from 1 in the text as given.
        ("f1 >>= 2", "f1 >>= 2".index(">>=") + 1, "near '>>= 2'"),
        ("  f1 >= 0.5 $ 3", "  f1 >= 0.5 $ 3".index("$") + 1, "near '$ 3'"),
        ("f1 >= (production.f1", "f1 >= (production.f1".index("(") + 1, "never closed"),
        ("f1 >= 1\n 2", "f1 >= 1\n 2".index("2") + 1, "near '2'"),
    ],
)
def test_a_parse_error_points_at_the_real_position(text: str, position: int, fragment: str) -> None:
    message = _message(text)
    assert f"at position {position}" in message and fragment in message


def test_long_and_deep_requirements_are_one_short_line() -> None:
    assert "limited to" in _message("f1 > " + "1 + " * MAX_LENGTH + "1")
    assert "nested" in _message("(" * 300 + "f1" + ")" * 300 + " > 1")
