"""Settings read from the environment once per process."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from modelward.errors import InvalidInput

DEFAULT_PROTECTED_ALIASES = ("production",)
DEFAULT_MAX_UPLOAD_MB = 10 * 1024  # one artifact a team server accepts (10 GiB)
# S3's rules for a bucket name (3-63 lowercase letters, digits, dots, hyphens)
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_PREFIX_PART = re.compile(r"[A-Za-z0-9!_.*'()=+,@-]+")


@dataclass(frozen=True)
class S3Location:
    """Where an S3 artifact store keeps its objects: `s3://bucket/prefix`."""

    bucket: str
    prefix: str  # "" or parts joined by "/" (no leading or trailing slash)

    @property
    def url(self) -> str:
        """The location as written in MODELWARD_ARTIFACTS."""
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")


def s3_location(value: str) -> S3Location:
    """MODELWARD_ARTIFACTS=s3://bucket[/prefix] checked: a valid bucket name, a plain prefix."""
    rest = value.strip().removeprefix("s3://")
    bucket, _, prefix = rest.partition("/")
    prefix = prefix.strip("/")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise InvalidInput(
            f"MODELWARD_ARTIFACTS={value!r}: {bucket!r} is not an S3 bucket name "
            "(3-63 lowercase letters, digits, dots or hyphens); use s3://bucket/prefix"
        )
    parts = prefix.split("/") if prefix else []
    if any(part in (".", "..") or not _PREFIX_PART.fullmatch(part) for part in parts):
        raise InvalidInput(
            f"MODELWARD_ARTIFACTS={value!r}: the prefix {prefix!r} may hold only letters, digits "
            "and !_.*'()=+,@- between single slashes (no '.' or '..' parts)"
        )
    return S3Location(bucket, prefix)


@dataclass(frozen=True)
class Settings:
    """Where modelward keeps its metadata and artifacts, or which server keeps them."""

    home: Path
    db_url: str
    artifacts: str
    # MODELWARD_URI: a team server every command and the Python API talk to instead
    uri: str | None = None
    token: str | None = None
    protected_aliases: tuple[str, ...] = DEFAULT_PROTECTED_ALIASES
    # MODELWARD_MAX_UPLOAD_MB: the largest artifact upload a team server stores
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_MB << 20
    # MODELWARD_PREDICTION_LOG: "database", "segments", or "" (segments with an S3 store)
    prediction_log: str = ""

    @property
    def remote(self) -> bool:
        """True when a team server, not a local store, holds everything."""
        return self.uri is not None

    @property
    def s3_artifacts(self) -> S3Location | None:
        """The S3 location of the artifact store, or None for a local folder."""
        return s3_location(self.artifacts) if self.artifacts.startswith("s3://") else None

    @property
    def log_segments(self) -> bool:
        """Whether the prediction log is kept as Parquet segments beside the artifacts
        (the default with an S3 store) rather than in the metadata database."""
        if self.prediction_log:
            return self.prediction_log == "segments"
        return self.artifacts.startswith("s3://")

    @property
    def artifact_root(self) -> Path:
        """The local artifact directory (InvalidInput when the store is an object store)."""
        if self.artifacts.startswith("s3://"):
            raise InvalidInput(
                f"this needs a local artifact folder, but MODELWARD_ARTIFACTS={self.artifacts!r} "
                "names an S3 bucket"
            )
        if "://" in self.artifacts and not self.artifacts.startswith("file://"):
            raise InvalidInput(
                f"MODELWARD_ARTIFACTS={self.artifacts!r}: give a local folder or s3://bucket/prefix"
            )
        return Path(self.artifacts.removeprefix("file://"))

    def __repr__(self) -> str:  # never print the token
        token = "set" if self.token else None
        return (
            f"Settings(home={str(self.home)!r}, uri={self.uri!r}, token={token!r}, "
            f"protected_aliases={self.protected_aliases!r})"
        )


def server_uri(value: str) -> str:
    """MODELWARD_URI checked: `http(s)://host[:port]`, without credentials or a query."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"MODELWARD_URI={value!r} is not a server address: use http://host:port")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise InvalidInput(
            f"MODELWARD_URI={value!r}: give the address only; the token goes in MODELWARD_TOKEN"
        )
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def protected_aliases(value: str | None) -> tuple[str, ...]:
    """MODELWARD_PROTECTED_ALIASES: comma-separated alias names (default `production`)."""
    if value is None:
        return DEFAULT_PROTECTED_ALIASES
    return tuple(sorted({name.strip() for name in value.split(",") if name.strip()}))


def max_upload_bytes(value: str | None) -> int:
    """MODELWARD_MAX_UPLOAD_MB: a positive number of MiB (default 10240), in bytes."""
    if value is None or not value.strip():
        return DEFAULT_MAX_UPLOAD_MB << 20
    try:
        megabytes = float(value)
    except ValueError:
        megabytes = float("nan")
    if not 0 < megabytes < float(1 << 43):  # NaN fails too
        raise InvalidInput(
            f"MODELWARD_MAX_UPLOAD_MB={value!r} is not a size: give a positive number of MiB"
        )
    return max(1, int(megabytes * (1 << 20)))


def prediction_log_kind(value: str | None) -> str:
    """MODELWARD_PREDICTION_LOG: `database` or `segments` ("" or unset: chosen by the store)."""
    kind = (value or "").strip().lower()
    if kind not in ("", "database", "segments"):
        raise InvalidInput(
            f"MODELWARD_PREDICTION_LOG={value!r}: give 'database' or 'segments' "
            "(unset: segments with an S3 artifact store, else the database)"
        )
    return kind


def load_settings(environ: os._Environ[str] | dict[str, str] | None = None) -> Settings:
    """Read the MODELWARD_* variables (see PRODUCT.md, "Configuration")."""
    env = os.environ if environ is None else environ
    home = Path(env.get("MODELWARD_HOME") or ".modelward").expanduser().absolute()
    db_url = env.get("MODELWARD_DB") or f"sqlite:///{home / 'modelward.db'}"
    artifacts = env.get("MODELWARD_ARTIFACTS") or str(home / "blobs")
    uri = env.get("MODELWARD_URI") or None
    return Settings(
        home=home,
        db_url=db_url,
        artifacts=artifacts,
        uri=server_uri(uri) if uri else None,
        token=env.get("MODELWARD_TOKEN") or None,
        protected_aliases=protected_aliases(env.get("MODELWARD_PROTECTED_ALIASES")),
        max_upload_bytes=max_upload_bytes(env.get("MODELWARD_MAX_UPLOAD_MB")),
        prediction_log=prediction_log_kind(env.get("MODELWARD_PREDICTION_LOG")),
    )
