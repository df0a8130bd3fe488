"""The estimator bench/serving.py serves (shared by its modelward and MLflow workers).

Both sides fit the same estimator class with the same parameters on the same CSV, in
their own Python (modelward's, and ``bench/.venv-mlflow``), and the benchmark checks
that their predictions agree. Imports only scikit-learn.
"""

from __future__ import annotations

from typing import Any

MODEL_KINDS = ("logreg", "rf")
TARGET = "target"


def make_model(kind: str) -> Any:
    """A fresh, unfitted, deterministic estimator of `kind`.

    - ``logreg``: ``LogisticRegression(solver="newton-cholesky")``; converges in about 10
      iterations on the raw (unscaled) breast-cancer features, no warnings; predicting
      one row is mostly scikit-learn's input validation.
    - ``rf``: ``RandomForestClassifier(n_estimators=50, random_state=0)``; predicting one
      row costs a few ms (50 trees), so servers are bound by the model, not by HTTP.
    """
    if kind == "logreg":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(solver="newton-cholesky", max_iter=1000)
    if kind == "rf":
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(n_estimators=50, random_state=0)
    raise ValueError(f"unknown model kind {kind!r}; choose from {', '.join(MODEL_KINDS)}")
