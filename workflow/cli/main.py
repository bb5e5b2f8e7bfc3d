"""The ``filiere`` command: its root group, its global options and its one error boundary.

This module only assembles the command groups (one module each, none importing
another) under the root group, and runs them. Heavy modules (SQLAlchemy,
SQLModel, structlog) are imported inside the commands that need them, so
``filiere --help`` stays fast.

:func:`main` is the one error boundary of every command: an error of the
engine's hierarchy prints one line on stderr (one JSON document with
``--json``) and exits with its class's code; anything unexpected prints
``error: …`` and exits 1; ``--debug`` adds the traceback. The global options
(``--db``, ``--json``, ``--log-json`` …) may come before or after the command:
:func:`hoist` moves them to the front before click parses.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

import click

from workflow.cli import admin, audit, entities, reports, scheduling, serving
from workflow.cli.common import Ctx
from workflow.cli.exits import error_document, message_of

#: Global flags (no value) and global options (one value) accepted anywhere on the line.
GLOBAL_FLAGS = frozenset({"--json", "--debug", "--log-json", "--log-console"})
GLOBAL_VALUED = frozenset({"--db", "--now"})


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="filiere", prog_name="filiere", message="%(prog)s %(version)s")
@click.option("--db", envvar="FILIERE_DATABASE_URL", help="Database URL (default: sqlite:///filiere.db).")
@click.option(
    "--json", "as_json", is_flag=True, help="Machine-readable output and errors (also after COMMAND)."
)
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.option("--log-json/--log-console", default=None, help="Log format (default: console on a terminal).")
@click.option("--now", help="Set the clock (only on a database created with `init --simulation`).")
@click.pass_context
def cli(
    ctx: click.Context, *, db: str | None, as_json: bool, debug: bool, log_json: bool | None, now: str | None
) -> None:
    """Filiere: a workflow engine for public funding calls.

    --db, --json, --debug, --log-json and --now may come before or after COMMAND.
    Exit codes: `filiere exit-codes`.
    """
    ctx.obj = Ctx(db, debug, now, as_json)
    ctx.call_on_close(ctx.obj.close)
    if ctx.invoked_subcommand not in (None, "diagram", "exit-codes", "demo"):
        from workflow.logconfig import configure

        configure(json=log_json)


for _module in (admin, entities, reports, audit, scheduling, serving):
    for _command in _module.COMMANDS:
        cli.add_command(_command)


def hoist(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split the line into the global options (wherever they were) and the rest, in order.

    The walk follows click's own grammar: it descends into subcommands and skips the value
    of each command option that takes one, so ``--data --json`` stays the value of ``--data``.
    Nothing after ``--`` moves.
    """
    front: list[str] = []
    rest: list[str] = []
    command: click.Command = cli
    index = 0
    while index < len(argv):
        token = argv[index]
        name, equals, _ = token.partition("=")
        if token == "--":
            rest.extend(argv[index:])
            break
        if name in GLOBAL_FLAGS and not equals:
            front.append(token)
        elif name in GLOBAL_VALUED:
            taken = 1 if equals else 2
            front.extend(argv[index : index + taken])
            index += taken - 1
        elif token.startswith("-") and len(token) > 1:
            rest.append(token)
            if not equals and _takes_value(command, name) and index + 1 < len(argv):
                index += 1
                rest.append(argv[index])
        else:
            if isinstance(command, click.Group):
                command = command.commands.get(token, command)
            rest.append(token)
        index += 1
    return front, rest


def _takes_value(command: click.Command, name: str) -> bool:
    for param in command.params:
        if isinstance(param, click.Option) and name in (*param.opts, *param.secondary_opts):
            return not (param.is_flag or param.count)
    return False


def _check_text(argv: Sequence[str]) -> None:
    """An argument the terminal could not decode (a stray byte under ``LC_ALL=C``) is refused whole."""
    from workflow.errors import InvalidInput

    for position, token in enumerate(argv, start=1):
        try:
            token.encode("utf-8")
        except UnicodeEncodeError:
            shown = token.encode("utf-8", "surrogateescape").decode("ascii", "backslashreplace")
            raise InvalidInput(
                f"argument {position}", f"{shown!r} is not valid text in this terminal's encoding"
            ) from None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return its exit code (for tests and ``python -m workflow``)."""
    front, rest = hoist(list(sys.argv[1:] if argv is None else argv))
    debug, as_json = "--debug" in front, "--json" in front
    try:
        _check_text([*front, *rest])
        cli.main(args=[*front, *rest], prog_name="filiere", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.exceptions.Abort:
        return _fail(KeyboardInterrupt("aborted"), 1, as_json, debug=False, type_name="Aborted")
    except click.ClickException as exc:
        text = exc.format_message()
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            text += f" (see `{exc.ctx.command_path} --help`)"
        return _fail(exc, exc.exit_code, as_json, debug, type_name="UsageError", text=text)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception as exc:
        ours = _as_ours(exc)
        return _fail(ours, _code_of(ours), as_json, debug)
    return 0


def _code_of(exc: BaseException) -> int:
    from workflow.errors import FiliereError

    return exc.exit_code if isinstance(exc, FiliereError) else 1


def _fail(
    exc: BaseException,
    code: int,
    as_json: bool,
    debug: bool,
    *,
    type_name: str | None = None,
    text: str | None = None,
) -> int:
    """Say what went wrong once, on stderr: one line, or one JSON document with ``--json``."""
    if debug:
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    document = error_document(exc, code, type_name)
    param = getattr(exc, "param", None)
    if isinstance(param, click.Parameter) and document["field"] is None:
        document["field"] = param.opts[0] if param.opts else param.name
    if text is not None:
        document["message"] = " ".join(text.split())
    line = (
        json.dumps(document, ensure_ascii=False, sort_keys=True)
        if as_json
        else f"error: {document['message'] if text is not None else message_of(exc)}"
    )
    click.echo(line.encode("utf-8", "backslashreplace").decode("utf-8"), err=True)
    return code


def _as_ours(exc: BaseException) -> BaseException:
    """An operating system's refusal of a named file is a file we cannot use, whichever command met it."""
    from workflow.errors import FileUnavailable

    if isinstance(exc, OSError) and exc.filename is not None:
        ours = FileUnavailable("file", str(exc.filename), exc.strerror or type(exc).__name__)
        ours.__cause__ = exc
        return ours
    return exc


def run() -> None:
    """Console-script entry point: exit with :func:`main`'s code."""
    sys.exit(main())
