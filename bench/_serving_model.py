"""The estimator bench/serving.py serves (shared by its modelward and MLflow workers).

Both sides fit the same estimator class with the same parameters on the same CSV, in
their own Python (modelward's, and ``bench/.venv-mlflow``), and the benchmark checks
that their predictions agree. Imports only scikit-learn.
"""

from __future__ import annotations

from typing import Any

MODEL_KINDS = ("logreg", "rf")
TARGET = "target"

# The model trained on transformed data (the demo's shape): palmerpenguins' CSV, raw
# columns in the requests; modelward applies this spec, MLflow's side an equivalent
# scikit-learn pipeline (`make_pipeline`).
PENGUIN_TARGET = "species"
PENGUIN_NUMBERS = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
PENGUIN_TEXT = ["island", "sex"]
PENGUIN_SPEC = {
    "steps": [
        {"fill_missing": {"columns": PENGUIN_NUMBERS, "strategy": "median"}},
        {"fill_missing": {"columns": ["sex"], "strategy": "mode"}},
        {"normalize": {"columns": PENGUIN_NUMBERS, "method": "zscore"}},
        {"one_hot": {"columns": PENGUIN_TEXT}},
        {"drop": ["year"]},
    ]
}


def make_penguin_model() -> Any:
    """The estimator fitted on the prepared penguins (modelward's side)."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=2000)


def make_pipeline() -> Any:
    """PENGUIN_SPEC + make_penguin_model() as one scikit-learn pipeline (MLflow's side):
    median fill and z-score (population std) of the numbers, most frequent sex, one 0/1
    column per category seen in training (none for an unseen one), features in the same
    order as modelward's."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numbers = Pipeline([("fill", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    island = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    sex = Pipeline(
        [
            ("fill", SimpleImputer(strategy="most_frequent")),
            ("hot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]
    )
    columns = ColumnTransformer(
        [
            ("numbers", numbers, PENGUIN_NUMBERS),
            ("island", island, ["island"]),
            ("sex", sex, ["sex"]),
        ]
    )
    return Pipeline([("prepare", columns), ("model", make_penguin_model())])


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
