"""Schemathesis over /api/v1/openapi.json: no input the document allows, or nearly
allows, makes the server answer 5xx (issue [2/5], "Done when").

Every operation of the document is fuzzed, with an admin token so that no role
check stops a request before its handler: the routes other modules add join by
being in the document. Examples are bounded so the whole file stays well under
a minute on both backends.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.schemas import BaseSchema

from modelward.server.tokens import ADMIN, TokenRepository
from tests.server.support import TeamServer

EXAMPLES = 25  # per operation and backend
# a name the fuzzer will not guess and revoke (DELETE /tokens/{name}) half-way
FUZZER = "schemathesis-admin-4f1c9a"


@pytest.fixture
def fuzzer_headers(team: TeamServer) -> dict[str, str]:
    """An admin token of the fuzzer's own."""
    _info, secret = TokenRepository(team.workspace.db).create(FUZZER, ADMIN)
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def api_schema(team: TeamServer, fuzzer_headers: dict[str, str]) -> BaseSchema:
    """The team server's document, read from the app as the fuzzer."""
    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", team.app, headers=fuzzer_headers)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_no_input_makes_a_5xx(case: schemathesis.Case[Any], fuzzer_headers: dict[str, str]) -> None:
    case.call_and_validate(headers=fuzzer_headers, checks=[not_a_server_error])


def test_the_fuzzer_reaches_the_handlers(
    api_schema: BaseSchema, fuzzer_headers: dict[str, str]
) -> None:
    # the document's relative server URL (/api/v1) is where the requests go
    whoami = api_schema["/whoami"]["GET"].Case()
    response = whoami.call(headers=fuzzer_headers)
    assert response.status_code == 200
    assert response.json() == {"name": FUZZER, "role": ADMIN}
