"""What every ``filiere`` command shares: its state, options, output and error boundary.

Command modules import this one and nothing of each other; ``workflow.cli.main``
assembles them. Heavy modules are imported inside functions so that
``filiere --help`` stays fast.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from workflow.cli.exits import EXIT_CODES

F = TypeVar("F", bound=Callable[..., Any])

__all__ = [
    "EXIT_CODES",
    "SIMULATION_KEY",
    "Ctx",
    "emit",
    "engine_of",
    "guarded",
    "json_option",
    "parse_moment",
    "plural",
    "read_json",
    "readable",
    "role_option",
    "when",
]


class Ctx:
    """What one invocation knows: the database URL, flags, the output mode and its engine, opened once."""

    def __init__(self, db: str | None, debug: bool, now: str | None = None, as_json: bool = False) -> None:
        self.db = db
        self.debug = debug
        self.now = now
        self.as_json = as_json
        self.simulated_at: Any = None
        self.engine: Any = None
        self.opened: list[Any] = []

    def existing(self) -> Any:
        """The database for the auditor's reads: it must exist and hold Filiere's schema."""
        from workflow.store.schema import open_existing

        db = open_existing(self.db)
        self.opened.append(db)
        return db

    def close(self) -> None:
        """Let go of every connection this invocation opened (click calls it when the command ends)."""
        for db in [*self.opened, *([self.engine.db] if self.engine is not None else [])]:
            db.dispose()
        self.opened.clear()
        self.engine = None


SIMULATION_KEY = "simulation"


def engine_of(state: Ctx) -> Any:
    """The engine of this invocation; ``--now`` only on a database created as a simulation."""
    if state.engine is not None:
        return state.engine
    from workflow.clock import SimulatedClock
    from workflow.engine import Engine
    from workflow.errors import ConfigurationError
    from workflow.store.db import check_url
    from workflow.store.schema import read_meta

    engine = Engine(check_url(state.db, must_exist=True))
    state.opened.append(engine.db)
    simulation = read_meta(engine.db, SIMULATION_KEY) == "true"
    if state.now is not None and not simulation:
        raise ConfigurationError(
            "--now", "clock", "this database is not a simulation: its clock cannot be set"
        )
    if simulation:
        engine.clock = SimulatedClock(_simulated_time(engine, state.now))
        state.simulated_at = engine.clock.now()
    state.engine = engine
    return engine


def _simulated_time(engine: Any, wanted: str | None) -> Any:
    """A simulation's clock only moves forward; without --now it stays where it was last set."""
    from handlers.timeutil import from_json, to_json
    from workflow.errors import ConfigurationError
    from workflow.store.schema import read_meta, write_meta

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


def when(moment: Any) -> str:
    """A moment for people: to the second, in Europe/Rome (``2022-12-31 16:00:00 Europe/Rome``)."""
    from handlers.timeutil import ROME

    return f"{moment.astimezone(ROME):%Y-%m-%d %H:%M:%S} Europe/Rome"


def plural(count: int, word: str, words: str | None = None) -> str:
    """``1 proposal``, ``2 proposals`` (``words`` for an irregular plural)."""
    return f"{count} {word if count == 1 else (words or word + 's')}"


def emit(state: Ctx, document: dict[str, Any], text: str) -> None:
    """Print one result: a JSON document with --json, else text; a simulation says so each time."""
    if state.as_json:
        if state.simulated_at is not None:
            from handlers.timeutil import to_json

            document = {**document, "simulation": True, "simulated_now": to_json(state.simulated_at)}
        click.echo(json.dumps(document, ensure_ascii=False, default=str, sort_keys=True))
        return
    if state.simulated_at is not None:
        text = f"[SIMULATION, clock at {when(state.simulated_at)}] {text}"
    click.echo(text)


def json_option(function: F) -> F:
    """``--json`` on a command (it may also come before the command: ``filiere --json show ...``)."""

    def remember(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
        state = ctx.find_object(Ctx)
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
        help="Machine-readable output; errors as JSON on stderr.",
    )
    return decorate(function)


def _known_role(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    from states import ROLES
    from workflow.errors import InvalidInput

    if value is not None and value not in ROLES:
        raise InvalidInput("role", f"unknown role {value!r} (roles: {', '.join(sorted(ROLES))})")
    return value


def role_option(default: str | None = None) -> Callable[[F], F]:
    """``--role``: an unknown role is invalid input (exit 8) in every command, before anything runs."""
    given: dict[str, Any] = (
        {"required": True} if default is None else {"default": default, "show_default": True}
    )
    return click.option(
        "--role",
        callback=_known_role,
        help="applicant, operator, evaluator, director, system or auditor.",
        **given,
    )


def readable(path: str, field: str) -> Path:
    """A file the command must read: missing, a folder or unreadable is :class:`FileUnavailable`."""
    from workflow.errors import FileUnavailable

    target = Path(path)
    if target.is_dir():
        raise FileUnavailable(field, path, "it is a folder")
    if not target.is_file():
        raise FileUnavailable(field, path, "no such file")
    if not os.access(target, os.R_OK):
        raise FileUnavailable(field, path, "not readable (permission denied)")
    return target


def writable(path: str, field: str) -> Path:
    """A file the command will write: its folder must exist and the path must not be a folder."""
    from workflow.errors import FileUnavailable

    target = Path(path)
    folder = target.parent
    if target.is_dir():
        raise FileUnavailable(field, path, "it is a folder")
    if not folder.is_dir():
        raise FileUnavailable(field, path, f"no such folder {str(folder)!r}")
    if not os.access(folder, os.W_OK):
        raise FileUnavailable(field, path, "the folder is not writable (permission denied)")
    return target


def read_json(raw: bytes | str, field: str) -> Any:
    """Decode and parse JSON; every way it can be wrong is :class:`InvalidInput` naming ``field``.

    Only the JSON itself is judged here (UTF-8, syntax, numbers a float can hold, depth);
    what the values may be is the payload models' business.
    """
    from workflow.errors import InvalidInput

    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            field, f"not UTF-8 text (byte {exc.object[exc.start]:#04x} at {exc.start})"
        ) from None
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except json.JSONDecodeError as exc:
        raise InvalidInput(field, f"not JSON: {exc}") from None
    except RecursionError:
        raise InvalidInput(field, "nested too deeply") from None
    except ValueError as exc:  # our parse hooks, or an integer too long for Python to read
        raise InvalidInput(field, str(exc)) from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"the number {text[:20]}{'...' if len(text) > 20 else ''} is out of range")
    return number


def guarded(function: F) -> F:
    """Kept for the command modules: the error boundary itself is ``workflow.cli.main.main``.

    Every error, ours or not, reaches that one boundary whichever command raised it; nothing
    needs to be caught here.
    """
    return function
