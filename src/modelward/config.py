"""Settings read from the environment once per process."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from modelward.errors import InvalidInput


@dataclass(frozen=True)
class Settings:
    """Where modelward keeps its metadata and artifacts."""

    home: Path
    db_url: str
    artifacts: str

    @property
    def artifact_root(self) -> Path:
        """The local artifact directory (object stores are a later addition)."""
        if "://" in self.artifacts and not self.artifacts.startswith("file://"):
            raise InvalidInput(
                f"MODELWARD_ARTIFACTS={self.artifacts!r}: only local paths are supported yet"
            )
        return Path(self.artifacts.removeprefix("file://"))


def load_settings(environ: os._Environ[str] | dict[str, str] | None = None) -> Settings:
    """Read MODELWARD_HOME, MODELWARD_DB and MODELWARD_ARTIFACTS (see PRODUCT.md)."""
    env = os.environ if environ is None else environ
    home = Path(env.get("MODELWARD_HOME") or ".modelward").expanduser().absolute()
    db_url = env.get("MODELWARD_DB") or f"sqlite:///{home / 'modelward.db'}"
    artifacts = env.get("MODELWARD_ARTIFACTS") or str(home / "blobs")
    return Settings(home=home, db_url=db_url, artifacts=artifacts)
