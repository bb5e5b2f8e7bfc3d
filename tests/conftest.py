"""Shared fixtures: a real SQLite file per test, a simulated clock, a Phase-1 world.

The suite runs in parallel (pytest-xdist, ``-n auto`` in the README's command):
every fixture here is per worker or per test: temporary paths, PostgreSQL
schemas with random names, ephemeral ports. Nothing global is shared.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from sqlalchemy import Engine as SAEngine
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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first, so that parallel workers do not finish on one long tail."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(name="sqlite_template", scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per worker; tests copy it instead of migrating again.

    Only the Alembic migrations are run here: opening an engine on a copy still
    writes the chain head and the definitions with the test's own clock, exactly
    as on a new file. The engine's migrate-on-open path keeps its own tests
    (``test_migrations.py``, the scheduler's, every CLI ``init``).
    """
    from workflow.store.db import make_engine
    from workflow.store.schema import migrate

    path = tmp_path_factory.mktemp("template") / "migrated.db"
    db = make_engine(f"sqlite:///{path}")
    migrate(db)
    db.dispose()  # the last connection checkpoints the WAL into the file
    assert not Path(f"{path}-wal").exists()
    return path


@pytest.fixture(name="engine")
def _engine(db_path: Path, clock: SimulatedClock, sqlite_template: Path) -> Iterator[Engine]:
    """An engine on a real SQLite file (a copy of the migrated template)."""
    shutil.copyfile(sqlite_template, db_path)
    engine = Engine(f"sqlite:///{db_path}", clock=clock)
    yield engine
    engine.db.dispose()


@pytest.fixture(name="world")
def _world(engine: Engine, clock: SimulatedClock, db_path: Path) -> World:
    """The engine, its clock and shortcuts for the Phase-1 flow."""
    return World(engine=engine, clock=clock, path=str(db_path))


@cache
def postgres_available() -> bool:
    """Whether the PostgreSQL of this machine answers (asked once per worker)."""
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


@pytest.fixture(name="pg_admin", scope="session")
def _pg_admin() -> Iterator[SAEngine]:
    """One pooled connection per worker that creates and drops the tests' schemas (opened on first use)."""
    admin = create_engine(PG_URL, pool_size=1, pool_pre_ping=True)
    yield admin
    admin.dispose()


@pytest.fixture(name="pg_schema")
def _pg_schema(pg_url: str, pg_admin: SAEngine) -> Iterator[dict[str, str]]:
    """A PostgreSQL schema of the test's own, dropped afterwards: connect with its options."""
    from uuid import uuid4

    schema = f"t_{uuid4().hex[:16]}"
    with pg_admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield {"options": f"-csearch_path={schema}"}
    finally:
        with pg_admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))


@pytest.fixture(name="pg_engine")
def _pg_engine(pg_url: str, pg_schema: dict[str, str], clock: SimulatedClock) -> Iterator[Engine]:
    """An engine on the real PostgreSQL, in a schema of its own."""
    from workflow.store.db import make_engine

    engine = Engine(db=make_engine(pg_url, connect_args=pg_schema), clock=clock)
    try:
        yield engine
    finally:
        engine.sequencer.stop()  # its sealing thread must not outlive the schema
        engine.db.dispose()


@pytest.fixture(name="backend", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def _backend(request: pytest.FixtureRequest) -> str:
    """The name of the backend a contract test runs on."""
    return str(request.param)


@pytest.fixture(name="contract_world")
def _contract_world(
    backend: str, request: pytest.FixtureRequest, clock: SimulatedClock, db_path: Path
) -> World:
    """A Phase-1 world on each real backend in turn (SQLite file, PostgreSQL)."""
    if backend == "sqlite":
        return World(engine=request.getfixturevalue("engine"), clock=clock, path=str(db_path))
    engine = request.getfixturevalue("pg_engine")
    schema = request.getfixturevalue("pg_schema")
    return World(engine=engine, clock=clock, path="", url=PG_URL, connect_args=schema)


@pytest.fixture(name="demo_source", scope="session")
def _demo_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's database (both phases, 83 events), built once; copy it before changing it."""
    from workflow.demo.phase1 import run_demo

    path = tmp_path_factory.mktemp("demo") / "demo.db"
    assert run_demo(path, echo=lambda *_: None)
    return path
