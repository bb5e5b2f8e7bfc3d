"""Shared fixtures: a real SQLite file per test, a simulated clock, a Phase-1 world."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.factories import World, rome
from workflow.clock import SimulatedClock
from workflow.engine import Engine

PG_URL = os.environ.get("FILIERE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(name="clock")
def _clock() -> SimulatedClock:
    """A simulated clock standing at 2022-02-25 10:00 Europe/Rome."""
    return SimulatedClock(rome(2022, 2, 25, 10))


@pytest.fixture(name="db_path")
def _db_path(tmp_path: Path) -> Path:
    """A fresh SQLite file path."""
    return tmp_path / "filiere.db"


@pytest.fixture(name="engine")
def _engine(db_path: Path, clock: SimulatedClock) -> Iterator[Engine]:
    """An engine on a real SQLite file."""
    engine = Engine(f"sqlite:///{db_path}", clock=clock)
    yield engine
    engine.db.dispose()


@pytest.fixture(name="world")
def _world(engine: Engine, clock: SimulatedClock, db_path: Path) -> World:
    """The engine, its clock and shortcuts for the Phase-1 flow."""
    return World(engine=engine, clock=clock, path=str(db_path))


def postgres_available() -> bool:
    """Whether the PostgreSQL of this machine answers."""
    try:
        probe = create_engine(PG_URL, connect_args={"connect_timeout": 2})
        with probe.connect() as connection:
            connection.execute(text("SELECT 1"))
        probe.dispose()
    except Exception:
        return False
    return True


@pytest.fixture(name="pg_url")
def _pg_url() -> str:
    """The PostgreSQL URL; skips locally when no server answers, fails under CI=true."""
    if not postgres_available():
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL required under CI=true but {PG_URL} does not answer")
        pytest.skip("no PostgreSQL server answers")
    return PG_URL
