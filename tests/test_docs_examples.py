"""Every shell and Python block of README.md and docs/*.md runs as written, on a fresh database.

Each page runs in a temporary folder, as a reader would from the repository's
root (``workflow/``, ``tests/`` and ``alembic.ini`` are linked into it, the venv's ``filiere``
is first on PATH, no ``FILIERE_DATABASE_URL``): its blocks in order, sharing
one shell environment (an ``export`` carries on to the next block) and one
Python namespace. A shell command must exit 0, or the code its comment names
(``# exit 5: …``); a Python expression followed by a comment that is itself
an expression (``engine.get(...).state  # 'listed'``) must equal it. A block
preceded by ``<!-- not-run: why -->`` is skipped (a server, an installation).
"""

from __future__ import annotations

import ast
import io
import os
import re
import subprocess
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parent.parent
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
SLOW = {"auditors.md", "operators.md", "embedding.md"}
RUN = {"sh": "sh", "console": "sh", "python": "python"}
NOT_RUN = re.compile(r"<!--\s*not-run:\s*\S.*-->")


@dataclass(frozen=True)
class Block:
    """One fenced code block: its language, first line number and text."""

    language: str
    line: int
    text: str
    not_run: bool


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of a Markdown page, each with whether a not-run comment precedes it."""
    found: list[Block] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = re.match(r"^```(\w*)\s*$", lines[index])
        if not opening:
            index += 1
            continue
        start = index
        index += 1
        while not lines[index].startswith("```"):
            index += 1
        previous = next((line for line in reversed(lines[:start]) if line.strip()), "")
        text = "\n".join(lines[start + 1 : index]) + "\n"
        found.append(Block(opening.group(1), start + 2, text, bool(NOT_RUN.search(previous))))
        index += 1
    return found


def commands(text: str, first_line: int) -> list[tuple[int, str]]:
    """The text cut into complete shell commands (a loop or a continued line is one), with line numbers."""
    found: list[tuple[int, str]] = []
    pending: list[str] = []
    start = first_line
    for number, line in enumerate(text.splitlines(), start=first_line):
        if not pending:
            start = number
        pending.append(line)
        chunk = "\n".join(pending)
        if chunk.rstrip().endswith("\\"):
            continue
        complete = subprocess.run(["bash", "-n", "-c", chunk], capture_output=True, check=False)
        if complete.returncode == 0:
            if chunk.strip() and not all(p.lstrip().startswith("#") or not p.strip() for p in pending):
                found.append((start, chunk))
            pending = []
    assert not pending, f"line {start}: an incomplete shell command"
    return found


def shell_script(block: Block) -> str:
    """The block as a bash script that stops at the first command exiting otherwise than documented."""
    text = block.text
    if block.language == "console":
        text = "\n".join(line[2:] for line in text.splitlines() if line.startswith("$ ")) + "\n"
    out = []
    for line, command in commands(text, block.line):
        expected = re.search(r"#\s*exit (\d+)", command)
        code = expected.group(1) if expected else "0"
        out.append(
            f"{{\n{command}\n}} && __rc=0 || __rc=$?\n"
            f'[ $__rc -eq {code} ] || {{ echo "markdown line {line}: exit $__rc, not {code}" >&2; exit 1; }}'
        )
    return "\n".join(out) + "\n"


def run_shell(block: Block, page: Path, folder: Path, environment: Path) -> None:
    script = folder / ".block.sh"
    script.write_text(
        f"set -o pipefail\nsource {environment}\n" + shell_script(block) + f"export -p > {environment}\n",
        encoding="utf-8",
    )
    done = subprocess.run(["bash", script], cwd=folder, capture_output=True, text=True, check=False)
    assert done.returncode == 0, (
        f"{page.name}:{block.line}: the shell block failed\n{block.text}\n"
        f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    )


def checked_python(block: Block) -> ast.Module:
    """The block's code, each ``expression  # value``, at any depth, made ``assert expression == value``."""
    comments = {
        token.start[0]: token.string.lstrip("#").strip()
        for token in tokenize.generate_tokens(io.StringIO(block.text).readline)
        if token.type == tokenize.COMMENT
    }

    class Checks(ast.NodeTransformer):
        def visit_Expr(self, statement: ast.Expr) -> ast.stmt:
            comment = comments.get(statement.end_lineno or 0, "")
            try:
                expected = ast.parse(comment, mode="eval").body if comment else None
            except SyntaxError:
                expected = None
            if expected is None:
                return statement
            check = ast.Assert(
                test=ast.Compare(left=statement.value, ops=[ast.Eq()], comparators=[expected]),
                msg=ast.Constant(f"line {block.line + statement.lineno - 1}: not {comment}"),
            )
            return ast.copy_location(check, statement)

    return ast.fix_missing_locations(Checks().visit(ast.parse(block.text)))


def run_python(block: Block, page: Path, namespace: dict[str, Any]) -> None:
    code = compile(checked_python(block), f"{page.name}:{block.line}", "exec")
    exec(code, namespace)


@pytest.mark.parametrize(
    "page",
    [pytest.param(p, id=p.name, marks=[pytest.mark.slow] if p.name in SLOW else []) for p in PAGES],
)
def test_the_page_runs_as_written(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("workflow", "tests", "alembic.ini"):
        (tmp_path / name).symlink_to(ROOT / name)
    environment = tmp_path / ".environment"
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    variables = {k: v for k, v in os.environ.items() if not k.startswith("FILIERE_")}
    environment.write_text(
        "".join(f"export {k}={_quoted(v)}\n" for k, v in {**variables, "PATH": path}.items()),
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FILIERE_DATABASE_URL", raising=False)
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    try:
        for block in blocks(page):
            if block.not_run or block.language not in RUN:
                continue
            if RUN[block.language] == "sh":
                run_shell(block, page, tmp_path, environment)
            else:
                run_python(block, page, namespace)
    finally:
        for value in namespace.values():
            if type(value).__name__ == "Engine" and hasattr(value, "close"):
                value.close()


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def test_the_runner_sees_a_wrong_value_and_a_wrong_exit_code(tmp_path: Path) -> None:
    """The checks can fail: a documented value that is not the result, a command that exits otherwise."""
    wrong = Block("python", 1, "x = 2\nif x:\n    x + 1  # 4\n", False)
    with pytest.raises(AssertionError, match="not 4"):
        run_python(wrong, tmp_path / "page.md", {})
    environment = tmp_path / ".environment"
    environment.write_text("", encoding="utf-8")
    with pytest.raises(AssertionError, match="exit 1, not 5"):
        run_shell(Block("sh", 1, "false  # exit 5: documented\n", False), tmp_path, tmp_path, environment)
    with pytest.raises(AssertionError, match="exit 1, not 0"):
        run_shell(Block("sh", 1, "false && true\ntrue\n", False), tmp_path, tmp_path, environment)
    loop = "for n in 1 2; do\n  echo $n\ndone\n(exit 5)  # exit 5: documented\n"
    run_shell(Block("sh", 1, loop, False), tmp_path, tmp_path, environment)
