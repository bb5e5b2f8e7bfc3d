"""The operators' commands that act on entities: load, register, create, fire, batch, show, history.

Every command prints human output by default and one JSON document with
``--json`` (JSON lines for streams: ``history``, ``batch``); errors print one
line on stderr and exit with the code of their class (``docs/operators.md``).
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from workflow.cli.common import EXIT_CODES, Ctx, emit, engine_of, guarded, json_option


def _data(raw: str | None) -> dict[str, Any]:
    """``--data``: inline JSON, or ``@file`` holding JSON."""
    from workflow.errors import InvalidInput

    if raw is None:
        return {}
    text = raw
    if raw.startswith("@"):
        try:
            text = Path(raw[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInput("data", f"cannot read {raw[1:]}: {exc.strerror}") from exc
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput("data", f"not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidInput("data", "must be a JSON object")
    return value


def _event_text(event: Any) -> str:
    from handlers.timeutil import for_people

    head = (
        "DRY RUN, nothing written: "
        if event.dry_run
        else ("already done (same key): " if event.replayed else "")
    )
    moved = f"{event.from_state} -> {event.to_state}" if event.from_state else f"created in {event.to_state}"
    return (
        f"{head}{event.trigger} {event.entity_kind} {event.entity_id}: {moved} "
        f"(event {event.seq}, version {event.entity_version}, {for_people(event.occurred_at)})"
    )


def _fire(state: Ctx, kind: str, entity: str | None, trigger: str, **kwargs: Any) -> None:
    event = engine_of(state).fire(kind, entity, trigger, **kwargs)
    emit(state, event.report(), _event_text(event))


actor_option = click.option("--actor", required=True, help="Who acts (an account name).")


@click.group()
def load() -> None:
    """Load a call or measure configuration file."""


@load.command("call")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--actor", default="operator", show_default=True)
@json_option
@click.pass_obj
@guarded
def load_call(state: Ctx, path: str, actor: str) -> None:
    """Create a call from its TOML file (see docs/calls.md)."""
    from workflow.config import read_call_file

    _fire(state, "call", None, "create", actor=actor, role="operator", payload=read_call_file(path))


@load.command("measure")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--actor", default="operator", show_default=True)
@json_option
@click.pass_obj
@guarded
def load_measure(state: Ctx, path: str, actor: str) -> None:
    """Create a measure from its TOML file (see docs/measures.md)."""
    from workflow.config import read_measure_file

    _fire(state, "measure", None, "create", actor=actor, role="operator", payload=read_measure_file(path))


@click.command("register")
@click.argument("path", type=click.Path(dir_okay=False))
@actor_option
@click.option("--role", default="applicant", show_default=True)
@click.option("--key", help="Idempotency key: a retry returns the first result.")
@json_option
@click.pass_obj
@guarded
def register(state: Ctx, path: str, actor: str, role: str, key: str | None) -> None:
    """Register a partnership from a JSON file (name, agreement, partners)."""
    _fire(
        state,
        "partnership",
        None,
        "create",
        actor=actor,
        role=role,
        payload=_data(f"@{path}"),
        idempotency_key=key,
    )


@click.command()
@click.argument("kind")
@actor_option
@click.option("--role", required=True)
@click.option("--data", help="The payload: JSON, or @file.")
@click.option(
    "--id", "entity_id", help="An evaluator's id (their actor name); the engine numbers the other kinds."
)
@click.option("--key", help="Idempotency key: a retry returns the first result.")
@json_option
@click.pass_obj
@guarded
def create(
    state: Ctx, *, kind: str, actor: str, role: str, data: str | None, entity_id: str | None, key: str | None
) -> None:
    """Create an entity (a proposal, an application, a decree, an evaluator, ...)."""
    _fire(state, kind, entity_id, "create", actor=actor, role=role, payload=_data(data), idempotency_key=key)


@click.command()
@click.argument("kind")
@click.argument("entity_id")
@click.argument("trigger")
@actor_option
@click.option("--role", required=True)
@click.option("--data", help="The payload: JSON, or @file.")
@click.option("--key", help="Idempotency key: a retry returns the first result.")
@click.option("--expect-version", type=int, help="Refuse (exit 7) if the entity changed since this version.")
@click.option("--dry-run", is_flag=True, help="Check roles and guards, show the event, write nothing.")
@json_option
@click.pass_obj
@guarded
def fire(
    state: Ctx,
    *,
    kind: str,
    entity_id: str,
    trigger: str,
    actor: str,
    role: str,
    data: str | None,
    key: str | None,
    expect_version: int | None,
    dry_run: bool,
) -> None:
    """Fire TRIGGER on the entity KIND ENTITY_ID."""
    _fire(
        state,
        kind,
        entity_id,
        trigger,
        actor=actor,
        role=role,
        payload=_data(data),
        idempotency_key=key,
        expected_version=expect_version,
        dry_run=dry_run,
    )


@click.command()
@click.argument("kind")
@click.argument("entity_id")
@json_option
@click.pass_obj
@guarded
def show(state: Ctx, kind: str, entity_id: str) -> None:
    """Show an entity: state, version, data."""
    entity = engine_of(state).get(kind, entity_id)
    document = {
        "kind": entity.kind,
        "id": entity.id,
        "state": entity.state,
        "version": entity.version,
        "parent_id": entity.parent_id,
        "data": dict(entity.data),
    }
    text = f"{kind} {entity_id}: {entity.state} (version {entity.version})\n" + json.dumps(
        dict(entity.data), indent=2, ensure_ascii=False, sort_keys=True
    )
    emit(state, document, text)


@click.command()
@click.argument("kind")
@click.argument("entity_id")
@json_option
@click.pass_obj
@guarded
def history(state: Ctx, kind: str, entity_id: str) -> None:
    """Every event of an entity, oldest first (JSON lines with --json)."""
    for event in engine_of(state).history(kind, entity_id):
        emit(state, event.report(), _event_text(event))


def _lines(path: str) -> Iterator[tuple[int, str]]:
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip() and not line.lstrip().startswith("#"):
                yield number, line


@click.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Check every line, write nothing.")
@json_option
@click.pass_obj
@guarded
def batch(state: Ctx, path: str, dry_run: bool) -> None:
    """Fire one transition per JSON line, each in its own transaction; go on past failures.

    Each line: {"kind", "id", "trigger", "actor", "role", "data", "key", "expect_version"}.
    A result line per input line; exit 15 if any line failed. With keys, re-running
    the same file changes nothing.
    """
    from workflow.errors import FiliereError, InvalidInput

    engine = engine_of(state)
    lines = list(_lines(path))
    failed = 0
    show_bar = sys.stderr.isatty() and not state.as_json
    with click.progressbar(lines, label="batch", file=sys.stderr if show_bar else io.StringIO()) as bar:
        for number, line in bar:
            try:
                item = json.loads(line)
                if not isinstance(item, dict):
                    raise InvalidInput("line", "must be a JSON object")
                event = engine.fire(
                    item.get("kind", ""),
                    item.get("id"),
                    item.get("trigger", ""),
                    actor=item.get("actor", ""),
                    role=item.get("role", ""),
                    payload=item.get("data") or {},
                    idempotency_key=item.get("key"),
                    expected_version=item.get("expect_version"),
                    dry_run=dry_run,
                )
                result = {"line": number, "ok": True, **event.report()}
                human = f"line {number}: ok: {_event_text(event)}"
            except json.JSONDecodeError as exc:
                failed += 1
                result = {
                    "line": number,
                    "ok": False,
                    "error": "InvalidInput",
                    "exit_code": 8,
                    "message": f"not JSON: {exc}",
                }
                human = f"line {number}: invalid input: not JSON: {exc}"
            except FiliereError as exc:
                failed += 1
                result = {
                    "line": number,
                    "ok": False,
                    "error": type(exc).__name__,
                    "exit_code": exc.exit_code,
                    "message": str(exc),
                }
                human = f"line {number}: {type(exc).__name__}: {exc}"
            emit(state, result, human)
    if failed:
        click.echo(f"{failed} of {len(lines)} lines failed", err=True)
        sys.exit(EXIT_CODES["batch had failures"])


COMMANDS = (load, register, create, fire, show, history, batch)
