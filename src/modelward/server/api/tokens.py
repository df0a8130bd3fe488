"""/api/v1/tokens (admin) and /api/v1/whoami: who a token is, and managing tokens."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field

from modelward.server.api.base import new_router
from modelward.server.auth import principal_of, require
from modelward.server.tokens import ADMIN, TokenRepository

router = new_router(tags=["tokens"])


class NewToken(BaseModel):
    """A token to create."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=128, description="unique name, shown in every audit record")
    role: str = Field(pattern="^(reader|writer|admin)$")
    expires: str | None = Field(default=None, max_length=16, description="e.g. 90m, 12h, 30d")


def _tokens(request: Request) -> TokenRepository:
    tokens: TokenRepository = request.app.state.tokens
    return tokens


@router.get("/whoami", summary="The name and role of the token this request carries")
def whoami(request: Request) -> dict[str, Any]:
    principal = principal_of(request)
    return {"name": principal.name, "role": principal.role}


@router.get("/tokens", summary="Every token (never a secret); admin only")
def list_tokens(request: Request) -> dict[str, Any]:
    require(request, ADMIN, why="list tokens")
    return {"tokens": [token.to_dict() for token in _tokens(request).list()]}


@router.post(
    "/tokens", status_code=201, summary="Create a token; its secret is in this answer only"
)
def create_token(request: Request, body: NewToken) -> dict[str, Any]:
    require(request, ADMIN, why="create tokens")
    info, secret = _tokens(request).create(body.name, body.role, expires=body.expires)
    return {**info.to_dict(), "token": secret}


@router.delete("/tokens/{name}", summary="Revoke a token; admin only")
def revoke_token(request: Request, name: str) -> dict[str, Any]:
    require(request, ADMIN, why="revoke tokens")
    return _tokens(request).revoke(name).to_dict()
