"""The ``filiere`` command: a thin adapter over the engine's public calls.

Heavy modules (SQLAlchemy, SQLModel, structlog) are imported inside the
commands that need them, so ``filiere --help`` stays fast. Every error of the
engine's hierarchy prints one line on stderr and exits with its class's code
(see ``docs/operators.md``); ``--debug`` shows the traceback too.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

#: Exit codes by meaning (kept in step with ``workflow.errors``).
EXIT_CODES = {
    "ok": 0,
    "unexpected error": 1,
    "usage error": 2,
    "not found": 3,
    "not allowed in this state": 4,
    "guard refused": 5,
    "forbidden role": 6,
    "conflict": 7,
    "invalid input": 8,
    "configuration error": 9,
    "database unavailable": 10,
    "handler error": 11,
    "audit chain broken": 12,
    "another scheduler is running": 13,
    "scheduler lost the lead": 14,
    "batch had failures": 15,
}


class _Ctx:
    def __init__(self, db: str | None, debug: bool, now: str | None = None) -> None:
        self.db = db
        self.debug = debug
        self.now = now
        self.as_json = False
        self.simulated_at: str | None = None
        self.engine: Any = None


SIMULATION_KEY = "simulation"


def engine_of(state: _Ctx) -> Any:
    """The engine of this invocation; ``--now`` only on a database created as a simulation."""
    if state.engine is not None:
        return state.engine
    from handlers.timeutil import ROME
    from workflow.clock import SimulatedClock
    from workflow.engine import Engine
    from workflow.errors import ConfigurationError
    from workflow.schema import read_meta

    engine = Engine(state.db)
    simulation = read_meta(engine.db, SIMULATION_KEY) == "true"
    if state.now is not None and not simulation:
        raise ConfigurationError(
            "--now", "clock", "this database is not a simulation: its clock cannot be set"
        )
    if simulation:
        engine.clock = SimulatedClock(_simulated_time(engine, state.now))
        state.simulated_at = engine.clock.now().astimezone(ROME).isoformat()
    state.engine = engine
    return engine


def _simulated_time(engine: Any, wanted: str | None) -> Any:
    """A simulation's clock only moves forward; without --now it stays where it was last set."""
    from handlers.timeutil import from_json, to_json
    from workflow.errors import ConfigurationError
    from workflow.schema import read_meta, write_meta

    last = read_meta(engine.db, "simulated_now")
    if wanted is None:
        if last is None:
            raise ConfigurationError("--now", "clock", "this simulation has no time yet: give --now")
        return from_json(last)
    moment = parse_moment(wanted)
    if last is not None and moment < from_json(last):
        raise ConfigurationError(
            "--now", "clock", f"a simulation's clock only moves forward (it is at {last})"
        )
    write_meta(engine.db, "simulated_now", to_json(moment))
    return moment


def _engine(state: _Ctx, **kwargs: Any) -> Any:
    return engine_of(state)


def parse_moment(text: str) -> Any:
    """An ISO date-time; without an offset it is read in Europe/Rome."""
    from datetime import datetime

    from handlers.timeutil import ROME
    from workflow.errors import InvalidInput

    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput("time", f"{text!r} is not an ISO date-time") from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=ROME)


def emit(state: _Ctx, document: dict[str, Any], text: str) -> None:
    """Print one result: a JSON document with --json, else text; a simulation says so each time."""
    if state.as_json:
        if state.simulated_at is not None:
            document = {**document, "simulation": True, "simulated_now": state.simulated_at}
        click.echo(json.dumps(document, ensure_ascii=False, default=str, sort_keys=True))
        return
    if state.simulated_at is not None:
        text = f"[SIMULATION, clock at {state.simulated_at}] {text}"
    click.echo(text)


