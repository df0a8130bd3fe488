"""The registry's operations: register, alias with gates and audit, load verified models."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from modelward.errors import GateFailed, InvalidInput
from modelward.identity import current_user
from modelward.refs import LATEST, Ref, validate_alias, validate_name
from modelward.registry.entities import AliasChange, ModelVersion, NewModelVersion, RegisteredModel
from modelward.registry.gates import Check, parse_gate
from modelward.registry.repository import ModelRepository
from modelward.registry.signature import build_signature, columns_read
from modelward.store.workspace import Workspace
from modelward.tracking.repository import RunRepository
from modelward.tracking.run_model import ModelInfo, read_model_info

if TYPE_CHECKING:
    from modelward.registry.loading import LoadedModel


class ModelRegistry:
    """Registered models of one workspace."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.repository = ModelRepository(workspace.db)

    def register_run(
        self,
        run_id: str,
        name: str,
        *,
        description: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> ModelVersion:
        """Make the model a run stored into the next version of `name`."""
        validate_name(name, "model name")
        run = RunRepository(self.workspace.db).get(run_id)
        info = read_model_info(self.workspace, run)
        if not self.workspace.artifacts.exists(info.digest):
            raise InvalidInput(f"the model artifact of run {run.id[:8]} is missing from the store")
        signature, transform, dataset_id = self._lineage(info)
        return self.repository.add_version(
            name,
            NewModelVersion(
                digest=info.digest,
                format=info.format,
                flavor=info.flavor,
                class_name=info.class_name,
                task=info.task,
                signature=signature,
                transform=transform,
                run_id=run.id,
                dataset_version_id=dataset_id,
                metrics=dict(run.metrics),
                description=description,
                tags=dict(tags or {}),
                created_by=current_user(),
            ),
        )

    def _lineage(self, info: ModelInfo) -> tuple[dict[str, Any], dict[str, Any] | None, int | None]:
        """Signature, fitted transform and dataset id from the training dataset version."""
        from modelward.data.catalog import DatasetCatalog

        signature_args: dict[str, Any] = {
            "features": info.features,
            "target": info.target,
            "task": info.task,
            "classes": info.classes,
        }
        if info.data is None:
            return build_signature(**signature_args), None, None
        catalog = DatasetCatalog(self.workspace)
        data = catalog.get(info.data)
        if data.transform is None or data.parent_ref is None:
            return build_signature(**signature_args), None, data.id
        # The model was trained on a transform's output: callers send the raw
        # columns and the stored transform turns them into the model's features.
        parent = catalog.get(data.parent_ref)
        dtypes = {column.name: column.dtype for column in parent.schema}
        reads = columns_read(data.transform, info.feature_names)
        used = [name for name in reads if name != info.target]
        raw = [{"name": name, "dtype": dtypes.get(name, "double")} for name in used]
        return build_signature(**signature_args, raw_inputs=raw), data.transform, data.id

    def get(self, ref: str) -> ModelVersion:
        """The version a reference names (`name@3`, `name@production`, `name`)."""
        return self.repository.get(Ref.parse(ref))

    def models(self) -> list[RegisteredModel]:
        """Every registered model."""
        return self.repository.models()

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of a model."""
        return self.repository.versions(validate_name(name, "model name"))

    def audit(self, name: str | None = None, *, limit: int | None = None) -> list[AliasChange]:
        """The alias audit log, newest first (the last `limit` moves)."""
        return self.repository.audit(name, limit=limit)

    def set_alias(
        self,
        name: str,
        version: int,
        alias: str,
        *,
        require: str | None = None,
        reason: str | None = None,
        actor: str | None = None,
        evaluated_on: str | None = None,
    ) -> tuple[ModelVersion | None, ModelVersion, list[Check]]:
        """Move `alias` to `version`, if the gate `require` holds; audited, atomic.

        The gate judges each version by the metrics recorded with it, or with
        `evaluated_on` (a dataset version) by its latest evaluation on that data, so a
        challenger and the champion are compared on the same rows.
        Returns (previous holder, new holder, the gate's checks).
        """
        validate_name(name, "model name")
        validate_alias(alias)
        gate = parse_gate(require) if require else None
        holders = self.repository.alias_versions(name) if gate else {}
        judged = self._evaluated_metrics(evaluated_on) if gate and evaluated_on else None
        checks: list[Check] = []

        def check(current: ModelVersion | None, candidate: ModelVersion) -> str | None:
            if gate is None:
                return None
            by = judged or (lambda version: version.metrics)
            metrics = {
                name: (by(holders[name]) if name in holders else None) for name in gate.aliases
            }
            if alias in gate.aliases:  # the holder as locked in this transaction
                metrics[alias] = by(current) if current is not None else None
            checks.extend(gate.evaluate(by(candidate), metrics))
            failed = [c for c in checks if not c.passed]
            if failed:
                detail = "; ".join(c.describe() for c in checks)
                raise GateFailed(
                    f"refused to point {name}@{alias} at version {candidate.version}: {detail}"
                )
            return "; ".join(c.describe() for c in checks)

        previous, current = self.repository.set_alias(
            name, version, alias, actor=actor or current_user(), reason=reason, check=check
        )
        return previous, current, checks

    def _evaluated_metrics(self, data: str) -> Callable[[ModelVersion], dict[str, float]]:
        """Metrics of a version's latest evaluation on dataset version `data`."""
        from modelward.data.catalog import DatasetCatalog
        from modelward.evaluation.records import EvaluationRepository

        dataset = DatasetCatalog(self.workspace).get(data).ref
        evaluations = EvaluationRepository(self.workspace.db)

        def metrics(version: ModelVersion) -> dict[str, float]:
            found = [
                record
                for record in (evaluations.for_run(version.run_id) if version.run_id else [])
                if record.data == dataset
            ]
            if not found:
                raise GateFailed(
                    f"{version.ref} has no evaluation on {dataset} to judge it by: run "
                    f"mw evaluate {version.ref} --data {dataset} first"
                )
            return dict(found[-1].metrics)

        return metrics

    def create_model(self, name: str, *, description: str | None = None) -> RegisteredModel:
        """Register a model name before its first version."""
        return self.repository.create_model(validate_name(name, "model name"), description)

    def delete_alias(
        self, name: str, alias: str, *, reason: str | None = None, actor: str | None = None
    ) -> ModelVersion:
        """Remove `alias` (audited, atomic); the version it pointed at."""
        validate_name(name, "model name")
        validate_alias(alias)
        if alias == LATEST:
            raise InvalidInput("'latest' is implicit (the newest version): it cannot be removed")
        return self.repository.delete_alias(
            name, alias, actor=actor or current_user(), reason=reason
        )

    def load(self, ref: str | ModelVersion, *, trust: bool = False) -> LoadedModel:
        """Load a version's model, verified against its digest, with its transform."""
        from modelward.registry.loading import load_version

        version = ref if isinstance(ref, ModelVersion) else self.get(ref)
        return load_version(self.workspace, version, trust=trust)
