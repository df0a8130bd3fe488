"""Property-based requests generated from /openapi.json find no server error (in-process),
for a numeric model behind a transform and for one with a one-hot text column."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from starlette.applications import Starlette

from modelward.serving.app import create_app
from tests.serving.support import Penguins, serving_for

numeric = schemathesis.pytest.from_fixture("numeric_schema")
categorical = schemathesis.pytest.from_fixture("categorical_schema")
_settings = settings(
    deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None
)


@pytest.fixture(scope="module")
def numeric_schema(production_app: Starlette) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", production_app)


@pytest.fixture(scope="module")
def categorical_schema(penguins: Penguins) -> schemathesis.BaseSchema:
    app = create_app(serving_for("peng-clf@1", log=True))
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@numeric.parametrize()
@settings(_settings, max_examples=60)
def test_no_server_error_for_a_numeric_model(case: schemathesis.Case[Any]) -> None:
    case.call_and_validate(checks=[not_a_server_error])


@categorical.parametrize()
@settings(_settings, max_examples=30)
def test_no_server_error_for_a_model_with_text_inputs(case: schemathesis.Case[Any]) -> None:
    case.call_and_validate(checks=[not_a_server_error])
