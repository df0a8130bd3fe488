"""scikit-learn models through skops: no code runs on load, only trusted types are built."""

from __future__ import annotations

from typing import Any

from modelward.errors import InvalidInput

TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "modelward.training.", "builtins.")


def supports(model: Any) -> bool:
    """Whether this looks like a scikit-learn estimator."""
    try:
        from sklearn.base import BaseEstimator
    except ImportError:  # pragma: no cover - scikit-learn is a dependency
        return False
    return isinstance(model, BaseEstimator)


def dumps(model: Any) -> bytes:
    """Serialize with skops."""
    import skops.io as sio

    try:
        data: bytes = sio.dumps(model)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"skops cannot serialize {type(model).__name__}: {exc}") from None
    return data


def loads(data: bytes, *, trust: bool = False) -> Any:
    """Load skops bytes, refusing types outside the trusted set unless `trust`."""
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:  # a corrupt or foreign file
        raise InvalidInput(f"not a readable skops model: {exc}") from None
    refused = [name for name in untrusted if not name.startswith(TRUSTED_PREFIXES)]
    if refused and not trust:
        raise InvalidInput(
            f"the model holds types outside the trusted set: {', '.join(sorted(refused)[:5])}; "
            "load it with trust=True (--trust) only if you trust its source"
        )
    return sio.loads(data, trusted=untrusted)
