"""Persistence of datasets and their versions in the metadata database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelward.data.entities import ColumnSchema, DatasetSummary, DatasetVersion, NewVersion
from modelward.errors import NotFound
from modelward.refs import LATEST, Ref
from modelward.store.database import Database, as_utc
from modelward.store.tables import dataset_versions as dv
from modelward.store.tables import datasets as ds

_parent = dv.alias("parent")
_parent_ds = ds.alias("parent_ds")

_SELECT = (
    sa.select(
        dv,
        ds.c.name.label("dataset_name"),
        _parent.c.version.label("parent_version"),
        _parent_ds.c.name.label("parent_name"),
    )
    .select_from(dv)
    .join(ds, ds.c.id == dv.c.dataset_id)
    .outerjoin(_parent, _parent.c.id == dv.c.parent_id)
    .outerjoin(_parent_ds, _parent_ds.c.id == _parent.c.dataset_id)
)


class DatasetRepository:
    """Datasets and versions: numbering, lookup by reference, listing."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add_version(self, name: str, new: NewVersion) -> tuple[DatasetVersion, bool]:
        """Record `new` as the next version of `name` in one transaction.

        Returns the version and whether it was created; identical content
        (same digest) returns the existing version instead.
        """
        now = datetime.now(UTC)
        with self.db.write() as conn:
            dataset_id = self.db.lock_named(conn, ds, name, create_at=now)
            assert dataset_id is not None
            existing = conn.execute(
                sa.select(dv.c.id).where(dv.c.dataset_id == dataset_id, dv.c.digest == new.digest)
            ).scalar()
            if existing is not None:
                return self._by_id(conn, existing), False
            number = self.db.next_number(conn, dv.c.version, dv.c.dataset_id, dataset_id)
            version_id = conn.execute(
                dv.insert()
                .values(
                    dataset_id=dataset_id,
                    version=number,
                    digest=new.digest,
                    format=new.format,
                    size_bytes=new.size_bytes,
                    n_rows=new.n_rows,
                    n_columns=len(new.schema),
                    schema=[{"name": c.name, "dtype": c.dtype} for c in new.schema],
                    profile=new.profile,
                    source=new.source,
                    parent_id=new.parent_id,
                    spec_digest=new.spec_digest,
                    transform=new.transform,
                    created_at=now,
                    created_by=new.created_by,
                    description=new.description,
                )
                .returning(dv.c.id)
            ).scalar_one()
            return self._by_id(conn, version_id), True

    def get(self, ref: Ref) -> DatasetVersion:
        """The version a reference names; NotFound names what was missing."""
        with self.db.read() as conn:
            dataset_id = conn.execute(sa.select(ds.c.id).where(ds.c.name == ref.name)).scalar()
            if dataset_id is None:
                raise NotFound(f"unknown dataset {ref.name!r}: see `mw data list`")
            query = _SELECT.where(dv.c.dataset_id == dataset_id)
            if ref.version is not None:
                row = conn.execute(query.where(dv.c.version == ref.version)).first()
                if row is None:
                    raise NotFound(
                        f"dataset {ref.name!r} has no version {ref.version}: "
                        f"see `mw data show {ref.name}`"
                    )
            elif ref.alias == LATEST:
                row = conn.execute(query.order_by(dv.c.version.desc()).limit(1)).first()
                if row is None:
                    raise NotFound(f"dataset {ref.name!r} has no versions")
            else:
                raise NotFound(
                    f"unknown alias {ref.alias!r} for dataset {ref.name!r}: "
                    "datasets are named by version number or 'latest'"
                )
            return _to_entity(row)

    def find_by_digest(self, name: str, digest: str) -> DatasetVersion | None:
        """The version of `name` holding exactly this content, if there is one."""
        with self.db.read() as conn:
            row = conn.execute(_SELECT.where(ds.c.name == name, dv.c.digest == digest)).first()
        return _to_entity(row) if row is not None else None

    def get_by_id(self, version_id: int) -> DatasetVersion:
        """A version by its database id."""
        with self.db.read() as conn:
            return self._by_id(conn, version_id)

    def _by_id(self, conn: Connection, version_id: int) -> DatasetVersion:
        row = conn.execute(_SELECT.where(dv.c.id == version_id)).first()
        if row is None:
            raise NotFound(f"no dataset version with id {version_id}")
        return _to_entity(row)

    def versions(self, name: str) -> list[DatasetVersion]:
        """Every version of a dataset, oldest first."""
        with self.db.read() as conn:
            rows = conn.execute(_SELECT.where(ds.c.name == name).order_by(dv.c.version)).all()
        if not rows:
            raise NotFound(f"unknown dataset {name!r}: see `mw data list`")
        return [_to_entity(row) for row in rows]

    def summaries(self) -> list[DatasetSummary]:
        """Every dataset with its newest version, by name."""
        newest = (
            sa.select(
                dv.c.dataset_id,
                sa.func.max(dv.c.version).label("latest"),
                sa.func.count().label("n_versions"),
            )
            .group_by(dv.c.dataset_id)
            .subquery()
        )
        query = (
            _SELECT.add_columns(newest.c.n_versions)
            .join(
                newest,
                sa.and_(newest.c.dataset_id == dv.c.dataset_id, newest.c.latest == dv.c.version),
            )
            .order_by(ds.c.name)
        )
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [
            DatasetSummary(name=row.dataset_name, versions=row.n_versions, latest=_to_entity(row))
            for row in rows
        ]

    def children(self, version_id: int) -> list[DatasetVersion]:
        """The versions made from this one by a transform, oldest first."""
        with self.db.read() as conn:
            rows = conn.execute(_SELECT.where(dv.c.parent_id == version_id).order_by(dv.c.id)).all()
        return [_to_entity(row) for row in rows]

    def lineage(self, version: DatasetVersion) -> list[DatasetVersion]:
        """The chain of parents of `version`, nearest first (cycles are impossible)."""
        chain: list[DatasetVersion] = []
        with self.db.read() as conn:
            parent_id = version.parent_id
            while parent_id is not None:
                parent = self._by_id(conn, parent_id)
                chain.append(parent)
                parent_id = parent.parent_id
        return chain


def _to_entity(row: Any) -> DatasetVersion:
    created = as_utc(row.created_at)
    parent_ref = f"{row.parent_name}@{row.parent_version}" if row.parent_name else None
    return DatasetVersion(
        id=row.id,
        name=row.dataset_name,
        version=row.version,
        digest=row.digest,
        format=row.format,
        size_bytes=row.size_bytes,
        n_rows=row.n_rows,
        schema=tuple(ColumnSchema(c["name"], c["dtype"]) for c in row.schema),
        profile=row.profile,
        source=row.source,
        created_at=created,
        created_by=row.created_by,
        parent_id=row.parent_id,
        parent_ref=parent_ref,
        spec_digest=row.spec_digest,
        transform=row.transform,
        description=row.description,
    )