def json_option(function: F) -> F:
    """``--json`` on a command: one JSON document per result (JSON lines for streams)."""

    def remember(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
        state = ctx.find_object(_Ctx)
        if value and state is not None:
            state.as_json = True
        return value

    decorate = click.option(
        "--json",
        "json_output",
        is_flag=True,
        expose_value=False,
        callback=remember,
        is_eager=True,
        help="Machine-readable output.",
    )
    return decorate(function)


def _guarded(function: F) -> F:
    """Turn the engine's errors into one line on stderr and the class's exit code."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from workflow.errors import FiliereError

        try:
            return function(*args, **kwargs)
        except FiliereError as exc:
            state = click.get_current_context().find_object(_Ctx)
            if state is not None and state.debug:
                raise
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)

    wrapper.__name__ = function.__name__
    wrapper.__doc__ = function.__doc__
    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", envvar="FILIERE_DATABASE_URL", help="Database URL (default: sqlite:///filiere.db).")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.option("--log-json/--log-console", default=None, help="Log format (default: console on a terminal).")
@click.option("--now", help="Set the clock (only on a database created with `init --simulation`).")
@click.pass_context
def cli(ctx: click.Context, db: str | None, debug: bool, log_json: bool | None, now: str | None) -> None:
    """Filiere: a workflow engine for public funding calls."""
    ctx.obj = _Ctx(db, debug, now)
    if ctx.invoked_subcommand not in (None, "diagram"):
        from workflow.logconfig import configure

        configure(json=log_json)


@cli.command()
@click.option(
    "--simulation", is_flag=True, help="Mark the database as a simulation: --now may set its clock."
)
@json_option
@click.pass_obj
@_guarded
def init(state: _Ctx, simulation: bool) -> None:
    """Create or migrate the database to the latest schema (idempotent)."""
    from workflow.engine import Engine
    from workflow.schema import HEAD, read_meta, write_meta

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


@cli.command()
@click.argument("kind", required=False)
@click.option("--all", "everything", is_flag=True, help="Every machine, as docs/machines.md.")
@_guarded
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


@cli.command()
@click.option(
    "--db-file",
    "path",
    default="filiere-demo.db",
    show_default=True,
    help="The demo's SQLite file (recreated).",
)
@click.option("--quiet", is_flag=True, help="Only the summary, no transition log lines.")
@_guarded
def demo(path: str, quiet: bool) -> None:
    """Run Phase 1 of the 2022 call on a fresh SQLite file with a simulated clock."""
    from workflow.demo import run_demo

    if quiet:
        from workflow.logconfig import configure

        configure(level=40)
    ok = run_demo(path, echo=click.echo)
    sys.exit(0 if ok else EXIT_CODES["audit chain broken"])


@cli.group()
def audit() -> None:
    """The auditor's tools."""


@audit.command()
@click.option("--head", "head_hash", help="A head hash you kept earlier: detects a cut tail.")
@click.option(
    "--file", "path", type=click.Path(exists=True, dir_okay=False), help="Verify an export, not the database."
)
@json_option
@click.pass_obj
@_guarded
def verify(state: _Ctx, head_hash: str | None, path: str | None) -> None:
    """Check the whole hash chain; report the first bad sequence number."""
    from workflow.audit import verify_chain
    from workflow.export import verify_file
    from workflow.schema import open_existing

    report = (
        verify_file(path, head_hash=head_hash)
        if path
        else verify_chain(open_existing(state.db), head_hash=head_hash)
    )
    if state.as_json:
        click.echo(json.dumps(report.to_json(), sort_keys=True))
    elif report.ok:
        click.echo(f"chain ok: {report.events} events, head {report.head_seq} {report.head_hash}")
    else:
        where = f"event {report.first_bad_seq}"
        click.echo(f"chain BROKEN at {where}: {str(report.problem).removeprefix(where + ': ')}")
    sys.exit(0 if report.ok else EXIT_CODES["audit chain broken"])


@cli.group("scheduler")
def scheduler_group() -> None:
    """The scheduler: deadlines and measure windows fired on time."""


@scheduler_group.command("run")
@click.option("--reconcile-every", default=30.0, show_default=True, help="Seconds between reconciliations.")
@click.option(
    "--health-every", default=5.0, show_default=True, help="Seconds between checks that we still lead."
)
@click.pass_obj
@_guarded
def scheduler_run(state: _Ctx, reconcile_every: float, health_every: float) -> None:
    """Run the scheduler until SIGTERM or SIGINT (PostgreSQL: a second one waits as standby)."""
    import signal
    import threading

    import structlog

    from scheduler.service import SchedulerService

    engine = _engine(state)
    service = SchedulerService(engine, reconcile_every=reconcile_every)
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    service.start(wait_for_lead=engine.db.dialect.name != "sqlite")
    lost = False
    while not stopping.wait(health_every):
        if not service.healthy():
            structlog.get_logger("filiere.scheduler").error("scheduler lost the lead; stopping")
            lost = True
            break
    service.stop()
    sys.exit(EXIT_CODES["scheduler lost the lead"] if lost else 0)


@scheduler_group.command("plan")
@json_option
@click.pass_obj
@_guarded
def scheduler_plan(state: _Ctx) -> None:
    """Show the jobs the database asks for now (what a running scheduler holds)."""
    from handlers.timeutil import for_people, to_json
    from scheduler.plan import plan

    for job in sorted(plan(_engine(state)), key=lambda j: j.run_at):
        if state.as_json:
            click.echo(
                json.dumps(
                    {
                        "id": job.id,
                        "run_at": to_json(job.run_at),
                        "kind": job.kind,
                        "entity_id": job.entity_id,
                        "trigger": job.trigger,
                    }
                )
            )
        else:
            click.echo(f"{for_people(job.run_at)}  {job.trigger} {job.kind} {job.entity_id}")


def _register_operator_commands() -> None:
    # Their commands attach themselves to `cli` and to `audit` on import.
    import workflow.cli_api
    import workflow.cli_audit
    import workflow.cli_ops  # noqa: F401


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return its exit code (for tests and ``python -m workflow``)."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="filiere", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 1
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    return 0


_register_operator_commands()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


def run() -> None:
    """Console-script entry point: exit with :func:`main`'s code."""
    sys.exit(main())
