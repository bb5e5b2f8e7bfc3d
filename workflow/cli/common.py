"""What every ``filiere`` command shares: its state, options, output and error boundary.

Command modules import this one and nothing of each other; ``workflow.cli.main``
assembles them. Heavy modules are imported inside functions so that
``filiere --help`` stays fast.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
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
    "audit definitions unknown": 16,
}


class Ctx:
    """What one invocation knows: the database URL, flags, the output mode and its engine, opened once."""

    def __init__(self, db: str | None, debug: bool, now: str | None = None) -> None:
        self.db = db
        self.debug = debug
        self.now = now
        self.as_json = False
        self.simulated_at: str | None = None
        self.engine: Any = None


SIMULATION_KEY = "simulation"


def engine_of(state: Ctx) -> Any:
    """The engine of this invocation; ``--now`` only on a database created as a simulation."""
    if state.engine is not None:
        return state.engine
    from handlers.timeutil import ROME
    from workflow.clock import SimulatedClock
    from workflow.engine import Engine
    from workflow.errors import ConfigurationError
    from workflow.store.schema import read_meta

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


def emit(state: Ctx, document: dict[str, Any], text: str) -> None:
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
        help="Machine-readable output.",
    )
    return decorate(function)


def guarded(function: F) -> F:
    """Turn the engine's errors into one line on stderr and the class's exit code."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from workflow.errors import FiliereError

        try:
            return function(*args, **kwargs)
        except FiliereError as exc:
            state = click.get_current_context().find_object(Ctx)
            if state is not None and state.debug:
                raise
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)

    wrapper.__name__ = function.__name__
    wrapper.__doc__ = function.__doc__
    return wrapper  # type: ignore[return-value]
