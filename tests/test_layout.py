"""The import direction (STYLE.md P1): the domain knows nothing of the infrastructure.

``states/`` and ``handlers/`` are data and pure functions: they may not import
the database, the scheduler, logging, the state-machine library or the engine.
``states/`` imports nothing else of the project. ``scheduler/`` decides nothing:
it may use the engine, never the domain's internals directly. Checked on the
source's syntax tree, so an import inside a function counts too.
"""

from __future__ import annotations

import ast
import re
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


# --- inside workflow/: one package per audience -------------------------------------------------

#: Where each of workflow's modules stands. Leaves know nothing of the project; the store
#: knows the leaves; the audit tools read the store; the engine's core uses all three;
#: the interfaces (http, demo, cli) sit on top, and only the CLI may reach http and demo.
LAYERS = {
    "leaf": {"workflow.errors", "workflow.clock", "workflow.canonical", "workflow.merkle"},
    "store": {"workflow.store"},
    "audit": {"workflow.audit"},
    "core": {
        "workflow",
        "workflow.engine",
        "workflow.step",
        "workflow.prepare",
        "workflow.sequencer",
        "workflow.machine",
        "workflow.config",
        "workflow.results",
        "workflow.logconfig",
        "workflow.diagrams",
        "workflow.protocol",
    },
    "http": {"workflow.http"},
    "demo": {"workflow.demo"},
    "cli": {"workflow.cli", "workflow.__main__"},
}
MAY_USE = {
    "leaf": {"leaf"},
    "store": {"leaf", "store"},
    "audit": {"leaf", "store", "audit"},
    "core": {"leaf", "store", "audit", "core"},
    "http": {"leaf", "store", "audit", "core", "http"},
    "demo": {"leaf", "core", "audit", "demo"},
    "cli": set(LAYERS),
}
# Outside workflow/: the scheduler is an interface too, and uses the public API only.
OUTSIDE = {"scheduler": {"workflow"}}


def module_name(path: Path) -> str:
    """``workflow/store/db.py`` -> ``workflow.store.db``; a package's ``__init__`` is the package."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_imports(path: Path) -> set[str]:
    """The workflow modules a file imports at run time (not under ``if TYPE_CHECKING``), anywhere in it."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for statement in node.body
        for inner in ast.walk(statement)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "workflow"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "workflow":
            # `from workflow.store import eventlog` imports the submodule when there is one.
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                is_module = (ROOT / Path(*candidate.split("."))).with_suffix(".py").exists() or (
                    ROOT / Path(*candidate.split("."))
                ).is_dir()
                found.add(candidate if is_module else node.module)
    return found


def layer_of(module: str) -> str:
    """The layer a workflow module belongs to: the longest matching prefix."""
    best = ""
    for layer, prefixes in LAYERS.items():
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > len(best):
                best, chosen = prefix, layer
    assert best, f"{module} is in no layer of tests/test_layout.py: place it"
    return chosen


def workflow_graph() -> dict[str, set[str]]:
    """Every workflow module and the workflow modules it imports."""
    return {
        module_name(path): project_imports(path)
        for path in sorted((ROOT / "workflow").rglob("*.py"))
        if "migrations" not in path.parts
    }


def test_every_module_is_placed_and_points_down() -> None:
    wrong = {
        module: sorted(i for i in imported if layer_of(i) not in MAY_USE[layer_of(module)])
        for module, imported in workflow_graph().items()
    }
    assert {m: bad for m, bad in wrong.items() if bad} == {}


def test_the_scheduler_uses_the_public_api_only() -> None:
    wrong = {
        str(path.relative_to(ROOT)): sorted(i for i in project_imports(path) if i not in OUTSIDE["scheduler"])
        for path in sorted((ROOT / "scheduler").rglob("*.py"))
    }
    assert {path: bad for path, bad in wrong.items() if bad} == {}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle among ``graph``'s modules, or None (depth-first search)."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done or module not in graph:
            return None
        for imported in sorted(graph[module]):
            if imported == module or (module == "workflow" and imported.startswith("workflow.")):
                continue  # the package's lazy __getattr__ loads on demand, after its own import
            cycle = visit(imported, [*path, module])
            if cycle:
                return cycle
        done.add(module)
        return None

    for module in sorted(graph):
        cycle = visit(module, [])
        if cycle:
            return cycle
    return None


def test_no_import_circle() -> None:
    assert find_cycle(workflow_graph()) is None


def test_the_circle_check_finds_a_circle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_module_over_400_lines() -> None:
    """Small modules whose names explain them (the domain's handlers are the next to split)."""
    long = {
        str(path.relative_to(ROOT)): n
        for package in ("workflow", "scheduler")
        for path in sorted((ROOT / package).rglob("*.py"))
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert long == {}


def test_the_map_in_concepts_matches_the_tree() -> None:
    """``docs/concepts.md``'s map names every module of workflow/, and every path it names exists."""
    text = (ROOT / "docs" / "concepts.md").read_text(encoding="utf-8")
    the_map = text[text.index("## A map of the code") :]
    rows = {
        line.split("|")[1].strip(): line for line in the_map.splitlines() if line.startswith("| `workflow/")
    }
    missing = []
    for path in sorted((ROOT / "workflow").rglob("*.py")):
        relative = path.relative_to(ROOT / "workflow")
        if (
            "migrations" in relative.parts
            or path.name in ("__main__.py",)
            or (path.name == "__init__.py" and len(relative.parts) > 1)
        ):
            continue
        package = f"`workflow/{'/'.join(relative.parts[:-1])}/`" if len(relative.parts) > 1 else None
        holders = [row for first, row in rows.items() if package is None or first == package]
        if not any(f"`{path.name}`" in row or f"/{path.name}`" in row for row in holders):
            missing.append(str(relative))
    assert missing == []
    named = {m.strip("`") for m in re.findall(r"`workflow/[\w/.]+`", the_map)}
    assert sorted(p for p in named if not (ROOT / p).exists()) == []
