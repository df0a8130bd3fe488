"""scikit-learn models through skops: no code runs on load, only listed types are built.

A skops file is a JSON tree of nodes, each naming the type it rebuilds. Before
skops builds anything, every node is checked against the exact allow-list in
`skops_allowlist` (and so is skops' own audit of the file); a single node of
another type refuses the whole file, naming the type. No module prefix is
trusted: `sklearn.preprocessing.FunctionTransformer` and `numpy.full_like`
live under trusted-looking prefixes and are exactly what an attack uses.
"""

from __future__ import annotations

import importlib
import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

from modelward.errors import InvalidInput
from modelward.serialization.skops_allowlist import PUBLIC_ESTIMATORS, STATE_CLASSES, VALUE_TYPES

# skops node loaders that only rebuild plain values (containers, arrays, dtypes, type names).
_VALUE_LOADERS = frozenset(
    {
        "JsonNode",
        "DictNode",
        "DefaultDictNode",
        "ListNode",
        "SetNode",
        "TupleNode",
        "SliceNode",
        "BytesNode",
        "BytearrayNode",
        "TypeNode",
        "NdArrayNode",
        "MaskedArrayNode",
        "DTypeNode",
        "RandomStateNode",
        "RandomGeneratorNode",
        "SparseMatrixNode",
    }
)
# Loaders that build an instance of the class they name (checked against the estimator list).
_OBJECT_LOADERS = frozenset(
    {"ObjectNode", "ReduceNode", "TreeNode", "LossNode", "SGDNode", "ConstructorFromReduceNode"}
)
# Everything else (FunctionNode, MethodNode, PartialNode, OperatorFuncNode, ...) is refused.
_MAX_NODES = 1_000_000
_MAX_DEPTH = 200


def supports(model: Any) -> bool:
    """Whether this looks like a scikit-learn estimator."""
    try:
        from sklearn.base import BaseEstimator
    except ImportError:  # pragma: no cover - scikit-learn is a dependency
        return False
    return isinstance(model, BaseEstimator)


def dumps(model: Any) -> bytes:
    """Serialize with skops, refusing a model that would not load back without trust."""
    import skops.io as sio

    try:
        data: bytes = sio.dumps(model)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"skops cannot serialize {type(model).__name__}: {exc}") from None
    refused = refused_types(data)
    if refused:
        raise InvalidInput(
            f"{type(model).__name__} holds types that do not load without trust: "
            f"{_listing(refused)}; save it with format='pickle' (it then loads only with "
            "trust=True) or use estimators without custom callables"
        )
    return data


def loads(data: bytes, *, trust: bool = False) -> Any:
    """Load skops bytes, refusing any type outside the allow-list unless `trust`."""
    import skops.io as sio

    if trust:
        try:
            untrusted = sio.get_untrusted_types(data=data)
        except Exception as exc:  # a corrupt or foreign file
            raise InvalidInput(f"not a readable skops model: {_one_line(exc)}") from None
        return sio.loads(data, trusted=untrusted)
    refused = refused_types(data)
    if refused:
        raise InvalidInput(
            f"refusing to load the model: it holds types outside modelward's allow-list: "
            f"{_listing(refused)}; load it with trust=True (--trust) only if you trust its source"
        )
    # Every type in the file is listed, so skops' own list of what it calls untrusted is too.
    return sio.loads(data, trusted=sio.get_untrusted_types(data=data))


def refused_types(data: bytes) -> list[str]:
    """The type names in a skops file that are not on the allow-list, sorted (empty: loadable)."""
    import skops.io as sio

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            schema = json.loads(archive.read("schema.json"))
        audited = sio.get_untrusted_types(data=data)
    except Exception as exc:  # a corrupt or foreign file: skops and zipfile raise many types
        raise InvalidInput(f"not a readable skops model: {_one_line(exc)}") from None
    refused = {name for loader, name in _nodes(schema) if not _allowed(loader, name)}
    refused.update(name for name in audited if not _allowed_name(name))
    return sorted(refused)


def _nodes(schema: Any) -> Iterator[tuple[str, str]]:
    """(loader, module.Class) of every node of a skops schema, depth-first, without recursion."""
    stack: list[tuple[Any, int]] = [(schema, 0)]
    seen = 0
    while stack:
        value, depth = stack.pop()
        seen += 1
        if seen > _MAX_NODES or depth > _MAX_DEPTH:
            raise InvalidInput("not a readable skops model: its schema is too large or too deep")
        if isinstance(value, dict):
            if "__loader__" in value:
                yield (
                    str(value["__loader__"]),
                    f"{value.get('__module__', '')}.{value.get('__class__', '')}",
                )
            stack.extend((child, depth + 1) for child in value.values())
        elif isinstance(value, list):
            stack.extend((child, depth + 1) for child in value)


def _allowed(loader: str, name: str) -> bool:
    if loader in _VALUE_LOADERS:
        return name in VALUE_TYPES
    if loader in _OBJECT_LOADERS:
        return name in STATE_CLASSES or _is_listed_estimator(name)
    return False


def _allowed_name(name: str) -> bool:
    return name in VALUE_TYPES or name in STATE_CLASSES or _is_listed_estimator(name)


def _is_listed_estimator(name: str) -> bool:
    """Whether `module.Class` is exactly the class a listed public package exports."""
    module, _, class_name = name.rpartition(".")
    for package, classes in PUBLIC_ESTIMATORS.items():
        if class_name not in classes:
            continue
        exported = getattr(importlib.import_module(package), class_name, None)
        if (
            isinstance(exported, type)
            and exported.__module__ == module
            and exported.__qualname__ == class_name
        ):
            return True
    return False


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:5])
    return shown if len(names) <= 5 else f"{shown} and {len(names) - 5} more"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 200 else text[:197] + "..."
