"""Settings read from the environment once per process."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from modelward.errors import InvalidInput

DEFAULT_PROTECTED_ALIASES = ("production",)
DEFAULT_MAX_UPLOAD_MB = 10 * 1024  # one artifact a team server accepts (10 GiB)


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

    @property
    def remote(self) -> bool:
        """True when a team server, not a local store, holds everything."""
        return self.uri is not None

    @property
    def artifact_root(self) -> Path:
        """The local artifact directory (object stores are a later addition)."""
        if "://" in self.artifacts and not self.artifacts.startswith("file://"):
            raise InvalidInput(
                f"MODELWARD_ARTIFACTS={self.artifacts!r}: only local paths are supported yet"
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
    )
