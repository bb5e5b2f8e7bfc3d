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
    state.opened.append(engine.db)
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
@click.option("--verbose", is_flag=True, help="Interleave the engine's log line of every transition.")
@click.option("--funding", is_flag=True, help="Continue two funded projects to a balance and a recovery.")
@guarded
def demo(path: str, verbose: bool, funding: bool) -> None:
    """Tell a whole funding story on a fresh SQLite file, with a simulated clock (Europe/Rome).

    Phase 1, the 2022 manifestazione di interesse MI-FILIERE-2022: partnerships register,
    proposals are drafted, submitted, checked for admissibility, evaluated, listed by decree;
    a submission one second after the deadline is refused; the call closes. Phase 2, two
    measures open meanwhile: the ranked Bando Filiere 2022 (a renunciation funds the next in
    line, scorrimento) and the first-come Rafforzamento filiere 2024, closed when its budget
    runs out. At the end the hash chain is verified. Told in date order; only the story is
    printed unless --verbose.
    """
    import logging

    from workflow.demo.phase1 import run_demo
    from workflow.logconfig import configure

    configure(level=logging.INFO if verbose else logging.WARNING)
    ok = run_demo(path, echo=click.echo, funding=funding)
    _console_key(path)
    sys.exit(0 if ok else EXIT_CODES["audit chain broken"])


@click.command("exit-codes")
@json_option
@click.pass_obj
def exit_codes(state: Ctx) -> None:
    """The exit codes of every command: one per kind of mistake (as in docs/operators.md)."""
    from workflow.cli.exits import TABLE, markdown_table

    if state.as_json:
        import json

        rows = [
            {"code": r.code, "name": r.name, "meaning": r.meaning, "remedy": r.remedy, "types": list(r.types)}
            for r in TABLE
        ]
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    click.echo(markdown_table(), nl=False)


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


COMMANDS = (init, diagram, demo, exit_codes)
