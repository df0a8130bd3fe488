"""Row-filter expressions (the transform spec's `filter:` step).

    age >= 18 and city in ['Lyon', 'Paris']

`parse_expression` parses and checks the text without data (`parsing`);
`Expression.evaluate(frame)` evaluates it over a DataFrame (`evaluation`).
"""

from __future__ import annotations

from modelward.data.expression.parsing import (
    Expression,
    parse_expression,
    unknown_columns_message,
)

__all__ = ["Expression", "parse_expression", "unknown_columns_message"]
