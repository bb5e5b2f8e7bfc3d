"""The ``filiere`` command: a thin adapter over the engine's public calls.

This module only assembles the command groups (one module each, none importing
another) under the root group, and runs them. Heavy modules (SQLAlchemy,
SQLModel, structlog) are imported inside the commands that need them, so
``filiere --help`` stays fast. Every error of the engine's hierarchy prints one
line on stderr and exits with its class's code (see ``docs/operators.md``);
``--debug`` shows the traceback too.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from workflow.cli import admin, audit, entities, reports, scheduling, serving
from workflow.cli.common import Ctx


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="filiere", prog_name="filiere", message="%(prog)s %(version)s")
@click.option("--db", envvar="FILIERE_DATABASE_URL", help="Database URL (default: sqlite:///filiere.db).")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.option("--log-json/--log-console", default=None, help="Log format (default: console on a terminal).")
@click.option("--now", help="Set the clock (only on a database created with `init --simulation`).")
@click.pass_context
def cli(ctx: click.Context, db: str | None, debug: bool, log_json: bool | None, now: str | None) -> None:
    """Filiere: a workflow engine for public funding calls."""
    ctx.obj = Ctx(db, debug, now)
    if ctx.invoked_subcommand not in (None, "diagram"):
        from workflow.logconfig import configure

        configure(json=log_json)


for _module in (admin, entities, reports, audit, scheduling, serving):
    for _command in _module.COMMANDS:
        cli.add_command(_command)


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


def run() -> None:
    """Console-script entry point: exit with :func:`main`'s code."""
    sys.exit(main())
