"""The import direction (STYLE.md P1): the domain knows nothing of the infrastructure.

``states/`` and ``handlers/`` are data and pure functions: they may not import
the database, the scheduler, logging, the state-machine library or the engine.
``states/`` imports nothing else of the project. ``scheduler/`` decides nothing:
it may use the engine, never the domain's internals directly. Checked on the
source's syntax tree, so an import inside a function counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
INFRASTRUCTURE = (
    "sqlmodel",
    "sqlalchemy",
    "apscheduler",
    "structlog",
    "transitions",
    "workflow",
    "scheduler",
)
FORBIDDEN = {
    "states": (*INFRASTRUCTURE, "handlers"),
    "handlers": INFRASTRUCTURE,
    "scheduler": ("transitions", "sqlmodel"),
}


def imports(path: Path) -> set[str]:
    """Every top-level module a file imports, wherever the import statement is."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_import_direction(package: str) -> None:
    broken = {
        str(path.relative_to(ROOT)): sorted(imports(path) & set(FORBIDDEN[package]))
        for path in sorted((ROOT / package).rglob("*.py"))
    }
    assert {path: names for path, names in broken.items() if names} == {}


def test_the_check_sees_imports_inside_functions(tmp_path: Path) -> None:
    """The walk finds an import hidden in a function body (the way CLI code imports lazily)."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    import sqlalchemy.orm\n    from workflow.engine import Engine\n")
    assert imports(module) == {"sqlalchemy", "workflow"}
