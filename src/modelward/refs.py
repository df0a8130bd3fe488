"""Names and references: `NAME`, `NAME@VERSION`, `NAME@ALIAS`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from modelward.errors import InvalidInput

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_ALIAS = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")

LATEST = "latest"


def validate_name(name: str, what: str = "name") -> str:
    """Return `name` if it is a legal dataset/model name, else raise InvalidInput."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name.endswith("."):
        raise InvalidInput(
            f"illegal {what} {name!r}: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def validate_alias(alias: str) -> str:
    """Return `alias` if it is a legal alias name, else raise InvalidInput."""
    if not isinstance(alias, str) or not _ALIAS.fullmatch(alias):
        raise InvalidInput(
            f"illegal alias {alias!r}: use letters, digits, '_' or '-', starting with a letter"
        )
    return alias


@dataclass(frozen=True)
class Ref:
    """A parsed reference: exactly one of `version` and `alias` is set."""

    name: str
    version: int | None = None
    alias: str | None = None

    @classmethod
    def parse(cls, text: str) -> Ref:
        """Parse `NAME`, `NAME@3` or `NAME@alias`; a bare name means `NAME@latest`."""
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput("empty reference: expected NAME, NAME@VERSION or NAME@ALIAS")
        name, sep, selector = text.strip().partition("@")
        validate_name(name)
        if not sep:
            return cls(name=name, alias=LATEST)
        if selector.isascii() and selector.isdigit():
            version = int(selector)
            if version < 1:
                raise InvalidInput(f"bad reference {text!r}: versions are numbered from 1")
            return cls(name=name, version=version)
        if not selector:
            raise InvalidInput(f"bad reference {text!r}: nothing after '@'")
        return cls(name=name, alias=validate_alias(selector))

    def __str__(self) -> str:
        return f"{self.name}@{self.version if self.version is not None else self.alias}"
