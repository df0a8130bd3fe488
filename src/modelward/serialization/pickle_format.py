"""Pickle through joblib: holds anything, runs code when loaded. Only with trust=True."""

from __future__ import annotations

import io
from typing import Any


def dumps(model: Any) -> bytes:
    """Serialize with joblib (pickle)."""
    import joblib

    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return buffer.getvalue()


def loads(data: bytes) -> Any:
    """Unpickle; the caller has already checked that the source is trusted."""
    import joblib

    return joblib.load(io.BytesIO(data))
