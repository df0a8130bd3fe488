"""Reading a pipeline file's fields: YAML without tags or repeated keys, the checks each
field gets (each error one line naming the file and the key), and a small cache of the
expensive checks a file already passed."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from modelward.errors import InvalidInput
from modelward.yaml_files import RepeatedKey, UniqueKeyLoader, problem_of

MAX_CHECKED = 1000


def already_checked(cache: Path | None, key: str) -> bool:
    return key in _checked(cache)


def remember_checked(cache: Path | None, key: str) -> None:
    if cache is None:
        return
    from modelward.pipelines.file_digests import replace_cache_file

    known = _checked(cache)
    replace_cache_file(cache, json.dumps([*known[-(MAX_CHECKED - 1) :], key]).encode())


def _checked(cache: Path | None) -> list[str]:
    if cache is None:
        return []
    try:
        known = json.loads(cache.read_bytes())
    except (OSError, ValueError):
        return []
    return [k for k in known if isinstance(k, str)] if isinstance(known, list) else []


def only(label: str, where: str, raw: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    for key in raw:
        if key not in allowed:
            inside = f" in {where}" if where else ""
            raise InvalidInput(
                f"{label}: unknown key {str(key)[:60]!r}{inside}; expected one of "
                f"{', '.join(allowed)}"
            )


def required(label: str, where: str, raw: Mapping[str, Any], key: str) -> Any:
    if raw.get(key) is None:
        inside = f"{where}." if where else ""
        raise InvalidInput(f"{label}: {inside}{key} is missing")
    return raw[key]


def text_of(label: str, where: str, raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidInput(f"{label}: {where}: a non-empty text, got {str(raw)[:60]!r}")
    return raw


def name_of(label: str, where: str, raw: Any, what: str) -> str:
    """`raw` checked as a name of `what` ("dataset name", "model name", "alias", ...)."""
    from modelward.refs import validate_alias, validate_name

    try:
        return validate_alias(raw) if what == "alias" else validate_name(raw, what)
    except InvalidInput as exc:
        raise InvalidInput(f"{label}: {where}: {exc.message}") from None


def dataset_of(ref: str) -> str:
    return ref.partition("@")[0]


def canonical_digest(value: Any) -> str:
    """sha256 of a JSON value written canonically (sorted keys, no spaces)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


# -- YAML: safe, no tags, no repeated keys ------------------------------------
def load_yaml(text: str, label: str) -> Any:
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if isinstance(token, yaml.TagToken):
                line = token.start_mark.line + 1
                raise InvalidInput(f"{label}: YAML tags are not allowed (line {line})")
        data = yaml.load(text, Loader=UniqueKeyLoader)  # a SafeLoader subclass
    except RepeatedKey as repeated:
        raise InvalidInput(f"{label}: {repeated}") from None
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{label}: not valid YAML: {problem_of(exc)}") from None
    except RecursionError:
        raise InvalidInput(f"{label}: nested too deeply to be a pipeline") from None
    if data is None:
        raise InvalidInput(f"{label}: the file is empty; a pipeline needs 'name' and 'data'")
    return data
