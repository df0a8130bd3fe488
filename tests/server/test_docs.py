"""/api/v1/docs and /api/v1/openapi.json: the API described, readable offline."""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.testclient import TestClient

from modelward.server.api.base import create_api, new_router
from modelward.store.workspace import open_workspace
from tests.server.support import READER, TeamServer

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
METHODS = ("get", "head", "put", "post", "delete", "patch")


class _Page(HTMLParser):
    """The tags, attributes, styles and visible text of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.styles: list[str] = []
        self.text: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        (self.styles if self._in_style else self.text).append(data)

    @property
    def visible(self) -> str:
        return " ".join(" ".join(self.text).split())


def _page(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


def _assert_safe(response: Any) -> _Page:
    """No script, no outside resource, and a CSP that pins the page's only stylesheet."""
    page = _page(response.text)
    assert response.headers["content-type"].startswith("text/html")
    assert not [tag for tag, _ in page.tags if tag in ("script", "iframe", "object", "link")]
    for _tag, attrs in page.tags:
        assert not [name for name in attrs if name.startswith("on") or name == "style"], attrs
        for name in ("src", "href"):
            assert not (attrs.get(name) or "").startswith(("http", "//", "javascript")), attrs
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    [style] = page.styles
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in policy  # the browser would apply it
    assert response.headers["x-content-type-options"] == "nosniff"
    return page


def test_the_docs_page_lists_every_operation_with_its_inputs(team: TeamServer) -> None:
    reader = team.http(READER)
    document = reader.get("/api/v1/openapi.json").json()
    response = reader.get("/api/v1/docs")
    assert response.status_code == 200
    page = _assert_safe(response)
    text = page.visible
    operations = [
        (method, path, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]
    assert operations
    for method, path, operation in operations:
        assert f"{method.upper()} /api/v1{path}" in text, (method, path)
        assert operation["summary"] in text
        for parameter in operation.get("parameters", []):
            assert parameter["name"] in text
    # the token body's fields, their constraints and descriptions are on the page
    for shown in ("NewToken", "name", "role", "expires", "at most 128 characters", "90m, 12h"):
        assert shown in text, shown
    anchors = {attrs.get("id") for tag, attrs in page.tags if tag == "section"}
    hrefs = [attrs.get("href") or "" for tag, attrs in page.tags if tag == "a"]
    links = {href[1:] for href in hrefs if href.startswith("#")}
    assert links == anchors and len(anchors) == len(operations)


def test_the_docs_page_needs_a_token(team: TeamServer) -> None:
    response = team.http(None).get("/api/v1/docs")
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "unauthorized"


class Hostile(BaseModel):
    """A body whose every text is markup."""

    model_config = ConfigDict(extra="forbid", title=HOSTILE)
    value: str = Field(default="x", description=HOSTILE, pattern="^<b>$", max_length=9)


def test_text_from_the_document_is_escaped(home: Path) -> None:
    router = new_router(tags=[HOSTILE])

    @router.post("/hostile/{item}", summary=HOSTILE, description=HOSTILE)
    def hostile(request: Request, item: str, body: Hostile) -> dict[str, Any]:
        return {}

    api = create_api(open_workspace(), [router])
    response = TestClient(api).get("/docs")
    page = _assert_safe(response)
    assert HOSTILE not in response.text
    assert HOSTILE in page.visible  # shown as text, not run
    assert "^&lt;b&gt;$" in response.text


def test_the_document_describes_modelward_errors_not_fastapi_422(team: TeamServer) -> None:
    document = team.http(READER).get("/api/v1/openapi.json").json()
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "Error" in schemas
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert "422" not in responses, (method, path)
            assert {"401", "403"} <= responses.keys(), (method, path)
            if "requestBody" in operation:
                assert {"400", "413", "415"} <= responses.keys(), (method, path)
    # and the bodies the server sends are the documented shape
    answer = team.http(READER).get("/api/v1/tokens").json()
    assert set(answer) == set(schemas["Error"]["required"])
    assert set(answer["error"]) == set(schemas["Error"]["properties"]["error"]["required"])
    assert re.fullmatch(r"[a-z_]+", answer["error"]["type"])
