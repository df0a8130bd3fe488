"""Categories a model never saw: found in a request, told in its answer.

A `one_hot` step turns a category it did not see at fit time into a row of
zeros, so the model answers for "none of the known categories" without a
word. The server tells: one warning per column and unseen value, naming the
rows, and a count per column on /metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelward.serving.bodies import shown

if TYPE_CHECKING:
    import pandas as pd

    from modelward.data.preprocess import FittedTransform

MAX_WARNINGS = 20  # per answer
MAX_ROWS_NAMED = 100  # per warning; `count` has the total


@dataclass(frozen=True)
class UnseenCategory:
    """Rows of a request whose `field` holds `value`, a category not seen in training."""

    field: str
    value: Any
    rows: tuple[int, ...]
    count: int
    known: tuple[Any, ...]

    def to_dict(self) -> dict[str, Any]:
        """The warning as answered."""
        known = ", ".join(str(v) for v in self.known[:10]) + (
            ", ..." if len(self.known) > 10 else ""
        )
        return {
            "type": "unseen_category",
            "field": self.field,
            "value": self.value,
            "rows": list(self.rows),
            "count": self.count,
            "message": f"{self.field}: {shown(self.value)} is a category not seen in training; "
            f"the model answered as for none of the known ones ({known})",
        }


def one_hot_columns(transform: FittedTransform | None) -> list[tuple[str, tuple[Any, ...]]]:
    """(input column, categories learned for it) of every one_hot step."""
    if transform is None:
        return []
    found: list[tuple[str, tuple[Any, ...]]] = []
    for step in transform.steps:
        if step.kind == "one_hot":
            for column, values in step.params()["categories"].items():
                found.append((column, tuple(values)))
    return found


def unseen_categories(
    transform: FittedTransform | None, raw: pd.DataFrame, features: pd.DataFrame
) -> tuple[list[UnseenCategory], dict[str, int]]:
    """The unseen categories of a request (`raw` as sent, `features` as the model took
    them): at most MAX_WARNINGS warnings, and the number of such rows per column."""
    import numpy as np
    import pandas as pd

    warnings: list[UnseenCategory] = []
    counts: dict[str, int] = {}
    for column, known in one_hot_columns(transform):
        if column not in raw.columns:
            continue
        values = raw[column]
        dummies = [f"{column}_{value}" for value in known]  # FittedOneHot's output names
        if all(name in features.columns for name in dummies):
            # exact whatever ran before the one_hot step: a value was sent, no category is set
            unset = ~features[dummies].to_numpy().any(axis=1)
        else:  # a later step dropped some of them: compare with the categories
            unset = ~values.isin(list(known)).to_numpy()
        unseen = unset & values.notna().to_numpy()
        rows = np.flatnonzero(unseen)
        if not len(rows):
            continue
        counts[column] = len(rows)
        codes, uniques = pd.factorize(values.iloc[rows])
        for code, value in enumerate(uniques.tolist()[: MAX_WARNINGS - len(warnings)]):
            these = rows[codes == code]
            warnings.append(
                UnseenCategory(
                    field=column,
                    value=value,
                    rows=tuple(int(r) for r in these[:MAX_ROWS_NAMED]),
                    count=len(these),
                    known=known,
                )
            )
    return warnings, counts
