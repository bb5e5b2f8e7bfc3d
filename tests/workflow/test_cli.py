"""The ``filiere`` command, run as operators run it: an installed subprocess."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

FILIERE = shutil.which("filiere", path=str(Path(sys.executable).parent)) or "filiere"


def run(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the installed command; never raise on a non-zero exit."""
    return subprocess.run(
        [FILIERE, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


class TestCommand:
    def test_help(self) -> None:
        """``filiere --help`` lists the commands and exits 0."""
        result = run("--help")
        assert result.returncode == 0
        for command in ("demo", "diagram", "audit", "init"):
            assert command in result.stdout

    def test_diagram(self) -> None:
        """``filiere diagram proposal`` prints Mermaid generated from states/."""
        result = run("diagram", "proposal")
        assert result.returncode == 0
        assert result.stdout.startswith("stateDiagram-v2")
        assert "integration_requested" in result.stdout

    def test_diagram_unknown(self) -> None:
        """An unknown machine is invalid input: one line on stderr, exit 8."""
        result = run("diagram", "invoice")
        assert (result.returncode, result.stdout) == (8, "")
        assert result.stderr.count("\n") == 1
        assert "kind" in result.stderr

    def test_init_uses_env_url(self, tmp_path: Path) -> None:
        """``FILIERE_DATABASE_URL`` selects the database."""
        target = tmp_path / "x.db"
        result = run("init", env={"FILIERE_DATABASE_URL": f"sqlite:///{target}"})
        assert result.returncode == 0, result.stderr
        assert target.exists()


@pytest.fixture(name="demo_db", scope="module")
def _demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    result = run("demo", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # the story only: no log line unless --verbose
    assert "audit verify: chain ok" in result.stdout
    assert "passed at 16:00:01" in result.stdout
    for phase_two in (
        "Funding under FILIERE-2022 (ranked",
        "scorrimento: application",
        "(budget exhausted: ",
    ):
        assert phase_two in result.stdout
    return folder / "filiere-demo.db"


class TestDemoAndAudit:
    def test_demo_verifies(self, demo_db: Path) -> None:
        """The demo's database passes ``audit verify`` run separately, also as JSON."""
        result = run("--db", f"sqlite:///{demo_db}", "audit", "verify", "--json")
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["ok"] is True
        assert report["events"] >= 30

    def test_tampering_is_reported(self, demo_db: Path, tmp_path: Path) -> None:
        """Changing one event in SQL makes verify fail with exit 12 and the event's number."""
        copy = tmp_path / "tampered.db"
        with sqlite3.connect(demo_db) as source, sqlite3.connect(copy) as target:
            source.backup(target)
        with sqlite3.connect(copy) as db:
            db.execute("UPDATE event SET actor = 'someone.else' WHERE seq = 20")
        result = run("--db", f"sqlite:///{copy}", "audit", "verify")
        assert result.returncode == 12
        assert "BROKEN at event 20" in result.stdout
