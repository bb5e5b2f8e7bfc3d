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
}


class _Ctx:
    def __init__(self, db: str | None, debug: bool) -> None:
        self.db = db
        self.debug = debug


def _engine(state: _Ctx, **kwargs: Any) -> Any:
    from workflow.engine import Engine

    return Engine(state.db, **kwargs)


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
@click.pass_context
def cli(ctx: click.Context, db: str | None, debug: bool, log_json: bool | None) -> None:
    """Filiere: a workflow engine for public funding calls."""
    ctx.obj = _Ctx(db, debug)
    if ctx.invoked_subcommand not in (None, "diagram"):
        from workflow.logconfig import configure

        configure(json=log_json)


@cli.command()
@click.pass_obj
@_guarded
def init(state: _Ctx) -> None:
    """Create the database schema (idempotent)."""
    engine = _engine(state)
    click.echo(f"database ready: {engine.db.url.render_as_string(hide_password=True)}")


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
@click.option("--json", "as_json", is_flag=True, help="One JSON document.")
@click.pass_obj
@_guarded
def verify(state: _Ctx, head_hash: str | None, as_json: bool) -> None:
    """Check the whole hash chain; report the first bad sequence number."""
    from workflow.audit import verify_chain
    from workflow.db import make_engine

    report = verify_chain(make_engine(state.db), head_hash=head_hash)
    if as_json:
        click.echo(json.dumps(report.to_json(), sort_keys=True))
    elif report.ok:
        click.echo(f"chain ok: {report.events} events, head {report.head_seq} {report.head_hash}")
    else:
        click.echo(f"chain BROKEN at event {report.first_bad_seq}: {report.problem}")
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
@click.option("--json", "as_json", is_flag=True, help="JSON lines.")
@click.pass_obj
@_guarded
def scheduler_plan(state: _Ctx, as_json: bool) -> None:
    """Show the jobs the database asks for now (what a running scheduler holds)."""
    from handlers.timeutil import for_people, to_json
    from scheduler.plan import plan

    for job in sorted(plan(_engine(state)), key=lambda j: j.run_at):
        if as_json:
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


def run() -> None:
    """Console-script entry point: exit with :func:`main`'s code."""
    sys.exit(main())
