"""Safe model serialization: formats that load without executing code by default.

    format      flavor         loads code?   used for
    mw-native   builtin,       no            modelward's own trainers, and scikit-learn
                sklearn                      estimators whose state is only numbers and
                                             arrays (numpy .npz + JSON; no skops import)
    skops       sklearn        no            every other scikit-learn estimator, pipelines
    onnx        onnx           no            scikit-learn models converted by skl2onnx, run by
                                             onnxruntime (optional: pip install "modelward[onnx]")
    pickle      any            YES           anything else, loaded only with trust=True

`save_model` picks the safest format that can hold the model; `load_model`
refuses pickle unless the caller says `trust=True`, and refuses skops files
holding types outside the trusted set (scikit-learn, NumPy, SciPy, modelward).
Digests are checked by the artifact store before these bytes arrive here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelward.errors import InvalidInput

NATIVE, SKOPS, ONNX, PICKLE = "mw-native", "skops", "onnx", "pickle"
FORMATS = (NATIVE, SKOPS, ONNX, PICKLE)
SUFFIXES = {NATIVE: ".npz", SKOPS: ".skops", ONNX: ".onnx", PICKLE: ".pkl"}


@dataclass(frozen=True)
class SerializedModel:
    """A model as bytes, with the format that reads it back and its flavor."""

    data: bytes
    format: str
    flavor: str
    class_name: str


def class_name(model: Any) -> str:
    """`module.Class` of a model object."""
    return f"{type(model).__module__}.{type(model).__qualname__}"


def save_model(model: Any, *, format: str | None = None) -> SerializedModel:
    """Serialize `model` in `format`, or the safest format that can hold it."""
    from modelward.serialization import native, pickle_format, skops_format

    chosen = format or (
        NATIVE if native.supports(model) else SKOPS if skops_format.supports(model) else None
    )
    if chosen is None:
        raise InvalidInput(
            f"{class_name(model)} is not a scikit-learn estimator or a modelward trainer: "
            "save it with format='pickle' (it will then load only with trust=True)"
        )
    if chosen == NATIVE:
        data, flavor = native.dumps(model), native.flavor(model)
    elif chosen == SKOPS:
        data, flavor = skops_format.dumps(model), "sklearn"
    elif chosen == ONNX:
        from modelward.serialization import onnx_format

        data, flavor = _optional(onnx_format.dumps, model), "onnx"
    elif chosen == PICKLE:
        data, flavor = pickle_format.dumps(model), "pickle"
    else:
        raise InvalidInput(f"unknown model format {chosen!r}: use one of {', '.join(FORMATS)}")
    return SerializedModel(data, chosen, flavor, class_name(model))


def load_model(data: bytes, format: str, *, trust: bool = False) -> Any:
    """Rebuild a model from bytes; pickle needs `trust=True`, skops only trusted types."""
    from modelward.serialization import native, pickle_format, skops_format

    if format == NATIVE:
        return native.loads(data)
    if format == SKOPS:
        return skops_format.loads(data, trust=trust)
    if format == ONNX:
        from modelward.serialization import onnx_format

        return _optional(onnx_format.loads, data)
    if format == PICKLE:
        if not trust:
            raise InvalidInput(
                "this model is a pickle, which runs code when loaded: load it only if you "
                "trust its source, with trust=True (--trust on the command line)"
            )
        return pickle_format.loads(data)
    raise InvalidInput(f"unknown model format {format!r}: use one of {', '.join(FORMATS)}")


def _optional(function: Any, argument: Any) -> Any:
    """Call into an optional dependency, with an install hint when it is missing."""
    try:
        return function(argument)
    except ImportError as exc:
        raise InvalidInput(
            f'the ONNX format needs an optional package ({exc.name}): pip install "modelward[onnx]"'
        ) from None
