"""The registry as the code above it uses it: one port, a local and a remote adapter.

    registry = model_registry(workspace)     # chosen once, from the workspace
    registry.set_alias("churn-clf", 3, "production", require="f1 >= production.f1")

Locally the port is `ModelRegistry` (the store under MODELWARD_HOME). With
MODELWARD_URI set it is `RemoteRegistry`, which asks the team server: the server
registers versions from its own runs, evaluates gates and protected aliases, and
records who moved what. Only loading happens on the client, through the same safe
loader (the artifact downloaded once and verified against its sha256).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from modelward.registry.entities import AliasChange, ModelVersion, RegisteredModel
    from modelward.registry.gates import Check
    from modelward.registry.loading import LoadedModel
    from modelward.store.workspace import Workspace

# the most alias moves one answer of the team server holds
MAX_AUDIT = 10_000


class Registry(Protocol):
    """What the CLI, `mw.models`, serving, drift and batch predict need of the registry."""

    @property
    def workspace(self) -> Workspace:
        """The workspace the registry belongs to (its artifact store loads models)."""
        ...

    def register_run(
        self,
        run_id: str,
        name: str,
        *,
        description: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> ModelVersion:
        """Make the model a run stored into the next version of `name`."""
        ...

    def get(self, ref: str) -> ModelVersion:
        """The version a reference names (`name@3`, `name@production`, `name`)."""
        ...

    def models(self) -> list[RegisteredModel]:
        """Every registered model."""
        ...

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of a model, oldest first."""
        ...

    def audit(self, name: str | None = None, *, limit: int | None = None) -> list[AliasChange]:
        """Alias moves, newest first."""
        ...

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
        """Move `alias` to `version` if the gate holds: (previous, new holder, checks);
        `evaluated_on`: judge versions by their evaluations on that dataset version."""
        ...

    def delete_alias(self, name: str, alias: str, *, reason: str | None = None) -> ModelVersion:
        """Remove `alias`; the version it pointed at."""
        ...

    def load(self, ref: str | ModelVersion, *, trust: bool = False) -> LoadedModel:
        """A version's model, verified against its digest, with its transform."""
        ...


def model_registry(workspace: Workspace) -> Registry:
    """The registry of `workspace`: the team server's when it is remote, else the local one."""
    if workspace.remote is not None:
        from modelward.registry.remote import RemoteRegistry

        return RemoteRegistry(workspace)
    from modelward.registry.service import ModelRegistry

    return ModelRegistry(workspace)
