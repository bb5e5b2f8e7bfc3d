"""The exit codes of ``filiere``: one per kind of mistake, the same in every command.

This table is the single source: the error classes carry their own code
(``workflow.errors``), the rows here say what each code means and what to do,
``filiere exit-codes`` prints it, and ``docs/operators.md`` holds its rendering
(a test compares them). Errors print as one line, or with ``--json`` as one
JSON document on stderr (:func:`error_document`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workflow import errors


@dataclass(frozen=True, slots=True)
class ExitCode:
    """One exit code: its number, what happened, the error types that give it, what to do."""

    code: int
    name: str
    meaning: str
    remedy: str
    types: tuple[str, ...] = ()


def _types(*classes: type[errors.FiliereError]) -> tuple[str, ...]:
    return tuple(c.__name__ for c in classes)  # the test of this table checks they share the row's code


TABLE: tuple[ExitCode, ...] = (
    ExitCode(0, "ok", "done", ""),
    ExitCode(
        1,
        "unexpected error",
        "an unexpected error (a bug): one line, the traceback with `--debug`",
        "report it with the `--debug` output",
        ("FiliereError", "UnexpectedError"),
    ),
    ExitCode(
        2,
        "usage error",
        "usage error (a missing option, an unknown command or option, a bad option value)",
        "fix the command line; `filiere COMMAND --help`",
        ("UsageError",),
    ),
    ExitCode(
        errors.NotFound.exit_code,
        "not found",
        "not found (no such entity)",
        "check the id",
        _types(errors.NotFound),
    ),
    ExitCode(
        errors.TransitionNotAllowed.exit_code,
        "not allowed in this state",
        "not allowed in this state (e.g. submitting a proposal already submitted)",
        "`filiere show` the entity",
        _types(errors.TransitionNotAllowed),
    ),
    ExitCode(
        errors.GuardRefused.exit_code,
        "guard refused",
        "refused by a guard (the message names the guard and why)",
        "fix the cause; for a deadline, nothing can be done",
        _types(errors.GuardRefused),
    ),
    ExitCode(
        errors.ForbiddenRole.exit_code,
        "forbidden role",
        "forbidden role: a known role that may not do this (auditors may fire nothing)",
        "use the right account and role",
        _types(errors.ForbiddenRole),
    ),
    ExitCode(
        errors.ConflictError.exit_code,
        "conflict",
        "conflict: someone changed the entity (`--expect-version`), a key was reused for another "
        "request, or the entity exists already",
        "reload and decide again",
        _types(
            errors.ConflictError, errors.VersionConflict, errors.IdempotencyMismatch, errors.AlreadyExists
        ),
    ),
    ExitCode(
        errors.InvalidInput.exit_code,
        "invalid input",
        "invalid input: malformed JSON or text, a bad field, an unknown kind, trigger or role, "
        "a float where an amount is expected, a bad batch line",
        "fix the data",
        _types(errors.InvalidInput),
    ),
    ExitCode(
        errors.ConfigurationError.exit_code,
        "configuration error",
        "configuration error: a call or measure file, `--now` on a real database, "
        "an unsupported database URL",
        "fix the file or the command",
        _types(errors.ConfigurationError, errors.InvalidDefinition),
    ),
    ExitCode(
        errors.DatabaseError.exit_code,
        "database unavailable",
        "database error or unavailable: unreachable, no such SQLite file (`filiere init` creates it), "
        "not a database, no PostgreSQL driver (`pip install 'filiere[postgres]'`)",
        "check `--db`; retry later; a refused transaction was rolled back whole",
        _types(errors.DatabaseError, errors.DatabaseUnavailable),
    ),
    ExitCode(
        errors.HandlerError.exit_code,
        "handler error",
        "a handler failed unexpectedly (a bug): rolled back",
        "report it with the `--debug` output",
        _types(errors.HandlerError),
    ),
    ExitCode(
        12,
        "audit chain broken",
        "`audit verify` or `audit replay`: the chain is broken or a step is not legal",
        "call the auditor",
    ),
    ExitCode(
        errors.AlreadyRunning.exit_code,
        "another scheduler is running",
        "another scheduler already runs on this SQLite file",
        "",
        _types(errors.AlreadyRunning),
    ),
    ExitCode(
        14,
        "scheduler lost the lead",
        "the scheduler lost its PostgreSQL lead and stopped",
        "systemd restarts it as a standby",
    ),
    ExitCode(
        15,
        "batch had failures",
        "`batch`: at least one line failed (every line was still tried)",
        "read the result lines",
    ),
    ExitCode(
        errors.FileUnavailable.exit_code,
        "file unavailable",
        "a file named on the command line cannot be read or written (missing, a folder, no permission)",
        "check the path",
        _types(errors.FileUnavailable),
    ),
    ExitCode(
        17,
        "audit definitions unknown",
        "`audit replay --file`: no manifest beside the export, and some events name definitions this"
        " Filiere does not ship, so they could not be judged",
        "replay the export with its manifest (`FILE.manifest.json`) beside it",
    ),
)

#: Exit codes by name, for the commands that exit on their own (a broken chain, a failed batch).
EXIT_CODES: dict[str, int] = {row.name: row.code for row in TABLE}


def markdown_table() -> str:
    """The table as ``docs/operators.md`` shows it (a test keeps the two the same)."""
    lines = ["| code | meaning | `type` in `--json` errors | what to do |", "| --- | --- | --- | --- |"]
    for row in TABLE:
        types = ", ".join(f"`{t}`" for t in row.types)
        cells = (str(row.code), row.meaning, types, row.remedy)
        lines.append("|" + "|".join(f" {cell} " if cell else " " for cell in cells) + "|")
    return "\n".join(lines) + "\n"


def type_of(exc: BaseException) -> str:
    """The ``type`` of an error in JSON: the class for ours, ``UnexpectedError`` for anything else."""
    return type(exc).__name__ if isinstance(exc, errors.FiliereError) else "UnexpectedError"


def error_document(exc: BaseException, code: int, type_name: str | None = None) -> dict[str, Any]:
    """An error as JSON: its type, message, the field it concerns (or null), and the exit code."""
    field = getattr(exc, "field", None)
    return {
        "ok": False,
        "type": type_name or type_of(exc),
        "message": message_of(exc),
        "field": field if isinstance(field, str) else None,
        "exit_code": code,
    }


def message_of(exc: BaseException) -> str:
    """One line a person can read: the error's own text, or its type and text for a surprise."""
    text = str(exc) if isinstance(exc, errors.FiliereError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split()) or type(exc).__name__
