"""Alembic migrations: any database is brought to the latest schema, which matches the models."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlmodel import SQLModel

from workflow.db import make_engine
from workflow.engine import Engine
from workflow.schema import HEAD, current_revision, migrate


def script_head() -> str:
    config = Config()
    config.set_main_option("script_location", "workflow:migrations")
    return str(ScriptDirectory.from_config(config).get_current_head())


class TestMigrations:
    def test_head_constant_is_alembic_head(self) -> None:
        """``workflow.schema.HEAD`` names the newest migration (so the fast path is right)."""
        assert script_head() == HEAD

    def test_empty_database_reaches_head(self, tmp_path: Path) -> None:
        """An empty database is migrated to the head by opening an engine (and by ``filiere init``)."""
        engine = Engine(f"sqlite:///{tmp_path / 'new.db'}")
        assert current_revision(engine.db) == HEAD
        assert {"entity", "event", "chain_head", "counter", "definition", "list_version"} <= set(
            inspect(engine.db).get_table_names()
        )

    def test_migrations_match_models(self, tmp_path: Path) -> None:
        """Autogenerate finds no difference between the migrated schema and the models."""
        db = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
        migrate(db)
        with db.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
        assert differences == []

    def test_migrating_twice_is_harmless(self, tmp_path: Path) -> None:
        """Running the migrations on a database at head changes nothing."""
        db = make_engine(f"sqlite:///{tmp_path / 'twice.db'}")
        migrate(db)
        migrate(db)
        assert current_revision(db) == HEAD
