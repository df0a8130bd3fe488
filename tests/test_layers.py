"""Imports point one way through the lifecycle: no module imports a later stage.

Every module of the package is parsed, and every import in it is checked:
module level, inside functions (lazy imports), under `if TYPE_CHECKING:`, and
`importlib.import_module("modelward....")` with a literal name. A module's
stage is the first component of its name below `modelward` (`modelward.monitoring.drift.psi`
is in `monitoring`), so moving files inside a stage changes nothing here.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import modelward

# Lower numbers come first; a module may import its own stage and earlier ones.
STAGES: dict[str, int] = {
    # base utilities, used by everything
    "errors": 0,
    "identity": 0,
    "config": 0,
    "refs": 0,
    "serialization": 0,
    "version": 0,
    "yaml_files": 0,
    "cluster": 0,  # connecting to a Dask cluster: pipelines and `mw predict` share it
    "store": 1,
    "data": 2,
    "tracking": 3,
    "training": 4,
    "evaluation": 5,
    "registry": 6,
    "monitoring": 7,
    "pipelines": 8,  # they build datasets from the prediction log; an alert starts one
    "serving": 9,
    # composition roots: they know every stage
    "demo": 10,
    "demo_server": 10,
    "cli": 10,
    "server": 10,
    "__init__": 10,
    "__main__": 10,
}

PACKAGE_ROOT = Path(modelward.__file__).resolve().parent


@dataclass(frozen=True)
class Import:
    """One import of a modelward module found in a source file."""

    module: str  # the importing module, e.g. modelward.tracking.run
    line: int
    target: str  # the imported module, e.g. modelward.registry.service

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.target}"


def module_name(path: Path, root: Path) -> str:
    """`modelward.tracking.run` for root/tracking/run.py (`modelward` for __init__.py)."""
    parts = ["modelward", *path.relative_to(root).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def stage_of(module: str) -> str:
    """The first component below `modelward`; the package itself is the `__init__` root."""
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    return parts[1]


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _is_module(name: str, root: Path) -> bool:
    relative = Path(*name.split(".")[1:])
    return (root / relative).with_suffix(".py").is_file() or (root / relative).is_dir()


def _imports_by_name(call: ast.Call) -> bool:
    """`importlib.import_module("modelward.x")` or `__import__("modelward.x")`."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    first = call.args[0] if call.args else None
    literal = isinstance(first, ast.Constant) and isinstance(first.value, str)
    return literal and name in ("import_module", "__import__")


def imports_of(path: Path, root: Path) -> Iterator[Import]:
    """Every modelward import in one file, wherever it appears in the file."""
    module = module_name(path, root)
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(node, module, is_package)
            if source == "modelward":
                # `from modelward import data` names a module; `import __version__` the root
                for alias in node.names:
                    name = f"modelward.{alias.name}"
                    targets.append(name if _is_module(name, root) else "modelward")
            else:
                targets = [source]
        elif isinstance(node, ast.Call) and _imports_by_name(node):
            first = node.args[0]
            assert isinstance(first, ast.Constant)
            targets = [str(first.value)]
        for target in targets:
            if target == "modelward" or target.startswith("modelward."):
                yield Import(module, getattr(node, "lineno", 0), target)


def all_imports(root: Path) -> list[Import]:
    """The imports of every module under `root` (the `modelward` package folder)."""
    found: list[Import] = []
    for path in sorted(root.rglob("*.py")):
        found.extend(imports_of(path, root))
    return found


def unplaced(root: Path) -> list[str]:
    """Modules whose stage is not in STAGES."""
    names = {module_name(path, root) for path in root.rglob("*.py")}
    return sorted(name for name in names if stage_of(name) not in STAGES)


def upward(root: Path) -> list[Import]:
    """Imports of a later stage than the importing module's own."""
    return [
        found
        for found in all_imports(root)
        if STAGES.get(stage_of(found.target), -1) > STAGES.get(stage_of(found.module), 99)
    ]


def test_every_module_has_a_place_in_the_lifecycle() -> None:
    assert unplaced(PACKAGE_ROOT) == [], "add these stages to STAGES in tests/test_layers.py"


def test_no_import_points_up_the_lifecycle() -> None:
    violations = [str(found) for found in upward(PACKAGE_ROOT)]
    assert violations == []


def test_the_scan_sees_lazy_type_checking_relative_and_dynamic_imports(tmp_path: Path) -> None:
    root = tmp_path / "modelward"
    (root / "tracking").mkdir(parents=True)
    (root / "registry").mkdir()
    (root / "registry" / "service.py").write_text("")
    (root / "tracking" / "__init__.py").write_text("")
    (root / "tracking" / "run.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "from modelward.store import workspace\n"  # downward: fine
        "if TYPE_CHECKING:\n"
        "    from modelward.registry.service import ModelRegistry\n"
        "def log_model():\n"
        "    import modelward.serving.app\n"
        "    from ..registry import service\n"
        "    from modelward import registry\n"
        "    importlib.import_module('modelward.monitoring.alerts')\n"
    )
    found = [(i.line, i.target) for i in upward(root)]
    assert found == [
        (4, "modelward.registry.service"),
        (6, "modelward.serving.app"),
        (7, "modelward.registry"),
        (8, "modelward.registry"),
        (9, "modelward.monitoring.alerts"),
    ]
