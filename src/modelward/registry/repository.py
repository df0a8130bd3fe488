"""Persistence of registered models, versions, aliases and the alias audit log."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelward.errors import AlreadyExists, InvalidInput, NotFound
from modelward.refs import LATEST, Ref
from modelward.registry.entities import AliasChange, ModelVersion, NewModelVersion, RegisteredModel
from modelward.store.database import Database, as_utc
from modelward.store.tables import (
    alias_audit,
    dataset_versions,
    datasets,
    model_aliases,
    model_versions,
    registered_models,
)

_mv, _rm = model_versions, registered_models
_SELECT = (
    sa.select(
        _mv,
        _rm.c.name.label("model_name"),
        datasets.c.name.label("dataset_name"),
        dataset_versions.c.version.label("dataset_version"),
    )
    .select_from(_mv)
    .join(_rm, _rm.c.id == _mv.c.model_id)
    .outerjoin(dataset_versions, dataset_versions.c.id == _mv.c.dataset_version_id)
    .outerjoin(datasets, datasets.c.id == dataset_versions.c.dataset_id)
)

# Called inside the alias transaction with (current holder or None, candidate);
# raising refuses the move and rolls everything back.
AliasCheck = Callable[[ModelVersion | None, ModelVersion], str | None]


class ModelRepository:
    """Registered models and their versions; alias moves are atomic and audited."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add_version(self, name: str, new: NewModelVersion) -> ModelVersion:
        """Record `new` as the next version of `name` (created on first use)."""
        now = datetime.now(UTC)
        with self.db.write() as conn:
            model_id = self._lock_model(conn, name, now, create=True)
            number = self.db.next_number(conn, _mv.c.version, _mv.c.model_id, model_id)
            version_id = conn.execute(
                _mv.insert()
                .values(
                    model_id=model_id,
                    version=number,
                    digest=new.digest,
                    format=new.format,
                    flavor=new.flavor,
                    class_name=new.class_name,
                    task=new.task,
                    signature=new.signature,
                    transform=new.transform,
                    run_id=new.run_id,
                    dataset_version_id=new.dataset_version_id,
                    metrics=new.metrics,
                    description=new.description,
                    tags=new.tags,
                    created_at=now,
                    created_by=new.created_by,
                )
                .returning(_mv.c.id)
            ).scalar_one()
            return self._by_id(conn, version_id)

    def _lock_model(self, conn: Connection, name: str, now: datetime, *, create: bool) -> int:
        model_id = self.db.lock_named(conn, _rm, name, create_at=now if create else None)
        if model_id is None:
            raise NotFound(f"unknown model {name!r}: see `mw models list`")
        return model_id

    def get(self, ref: Ref) -> ModelVersion:
        """The version a reference names: a number, `latest` or an alias."""
        with self.db.read() as conn:
            return self._resolve(conn, ref)

    def _resolve(self, conn: Connection, ref: Ref) -> ModelVersion:
        model_id = conn.execute(sa.select(_rm.c.id).where(_rm.c.name == ref.name)).scalar()
        if model_id is None:
            raise NotFound(f"unknown model {ref.name!r}: see `mw models list`")
        query = _SELECT.where(_mv.c.model_id == model_id)
        if ref.version is not None:
            row = conn.execute(query.where(_mv.c.version == ref.version)).first()
            missing = f"model {ref.name!r} has no version {ref.version}"
        elif ref.alias == LATEST:
            row = conn.execute(query.order_by(_mv.c.version.desc()).limit(1)).first()
            missing = f"model {ref.name!r} has no versions"
        else:
            row = conn.execute(
                query.join(model_aliases, model_aliases.c.version_id == _mv.c.id).where(
                    model_aliases.c.alias == ref.alias
                )
            ).first()
            missing = f"model {ref.name!r} has no alias {ref.alias!r}"
        if row is None:
            raise NotFound(f"{missing}: see `mw models show {ref.name}`")
        return self._entity(conn, row)

    def _by_id(self, conn: Connection, version_id: int) -> ModelVersion:
        return self._entity(conn, conn.execute(_SELECT.where(_mv.c.id == version_id)).one())

    def _entity(self, conn: Connection, row: Any) -> ModelVersion:
        aliases = conn.execute(
            sa.select(model_aliases.c.alias)
            .where(model_aliases.c.version_id == row.id)
            .order_by(model_aliases.c.alias)
        ).scalars()
        return _to_version(row, tuple(aliases))

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of a model, oldest first."""
        with self.db.read() as conn:
            rows = conn.execute(_SELECT.where(_rm.c.name == name).order_by(_mv.c.version)).all()
            if not rows and conn.execute(sa.select(_rm.c.id).where(_rm.c.name == name)).first():
                return []
            if not rows:
                raise NotFound(f"unknown model {name!r}: see `mw models list`")
            aliases: dict[int, list[str]] = {}
            for alias, version_id in conn.execute(
                sa.select(model_aliases.c.alias, model_aliases.c.version_id)
                .join(_rm, _rm.c.id == model_aliases.c.model_id)
                .where(_rm.c.name == name)
                .order_by(model_aliases.c.alias)
            ):
                aliases.setdefault(version_id, []).append(alias)
        return [_to_version(row, tuple(aliases.get(row.id, []))) for row in rows]

    def versions_of_run(self, run_id: str) -> list[ModelVersion]:
        """The versions registered from one run, in registration order."""
        with self.db.read() as conn:
            rows = conn.execute(_SELECT.where(_mv.c.run_id == run_id).order_by(_mv.c.id)).all()
            return [self._entity(conn, row) for row in rows]

    def versions_trained_on(self, dataset_version_id: int) -> list[ModelVersion]:
        """The versions whose training data was this dataset version."""
        with self.db.read() as conn:
            rows = conn.execute(
                _SELECT.where(_mv.c.dataset_version_id == dataset_version_id).order_by(_mv.c.id)
            ).all()
            return [self._entity(conn, row) for row in rows]

    def models(self) -> list[RegisteredModel]:
        """Every registered model with its latest version and aliases."""
        with self.db.read() as conn:
            counts = {
                model_id: (latest, count)
                for model_id, latest, count in conn.execute(
                    sa.select(_mv.c.model_id, sa.func.max(_mv.c.version), sa.func.count()).group_by(
                        _mv.c.model_id
                    )
                )
            }
            aliases: dict[int, dict[str, int]] = {}
            for model_id, alias, version in conn.execute(
                sa.select(model_aliases.c.model_id, model_aliases.c.alias, _mv.c.version).join(
                    _mv, _mv.c.id == model_aliases.c.version_id
                )
            ):
                aliases.setdefault(model_id, {})[alias] = version
            rows = conn.execute(sa.select(_rm).order_by(_rm.c.name)).all()
        return [
            RegisteredModel(
                name=row.name,
                description=row.description,
                created_at=as_utc(row.created_at),
                latest_version=counts.get(row.id, (None, 0))[0],
                aliases=dict(sorted(aliases.get(row.id, {}).items())),
                n_versions=counts.get(row.id, (None, 0))[1],
            )
            for row in rows
        ]

    def set_alias(
        self,
        name: str,
        version: int,
        alias: str,
        *,
        actor: str,
        reason: str | None = None,
        check: AliasCheck | None = None,
    ) -> tuple[ModelVersion | None, ModelVersion]:
        """Point `alias` at `version` in one transaction with its audit record.

        `check` sees the current holder and the candidate inside the same
        transaction, so a gate cannot be passed against a stale holder; it raises
        to refuse, or returns what the audit record keeps of the gate's results.
        """
        if alias == LATEST:
            raise InvalidInput("'latest' is implicit (the newest version); choose another alias")
        now = datetime.now(UTC)
        with self.db.write() as conn:
            model_id = self._lock_model(conn, name, now, create=False)
            candidate = self._resolve(conn, Ref(name=name, version=version))
            current_id = conn.execute(
                sa.select(model_aliases.c.version_id).where(
                    model_aliases.c.model_id == model_id, model_aliases.c.alias == alias
                )
            ).scalar()
            current = self._by_id(conn, current_id) if current_id is not None else None
            gate = check(current, candidate) if check is not None else None
            upsert = self.db.upsert(model_aliases)
            conn.execute(
                upsert.values(
                    model_id=model_id, alias=alias, version_id=candidate.id
                ).on_conflict_do_update(
                    index_elements=["model_id", "alias"],
                    set_={"version_id": upsert.excluded.version_id},
                )
            )
            conn.execute(
                alias_audit.insert().values(
                    model_id=model_id,
                    alias=alias,
                    from_version=current.version if current else None,
                    to_version=candidate.version,
                    actor=actor,
                    reason=reason,
                    at=now,
                    gate=gate,
                )
            )
            return current, self._by_id(conn, candidate.id)

    def alias_versions(self, name: str) -> dict[str, ModelVersion]:
        """Every alias of a model and the version it points at."""
        with self.db.read() as conn:
            rows = conn.execute(
                _SELECT.add_columns(model_aliases.c.alias.label("alias_name"))
                .join(model_aliases, model_aliases.c.version_id == _mv.c.id)
                .where(_rm.c.name == name)
            ).all()
            return {row.alias_name: self._entity(conn, row) for row in rows}

    def create_model(self, name: str, description: str | None = None) -> RegisteredModel:
        """Register the name `name` (no versions yet); AlreadyExists if it is taken."""
        now = datetime.now(UTC)
        with self.db.write() as conn:
            inserted = conn.execute(
                self.db.upsert(_rm)
                .values(name=name, description=description, created_at=now)
                .on_conflict_do_nothing()
                .returning(_rm.c.id)
            ).first()
        if inserted is None:  # (rowcount says -1 on PostgreSQL here)
            raise AlreadyExists(f"a model called {name!r} is already registered")
        return RegisteredModel(
            name=name, description=description, created_at=now, latest_version=None
        )

    def registered_model(self, name: str) -> RegisteredModel:
        """One registered model with its latest version and aliases."""
        with self.db.read() as conn:
            row = conn.execute(sa.select(_rm).where(_rm.c.name == name)).first()
            if row is None:
                raise NotFound(f"unknown model {name!r}: see `mw models list`")
            latest, count = conn.execute(
                sa.select(sa.func.max(_mv.c.version), sa.func.count()).where(
                    _mv.c.model_id == row.id
                )
            ).one()
            aliases = conn.execute(
                sa.select(model_aliases.c.alias, _mv.c.version)
                .join(_mv, _mv.c.id == model_aliases.c.version_id)
                .where(model_aliases.c.model_id == row.id)
                .order_by(model_aliases.c.alias)
            ).all()
        return RegisteredModel(
            name=row.name,
            description=row.description,
            created_at=as_utc(row.created_at),
            latest_version=latest,
            aliases={alias: version for alias, version in aliases},
            n_versions=count,
        )

    def delete_alias(
        self, name: str, alias: str, *, actor: str, reason: str | None = None
    ) -> ModelVersion:
        """Remove `alias` in one transaction with its audit record; the version it named."""
        now = datetime.now(UTC)
        with self.db.write() as conn:
            model_id = self._lock_model(conn, name, now, create=False)
            current_id = conn.execute(
                sa.select(model_aliases.c.version_id).where(
                    model_aliases.c.model_id == model_id, model_aliases.c.alias == alias
                )
            ).scalar()
            if current_id is None:
                raise NotFound(
                    f"model {name!r} has no alias {alias!r}: see `mw models show {name}`"
                )
            current = self._by_id(conn, current_id)
            conn.execute(
                model_aliases.delete().where(
                    model_aliases.c.model_id == model_id, model_aliases.c.alias == alias
                )
            )
            conn.execute(
                alias_audit.insert().values(
                    model_id=model_id,
                    alias=alias,
                    from_version=current.version,
                    to_version=None,
                    actor=actor,
                    reason=reason,
                    at=now,
                )
            )
        return current

    def audit(self, name: str | None = None, *, limit: int | None = None) -> list[AliasChange]:
        """Alias moves, newest first (of one model, or of all; the last `limit` of them)."""
        query = (
            sa.select(alias_audit, _rm.c.name)
            .join(_rm, _rm.c.id == alias_audit.c.model_id)
            .order_by(alias_audit.c.id.desc())
            .limit(limit)
        )
        if name is not None:
            query = query.where(_rm.c.name == name)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [
            AliasChange(
                model=row.name,
                alias=row.alias,
                from_version=row.from_version,
                to_version=row.to_version,
                actor=row.actor,
                reason=row.reason,
                at=as_utc(row.at),
                gate=row.gate,
            )
            for row in rows
        ]


def _to_version(row: Any, aliases: tuple[str, ...]) -> ModelVersion:
    data = f"{row.dataset_name}@{row.dataset_version}" if row.dataset_name else None
    return ModelVersion(
        id=row.id,
        name=row.model_name,
        version=row.version,
        digest=row.digest,
        format=row.format,
        flavor=row.flavor,
        class_name=row.class_name,
        task=row.task,
        signature=row.signature,
        transform=row.transform,
        run_id=row.run_id,
        data=data,
        metrics=row.metrics,
        description=row.description,
        tags=row.tags,
        created_at=as_utc(row.created_at),
        created_by=row.created_by,
        aliases=aliases,
    )
