"""The dataset catalog: collect, version, profile, transform, export and compare data."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelward.data.entities import ColumnSchema, DatasetSummary, DatasetVersion, NewVersion
from modelward.data.formats import (
    check_table,
    format_of,
    read_table,
    table_from_frame,
    write_table,
)
from modelward.data.ports import dataset_store
from modelward.errors import InvalidInput, NotFound
from modelward.identity import current_user
from modelward.refs import Ref, validate_name
from modelward.store.artifacts import DIR_MODE
from modelward.store.workspace import Workspace

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from modelward.data.compare import DatasetDiff

Progress = Callable[[str], None]


def _quiet(_stage: str) -> None:
    return None


class DatasetCatalog:
    """Datasets of one workspace. Every method validates its input before writing."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.repository = dataset_store(workspace)

    # -- collect ---------------------------------------------------------------
    def add_file(
        self,
        path: Path | str,
        name: str,
        *,
        description: str | None = None,
        progress: Progress = _quiet,
    ) -> tuple[DatasetVersion, bool]:
        """Add a CSV, Parquet or JSON lines file; returns (version, created)."""
        validate_name(name, "dataset name")
        path = Path(path)
        fmt = format_of(path)
        if not path.exists():
            raise InvalidInput(f"no such file: {path}")
        if not path.is_file():
            raise InvalidInput(f"{path} is not a regular file")
        if not os.access(path, os.R_OK):
            raise InvalidInput(f"cannot read {path}: permission denied")
        progress("hashing and copying")
        # The copy is read from (it is what gets stored, even if the source
        # changes meanwhile) and enters the store only once it parsed and
        # profiled: a file that fails leaves nothing behind.
        with self.workspace.artifacts.stage_file(path) as staged:
            existing = self._existing(name, staged.digest)
            if existing is not None:
                return existing, False
            progress("reading")
            table = read_table(staged.path, fmt, label=str(path))
            source = {"kind": "file", "path": str(path.absolute()), "original_name": path.name}
            new = self._new_version(
                staged.digest, staged.size, fmt, table, source, description, progress
            )
            staged.commit()
        progress("recording")
        return self.repository.add_version(name, new)

    def add_frame(
        self,
        frame: pd.DataFrame,
        name: str,
        *,
        source: Mapping[str, Any] | None = None,
        description: str | None = None,
        progress: Progress = _quiet,
    ) -> tuple[DatasetVersion, bool]:
        """Add a pandas DataFrame, stored as Parquet; returns (version, created)."""
        validate_name(name, "dataset name")
        table = check_table(table_from_frame(frame), "the DataFrame")
        return self._add_table(
            table, name, dict(source or {"kind": "dataframe"}), description, progress
        )

    def import_sql(
        self, url: str, query: str, name: str, *, progress: Progress = _quiet
    ) -> tuple[DatasetVersion, bool]:
        """Run `query` against any SQLAlchemy URL and add the result as a dataset version."""
        import pandas as pd
        import sqlalchemy as sa

        validate_name(name, "dataset name")
        if not query or not query.strip():
            raise InvalidInput("empty --query: give the SQL SELECT to import")
        try:
            engine = sa.create_engine(url)
        except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
            raise InvalidInput(f"bad --url {url!r}: {exc}") from None
        redacted = engine.url.render_as_string(hide_password=True)
        progress("querying")
        try:
            with engine.connect() as conn:
                frame = pd.read_sql_query(sa.text(query), conn)
        except (sa.exc.SQLAlchemyError, pd.errors.DatabaseError) as exc:
            cause = exc.__cause__ if isinstance(exc, pd.errors.DatabaseError) else exc
            if isinstance(cause, sa.exc.DBAPIError):
                cause = cause.orig
            message = " ".join(str(cause).split())[:200]
            raise InvalidInput(f"the query failed on {redacted}: {message}") from None
        finally:
            engine.dispose()
        table = check_table(table_from_frame(frame), "the query result")
        source = {"kind": "sql", "url": redacted, "query": query}
        return self._add_table(table, name, source, None, progress)

    def _add_table(
        self,
        table: pa.Table,
        name: str,
        source: dict[str, Any],
        description: str | None,
        progress: Progress,
        *,
        lineage: dict[str, Any] | None = None,
    ) -> tuple[DatasetVersion, bool]:
        progress("storing")
        digest = self._put_parquet(table)
        existing = self._existing(name, digest)
        if existing is not None:
            return existing, False
        size = self.workspace.artifacts.size_of(digest)
        new = self._new_version(
            digest, size, "parquet", table, source, description, progress, lineage=lineage
        )
        progress("recording")
        return self.repository.add_version(name, new)

    def _put_parquet(self, table: pa.Table) -> str:
        home = self.workspace.settings.home
        # a client of a team server may not have made its home yet
        home.mkdir(parents=True, mode=DIR_MODE, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(suffix=".parquet", dir=home)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            write_table(table, tmp, "parquet")
            return self.workspace.artifacts.put_file(tmp)
        finally:
            tmp.unlink(missing_ok=True)

    def _existing(self, name: str, digest: str) -> DatasetVersion | None:
        return self.repository.find_by_digest(name, digest)

    def _new_version(
        self,
        digest: str,
        size: int,
        fmt: str,
        table: pa.Table,
        source: dict[str, Any],
        description: str | None,
        progress: Progress,
        *,
        lineage: dict[str, Any] | None = None,
    ) -> NewVersion:
        from modelward.data.profile import compute_profile

        progress("profiling")
        profile = compute_profile(table).to_dict()
        lineage = lineage or {}
        return NewVersion(
            digest=digest,
            format=fmt,
            size_bytes=size,
            n_rows=table.num_rows,
            schema=tuple(ColumnSchema(f.name, str(f.type)) for f in table.schema),
            profile=profile,
            source=source,
            created_by=current_user(),
            description=description,
            parent_id=lineage.get("parent_id"),
            spec_digest=lineage.get("spec_digest"),
            transform=lineage.get("transform"),
        )

    def record_version(self, name: str, new: NewVersion) -> tuple[DatasetVersion, bool]:
        """Record a version whose bytes were stored by someone else (a team server's
        client): refused unless this workspace's store holds them, at the size claimed,
        and the parent it names exists."""
        validate_name(name, "dataset name")
        artifacts = self.workspace.artifacts
        if not artifacts.exists(new.digest):
            raise InvalidInput(
                f"artifact {new.digest[:12]} is not in the server's store: upload the file "
                f"first (PUT /api/v1/artifacts/{new.digest})",
                field="digest",
            )
        stored = artifacts.size_of(new.digest)
        if stored != new.size_bytes:
            raise InvalidInput(
                f"size_bytes is {new.size_bytes:,} but artifact {new.digest[:12]} holds "
                f"{stored:,} bytes",
                field="size_bytes",
            )
        if new.parent_id is not None:
            try:
                self.repository.get_by_id(new.parent_id)
            except NotFound:
                raise InvalidInput(
                    f"parent_id {new.parent_id} names no dataset version", field="parent_id"
                ) from None
        return self.repository.add_version(name, new)

    # -- read ------------------------------------------------------------------
    def get(self, ref: str | Ref) -> DatasetVersion:
        """The version a reference (`name`, `name@3`, `name@latest`) names."""
        return self.repository.get(ref if isinstance(ref, Ref) else Ref.parse(ref))

    def summaries(self) -> list[DatasetSummary]:
        """Every dataset with its newest version."""
        return self.repository.summaries()

    def versions(self, name: str) -> list[DatasetVersion]:
        """Every version of one dataset, oldest first."""
        return self.repository.versions(validate_name(name, "dataset name"))

    def lineage(self, version: DatasetVersion) -> list[DatasetVersion]:
        """The parents of a version, nearest first."""
        return self.repository.lineage(version)

    def load_table(self, ref: str | Ref | DatasetVersion) -> pa.Table:
        """The version's data as an Arrow table, verified against its digest."""
        version = ref if isinstance(ref, DatasetVersion) else self.get(ref)
        path = self.workspace.artifacts.local_path(version.digest)
        return read_table(path, version.format, label=version.ref)

    def load_frame(self, ref: str | Ref | DatasetVersion) -> pd.DataFrame:
        """The version's data as a pandas DataFrame."""
        frame: pd.DataFrame = self.load_table(ref).to_pandas()
        return frame

    # -- derive ----------------------------------------------------------------
    def transform(
        self,
        ref: str | Ref,
        spec: str | Path | Mapping[str, Any],
        name: str,
        *,
        progress: Progress = _quiet,
    ) -> tuple[DatasetVersion, bool]:
        """Fit a transform spec on a version and record the output as a new dataset version.

        The fitted parameters are stored with the output, so the same transform
        can be replayed on new rows later (`FittedTransform.apply`).
        """
        from modelward.data.preprocess import fit_transform, parse_spec

        validate_name(name, "dataset name")
        parsed = parse_spec(_spec_source(spec))
        parent = self.get(ref)
        progress("reading")
        frame = self.load_frame(parent)
        progress("transforming")
        fitted, output = fit_transform(parsed, frame)
        table = check_table(
            table_from_frame(output), f"the output of the transform of {parent.ref}"
        )
        source = {"kind": "transform", "parent": parent.ref}
        lineage = {
            "parent_id": parent.id,
            "spec_digest": parsed.digest(),
            "transform": fitted.to_dict(),
        }
        return self._add_table(table, name, source, None, progress, lineage=lineage)

    def split(
        self,
        ref: str | Ref,
        *,
        fraction: float,
        names: tuple[str, str],
        seed: int = 0,
        stratify: str | None = None,
        progress: Progress = _quiet,
    ) -> tuple[DatasetVersion, DatasetVersion]:
        """Split a version's rows at random (by `seed`) into two new versions, the second
        holding `fraction` of them (a hold-out nobody trains on); `stratify` keeps a
        column's class shares in both when every class has at least two rows.

        Both record the version they came from, so lineage runs through them.
        """
        from sklearn.model_selection import train_test_split

        for name in names:
            validate_name(name, "dataset name")
        if not 0.0 < fraction < 1.0:
            raise InvalidInput(f"a hold-out fraction is between 0 and 1, got {fraction}")
        parent = self.get(ref)
        progress("reading")
        frame = self.load_frame(parent)
        if len(frame) < 2:
            raise InvalidInput(f"{parent.ref} has {len(frame)} row(s): too few to hold any out")
        labels = None
        if stratify is not None:
            if stratify not in frame.columns:
                raise InvalidInput(f"{parent.ref} has no column {stratify!r}")
            counts = frame[stratify].value_counts(dropna=False)
            held = round(len(frame) * fraction)
            # stratified only where scikit-learn can: every class twice, a class per side
            if counts.min() >= 2 and len(counts) <= min(held, len(frame) - held):
                labels = frame[stratify]
        kept, held_out = train_test_split(
            frame, test_size=fraction, random_state=seed, stratify=labels
        )
        lineage = {"parent_id": parent.id}
        made = []
        for part, rows, name in (("rest", kept, names[0]), ("hold-out", held_out, names[1])):
            table = check_table(table_from_frame(rows.sort_index()), f"the {part} of {parent.ref}")
            source = {
                "kind": "split",
                "parent": parent.ref,
                "part": part,
                "fraction": fraction,
                "seed": seed,
            }
            made.append(self._add_table(table, name, source, None, progress, lineage=lineage)[0])
        return made[0], made[1]

    def export(self, ref: str | Ref, path: Path | str) -> tuple[DatasetVersion, Path]:
        """Write a version to `path`, in the format its suffix names."""
        path = Path(path)
        fmt = format_of(path)
        version = self.get(ref)
        return version, write_table(self.load_table(version), path, fmt)

    def diff(self, a: str | Ref, b: str | Ref) -> DatasetDiff:
        """Schema, row-count and per-column statistic changes from version a to b."""
        from modelward.data.compare import diff_profiles
        from modelward.data.profile import DatasetProfile

        first, second = self.get(a), self.get(b)
        return diff_profiles(
            DatasetProfile.from_dict(first.profile), DatasetProfile.from_dict(second.profile)
        )


def _spec_source(spec: str | Path | Mapping[str, Any]) -> str | Mapping[str, Any]:
    if isinstance(spec, Mapping):
        return spec
    path = Path(spec)
    if isinstance(spec, Path) or (len(str(spec)) < 4096 and "\n" not in str(spec)):
        if not path.is_file():
            raise InvalidInput(f"no such spec file: {path}")
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"cannot read spec {path}: {exc}") from None
    return str(spec)
