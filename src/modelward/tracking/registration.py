"""The port through which a run registers the model it stored: `run.log_model(m, name=...)`.

Tracking comes before the registry in the lifecycle, so it cannot call the
registry itself. It defines what it needs, a `Registrar`, and the composition
root (`modelward/__init__.py`) plugs the registry's `register_run` in once per
process. A run may also be given its own registrar (a remote registry, a test).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from modelward.errors import InvalidInput

if TYPE_CHECKING:
    from modelward.store.workspace import Workspace


class Registrar(Protocol):
    """Registers the model run `run_id` stored as the next version of `name`."""

    def __call__(self, workspace: Workspace, run_id: str, name: str) -> Any:
        """Return the new model version."""
        ...


_default: Registrar | None = None


def use_registrar(registrar: Registrar | None) -> None:
    """Make `registrar` the one runs use when they were not given their own."""
    global _default
    _default = registrar


def default_registrar() -> Registrar:
    """The registrar the composition root installed; InvalidInput if there is none."""
    if _default is None:
        raise InvalidInput(
            "no model registry is wired into this process: register the model afterwards "
            "with mw.models.register(run_id, name)"
        )
    return _default
