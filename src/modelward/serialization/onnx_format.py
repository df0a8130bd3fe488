"""ONNX (skl2onnx to write, onnxruntime to run): portable, and loading runs no Python code."""

from __future__ import annotations

from typing import Any

from modelward.errors import InvalidInput


class OnnxModel:
    """An ONNX graph behind scikit-learn's predict / predict_proba."""

    def __init__(self, data: bytes) -> None:
        import onnxruntime as ort

        try:
            self.session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own, unexported error types
            raise InvalidInput(f"not a readable ONNX model: {exc}") from None
        self.input_name = self.session.get_inputs()[0].name
        self.outputs = [output.name for output in self.session.get_outputs()]
        self.n_features_in_ = self.session.get_inputs()[0].shape[1]

    def _run(self, X: Any) -> list[Any]:
        import numpy as np

        values = X.to_numpy(dtype=np.float32) if hasattr(X, "to_numpy") else X
        result: list[Any] = self.session.run(
            None, {self.input_name: np.asarray(values, np.float32)}
        )
        return result

    def predict(self, X: Any) -> Any:
        """Labels (classifiers) or values (regressors)."""
        import numpy as np

        first = np.asarray(self._run(X)[0])
        return first.ravel() if first.ndim == 2 and first.shape[1] == 1 else first

    def predict_proba(self, X: Any) -> Any:
        """Class probabilities, in the order of the model's classes."""
        outputs = self._run(X)
        if len(outputs) < 2:
            raise InvalidInput("this ONNX model gives no probabilities")
        return outputs[1]


def dumps(model: Any) -> bytes:
    """Convert a fitted scikit-learn estimator to ONNX bytes."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.base import is_classifier

    count = getattr(model, "n_features_in_", None)
    if count is None:
        raise InvalidInput("ONNX export needs a fitted estimator (n_features_in_ is unknown)")
    options = {id(model): {"zipmap": False}} if is_classifier(model) else None
    try:
        onnx_model = convert_sklearn(
            model,
            initial_types=[("input", FloatTensorType([None, int(count)]))],
            options=options,
            target_opset=None,
        )
    except Exception as exc:  # skl2onnx raises many types for unsupported models
        raise InvalidInput(
            f"skl2onnx cannot convert {type(model).__name__}: {' '.join(str(exc).split())[:200]}"
        ) from None
    data: bytes = onnx_model.SerializeToString()
    return data


def loads(data: bytes) -> OnnxModel:
    """An onnxruntime session wrapped as a model."""
    return OnnxModel(data)
