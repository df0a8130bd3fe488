"""The registry of a team server (`/api/v1/models`), behind the same port as the local one.

Everything that decides is done by the server: it registers a version from a run
it holds (reading the run's stored model itself), evaluates `--require` gates,
guards protected aliases and writes the audit log under the token's name. The
client only asks, and loads models: version metadata from the server, the
artifact through the workspace's artifact store (downloaded once into the local
cache and verified), then the same safe loader as a local load.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from modelward.refs import Ref, validate_alias, validate_name
from modelward.registry.entities import AliasChange, ModelVersion, RegisteredModel
from modelward.registry.gates import Check
from modelward.registry.ports import MAX_AUDIT
from modelward.store.remote import ServerClient
from modelward.store.workspace import Workspace

if TYPE_CHECKING:
    from modelward.registry.loading import LoadedModel


def _model_path(name: str) -> str:
    return f"/models/{quote(validate_name(name, 'model name'), safe='')}"


class RemoteRegistry:
    """Registered models on a team server."""

    def __init__(self, workspace: Workspace) -> None:
        if workspace.remote is None:
            raise ValueError("RemoteRegistry needs a remote workspace")
        self.workspace = workspace
        self.client: ServerClient = workspace.remote

    def register_run(
        self,
        run_id: str,
        name: str,
        *,
        description: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> ModelVersion:
        """Ask the server to register the model its run `run_id` stored."""
        body: dict[str, Any] = {"run_id": run_id, "description": description, "tags": tags or {}}
        answer = self.client.post(f"{_model_path(name)}/versions", body)
        return ModelVersion.from_dict(answer)

    def get(self, ref: str) -> ModelVersion:
        """The version a reference names, as the server resolves it now."""
        parsed = Ref.parse(ref)
        selector = str(parsed.version) if parsed.version is not None else str(parsed.alias)
        answer = self.client.get(f"{_model_path(parsed.name)}/versions/{selector}")
        return ModelVersion.from_dict(answer)

    def models(self) -> list[RegisteredModel]:
        """Every registered model on the server."""
        return [RegisteredModel.from_dict(item) for item in self.client.get("/models")["models"]]

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of a model, oldest first."""
        answer = self.client.get(f"{_model_path(name)}/versions")
        return [ModelVersion.from_dict(item) for item in answer["versions"]]

    def audit(self, name: str | None = None, *, limit: int | None = None) -> list[AliasChange]:
        """Alias moves, newest first (at most MAX_AUDIT per answer)."""
        params: dict[str, Any] = {"limit": min(limit or MAX_AUDIT, MAX_AUDIT)}
        if name is not None:
            params["model"] = validate_name(name, "model name")
        answer = self.client.get("/audit", params=params)
        return [AliasChange.from_dict(item) for item in answer["changes"]]

    def set_alias(
        self,
        name: str,
        version: int,
        alias: str,
        *,
        require: str | None = None,
        reason: str | None = None,
        evaluated_on: str | None = None,
    ) -> tuple[ModelVersion | None, ModelVersion, list[Check]]:
        """Ask the server to move `alias` (it checks the gate and who may move it)."""
        path = f"{_model_path(name)}/aliases/{validate_alias(alias)}"
        body = {"version": version, "require": require, "reason": reason}
        if evaluated_on is not None:
            body["evaluated_on"] = evaluated_on
        answer = self.client.put(path, body)
        previous = answer["previous"]
        return (
            ModelVersion.from_dict(previous) if previous is not None else None,
            ModelVersion.from_dict(answer["current"]),
            [Check.from_dict(item) for item in answer["checks"]],
        )

    def delete_alias(self, name: str, alias: str, *, reason: str | None = None) -> ModelVersion:
        """Ask the server to remove `alias` (an admin token's work)."""
        path = f"{_model_path(name)}/aliases/{validate_alias(alias)}"
        answer = self.client.delete(path, params={"reason": reason} if reason else None)
        return ModelVersion.from_dict(answer["previous"])

    def load(self, ref: str | ModelVersion, *, trust: bool = False) -> LoadedModel:
        """Load a version: metadata from the server, bytes verified, the safe loader."""
        from modelward.registry.loading import load_version

        version = ref if isinstance(ref, ModelVersion) else self.get(ref)
        return load_version(self.workspace, version, trust=trust)
