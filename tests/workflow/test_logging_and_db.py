"""One log line per fired transition; the SQLite settings the design relies on."""

from __future__ import annotations

import io
import json

import pytest
import structlog
from sqlalchemy import text

from tests.factories import World
from workflow.errors import DatabaseUnavailable, ForbiddenRole
from workflow.logconfig import configure
from workflow.store.db import make_engine, resolve_url


@pytest.fixture(autouse=True)
def _reset_structlog() -> None:
    structlog.reset_defaults()


class TestTransitionLog:
    def test_one_line_per_transition(self, world: World) -> None:
        """Each committed transition logs once, with entity, trigger, states, actor, seq and duration."""
        world.open_call()
        with structlog.testing.capture_logs() as logs:
            draft = world.draft()
            world.engine.fire("proposal", draft, "submit", actor="capofila.alfa", role="applicant")
            with pytest.raises(ForbiddenRole):
                world.engine.fire("proposal", draft, "withdraw", actor="x", role="auditor")
        submits = [line for line in logs if line.get("trigger") == "submit"]
        assert len(logs) == 3  # partnership, draft, submit: the refusal logs nothing
        assert submits[0]["event"] == "transition"
        assert {k: submits[0][k] for k in ("kind", "id", "src", "dst", "actor", "role")} == {
            "kind": "proposal",
            "id": draft,
            "src": "draft",
            "dst": "submitted",
            "actor": "capofila.alfa",
            "role": "applicant",
        }
        assert submits[0]["seq"] > 0
        assert submits[0]["ms"] >= 0

    def test_json_lines_off_a_terminal(self, world: World) -> None:
        """Configured for a pipe, the line is one JSON object."""
        out = io.StringIO()
        configure(json=True, stream=out)
        world.open_call()
        lines = [json.loads(line) for line in out.getvalue().splitlines()]
        assert [line["trigger"] for line in lines] == ["create", "open"]
        assert all(line["level"] == "info" and "timestamp" in line for line in lines)


class TestSQLite:
    def test_pragmas(self, world: World) -> None:
        """WAL, synchronous=FULL, foreign keys and a busy timeout on every connection."""
        with world.engine.db.connect() as c:
            assert c.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert c.execute(text("PRAGMA synchronous")).scalar() == 2
            assert c.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert c.execute(text("PRAGMA busy_timeout")).scalar() == 30000

    def test_in_memory_refused(self) -> None:
        """In-memory SQLite would lose the log when the pool recycles: refused."""
        with pytest.raises(DatabaseUnavailable, match="in-memory"):
            make_engine("sqlite://")

    def test_url_resolution(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Argument, then FILIERE_DATABASE_URL, then ./filiere.db; postgresql:// uses psycopg 3."""
        monkeypatch.delenv("FILIERE_DATABASE_URL", raising=False)
        assert resolve_url() == "sqlite:///filiere.db"
        monkeypatch.setenv("FILIERE_DATABASE_URL", "postgresql://u@h/db")
        assert resolve_url() == "postgresql+psycopg://u@h/db"
        assert resolve_url("sqlite:///x.db") == "sqlite:///x.db"

    def test_unreachable_database(self, tmp_path: object) -> None:
        """A database that cannot be opened is DatabaseUnavailable, not a traceback."""
        from workflow.engine import Engine

        with pytest.raises(DatabaseUnavailable):
            Engine("sqlite:////nonexistent-folder/x.db")

    def test_unreachable_postgres(self) -> None:
        """A PostgreSQL server that does not answer is DatabaseUnavailable."""
        from workflow.engine import Engine

        with pytest.raises(DatabaseUnavailable):
            Engine("postgresql://postgres@127.0.0.1:1/none?connect_timeout=2")
