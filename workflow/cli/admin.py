"""Commands that set a database up or show the machines: ``init``, ``diagram``, ``demo``."""

from __future__ import annotations

import sys

import click

from workflow.cli.common import EXIT_CODES, SIMULATION_KEY, Ctx, emit, guarded, json_option


@click.command()
@click.option(
    "--simulation", is_flag=True, help="Mark the database as a simulation: --now may set its clock."
)
@json_option
@click.pass_obj
@guarded
def init(state: Ctx, simulation: bool) -> None:
    """Create or migrate the database to the latest schema (idempotent)."""
    from workflow.engine import Engine
    from workflow.store.schema import HEAD, read_meta, write_meta

    engine = Engine(state.db)
    if state.now is not None and not simulation and read_meta(engine.db, SIMULATION_KEY) != "true":
        from workflow.errors import ConfigurationError

        raise ConfigurationError(
            "--now", "clock", "this database is not a simulation: its clock cannot be set"
        )
    if simulation:
        if (
            next(iter(engine.events(limit=1)), None) is not None
            and read_meta(engine.db, SIMULATION_KEY) != "true"
        ):
            from workflow.errors import ConfigurationError

            raise ConfigurationError(
                "--simulation", "database", "a database with real events cannot become a simulation"
            )
        write_meta(engine.db, SIMULATION_KEY, "true")
    url = engine.db.url.render_as_string(hide_password=True)
    is_simulation = read_meta(engine.db, SIMULATION_KEY) == "true"
    emit(
        state,
        {"database": url, "schema": HEAD, "simulation": is_simulation},
        f"database ready: {url} (schema {HEAD}{', simulation' if is_simulation else ''})",
    )


@click.command()
@click.argument("kind", required=False)
@click.option("--all", "everything", is_flag=True, help="Every machine, as docs/machines.md.")
@guarded
def diagram(kind: str | None, everything: bool) -> None:
    """Print the Mermaid state diagram of a machine (proposal, call, decree, ...)."""
    from states import DEFINITIONS
    from workflow.diagrams import machines_markdown, mermaid
    from workflow.errors import InvalidInput

    if everything:
        click.echo(machines_markdown(), nl=False)
        return
    if kind not in DEFINITIONS:
        raise InvalidInput("kind", f"choose one of {', '.join(DEFINITIONS)}")
    click.echo(mermaid(DEFINITIONS[kind]))


@click.command()
@click.option(
    "--db-file",
    "path",
    default="filiere-demo.db",
    show_default=True,
    help="The demo's SQLite file (recreated).",
)
@click.option("--quiet", is_flag=True, help="Only the summary, no transition log lines.")
@guarded
def demo(path: str, quiet: bool) -> None:
    """Run Phase 1 of the 2022 call on a fresh SQLite file with a simulated clock."""
    from workflow.demo.phase1 import run_demo

    if quiet:
        from workflow.logconfig import configure

        configure(level=40)
    ok = run_demo(path, echo=click.echo)
    _console_key(path)
    sys.exit(0 if ok else EXIT_CODES["audit chain broken"])


def _console_key(path: str) -> None:
    """An operator's key for the demo database, and how to open it in the console."""
    from workflow.engine import Engine
    from workflow.http import keys

    engine = Engine(f"sqlite:///{path}")
    try:
        _key, secret = keys.create(
            engine.db, actor="op.rossi", role="operator", now=engine.clock.now(), note="demo console"
        )
    finally:
        engine.db.dispose()
    click.echo(
        f"\nSee it in the console: filiere --db sqlite:///{path} serve, then open "
        f"http://127.0.0.1:8000/console and sign in with the operator key {secret}"
    )


COMMANDS = (init, diagram, demo)
