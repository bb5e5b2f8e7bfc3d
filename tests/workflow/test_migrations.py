"""Alembic migrations: any database is brought to the latest schema, which matches the models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlmodel import SQLModel

from workflow.engine import Engine
from workflow.store.db import make_engine
from workflow.store.schema import HEAD, current_revision, migrate

GOLDEN = Path(__file__).parent.parent / "fixtures" / "histories" / "demo-2022.jsonl"


def _q(column: str) -> str:
    return '"trigger"' if column == "trigger" else column


def script_head() -> str:
    config = Config()
    config.set_main_option("script_location", "workflow.store:migrations")
    return str(ScriptDirectory.from_config(config).get_current_head())


def populated(engine: Engine) -> None:
    """A little Phase-1 history."""
    from tests.factories import World

    world = World(engine=engine, clock=engine.clock, path="")  # type: ignore[arg-type]
    world.open_call()
    world.at(2022, 9, 10, 11)
    world.evaluated()


class TestMigrations:
    def test_head_constant_is_alembic_head(self) -> None:
        """``workflow.store.schema.HEAD`` names the newest migration (so the fast path is right)."""
        assert script_head() == HEAD

    def test_empty_database_reaches_head(self, tmp_path: Path) -> None:
        """An empty database is migrated to the head by opening an engine (and by ``filiere init``)."""
        engine = Engine(f"sqlite:///{tmp_path / 'new.db'}")
        assert current_revision(engine.db) == HEAD
        tables = set(inspect(engine.db).get_table_names())
        assert {
            "entity",
            "event",
            "tree_node",
            "tree_head",
            "counter",
            "definition",
            "list_version",
        } <= tables
        assert "chain_head" not in tables

    def test_migrations_match_models(self, tmp_path: Path) -> None:
        """Autogenerate finds no difference between the migrated schema and the models."""
        db = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
        migrate(db)
        with db.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
        assert differences == []

    def test_previous_revision_with_data(self, tmp_path: Path) -> None:
        """A database of the single-chain release (0003) is sealed into the tree in its order and verifies.

        Its events are the golden history, written by that release: same hashes
        after the migration, positions = their seq, and new events chain per entity.
        """
        from sqlalchemy import text

        from workflow.audit.verify import verify_chain
        from workflow.store import tree

        path = tmp_path / "old.db"
        db = make_engine(f"sqlite:///{path}")
        migrate(db, "0003")
        golden = [json.loads(line) for line in GOLDEN.read_text().splitlines()]
        columns = [c for c in golden[0] if c != "hash"] + ["hash"]
        with db.begin() as connection:
            for event in golden:
                row = {
                    **event,
                    "payload": json.dumps(
                        event["payload"], sort_keys=True, separators=(",", ":"), ensure_ascii=False
                    ),
                }
                for name in ("occurred_at", "effective_at"):
                    row[name] = row[name].replace("T", " ").rstrip("Z")
                connection.execute(
                    text(
                        f"INSERT INTO event ({', '.join(_q(c) for c in columns)})"
                        f" VALUES ({', '.join(':' + c for c in columns)})"
                    ),
                    row,
                )
            connection.execute(
                text("INSERT INTO chain_head (id, seq, hash) VALUES (1, :s, :h)"),
                {"s": golden[-1]["seq"], "h": golden[-1]["hash"]},
            )
        migrate(db)
        assert current_revision(db) == HEAD
        report = verify_chain(db)
        assert (report.ok, report.events, report.tree_size, report.head_hash) == (
            True,
            83,
            83,
            golden[-1]["hash"],
        )
        with db.connect() as connection:
            stored = connection.execute(text("SELECT seq, position, hash FROM event ORDER BY seq")).all()
            assert [(r.seq, r.position, r.hash) for r in stored] == [
                (e["seq"], e["seq"], e["hash"]) for e in golden
            ]
            assert tree.head(connection).root == report.root
        db.dispose()

    def test_postgres_reaches_head(self, pg_engine: Engine) -> None:
        """On PostgreSQL too, a fresh schema is migrated to head and matches the models."""
        assert current_revision(pg_engine.db) == HEAD
        with pg_engine.db.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), SQLModel.metadata) == []

    def test_migrating_twice_is_harmless(self, tmp_path: Path) -> None:
        """Running the migrations on a database at head changes nothing."""
        db = make_engine(f"sqlite:///{tmp_path / 'twice.db'}")
        migrate(db)
        migrate(db)
        assert current_revision(db) == HEAD

    def test_postgres_migration_lock_is_per_schema(self, pg_url: str, pg_schema: dict[str, str]) -> None:
        """A migration in progress holds up the same schema's, not another schema's on the server."""
        import pytest
        from sqlalchemy import text

        from workflow.errors import DatabaseUnavailable
        from workflow.store.schema import lock_migrations

        def db_on(options: str) -> Any:
            return make_engine(pg_url, connect_args={"options": f"{options} -clock_timeout=3000"})

        other = f"{pg_schema['options'].rsplit('=', 1)[1]}_b"
        holder, same, elsewhere = (
            make_engine(pg_url, connect_args=pg_schema),
            db_on(pg_schema["options"]),
            db_on(f"-csearch_path={other}"),
        )
        try:
            with holder.begin() as connection:
                connection.execute(text(f"CREATE SCHEMA {other}"))
            with holder.begin() as connection:
                lock_migrations(connection)  # as a process migrating this schema, until commit
                with pytest.raises(DatabaseUnavailable, match="lock timeout"):
                    Engine(db=same)
                assert current_revision(Engine(db=elsewhere).db) == HEAD
        finally:
            with holder.begin() as connection:
                connection.execute(text(f"DROP SCHEMA {other} CASCADE"))
            for db in (holder, same, elsewhere):
                db.dispose()


class TestAlembicCommand:
    """``alembic upgrade head`` from the project's root, on ``FILIERE_DATABASE_URL`` (``alembic.ini``)."""

    ROOT = Path(__file__).parents[2]

    def _upgrade(self, url: str) -> None:
        import os
        import subprocess
        import sys

        alembic = str(Path(sys.executable).parent / "alembic")
        env = {**os.environ, "FILIERE_DATABASE_URL": url}
        done = subprocess.run(
            [alembic, "upgrade", "head"],
            cwd=self.ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr

    def test_on_a_sqlite_file(self, tmp_path: Path) -> None:
        path = tmp_path / "by-hand.db"
        self._upgrade(f"sqlite:///{path}")
        db = make_engine(f"sqlite:///{path}")
        assert current_revision(db) == HEAD
        assert {"entity", "event", "webhook"} <= set(inspect(db).get_table_names())
        db.dispose()

    def test_on_postgresql(self, pg_url: str, pg_schema: dict[str, str]) -> None:
        self._upgrade(f"{pg_url}?options={pg_schema['options'].replace('=', '%3D')}")
        db = make_engine(pg_url, connect_args=pg_schema)
        assert current_revision(db) == HEAD
        engine = Engine(db=db)  # the engine finds it at head and adds only its own rows
        assert current_revision(engine.db) == HEAD
        db.dispose()
