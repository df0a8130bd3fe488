"""YAML as modelward reads its files (alert rules, transform specs, pipelines): the safe
loader only, and a key written twice in one mapping refused rather than silently taking
the last value."""

from __future__ import annotations

from typing import Any

import yaml


class RepeatedKey(Exception):
    """A mapping holds `key` twice; `line` is where the second one is (from 1)."""

    def __init__(self, key: Any, line: int) -> None:
        super().__init__(f"repeats the key {key!r} at line {line}")
        self.key = key
        self.line = line


class UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that raises RepeatedKey for a key written twice in one mapping."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if isinstance(key, str | int | float | bool):
            if key in seen:
                raise RepeatedKey(key, key_node.start_mark.line + 1)
            seen.add(key)
    return loader.construct_mapping(node)


UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def problem_of(exc: yaml.YAMLError) -> str:
    """What a YAML error says, and where: `expected ',' or ']' at line 2, column 7`."""
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    return f"{getattr(exc, 'problem', None) or 'invalid YAML'}{where}"
