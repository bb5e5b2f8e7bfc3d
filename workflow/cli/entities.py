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

from workflow.cli.common import (
    EXIT_CODES,
    Ctx,
    emit,
    engine_of,
    guarded,
    json_option,
    plural,
    read_json,
    readable,
    role_option,
    when,
)


def _data(raw: str | None, field: str = "data") -> dict[str, Any]:
    """``--data``: inline JSON, or ``@file`` holding JSON (UTF-8)."""
    from workflow.errors import InvalidInput

    if raw is None:
        return {}
    value = read_json(readable(raw[1:], field).read_bytes() if raw.startswith("@") else raw, field)
    if not isinstance(value, dict):
        raise InvalidInput(field, "must be a JSON object")
    return value


def _event_text(event: Any) -> str:
    head = (
        "DRY RUN, nothing written: "
        if event.dry_run
        else ("already done (same key): " if event.replayed else "")
    )
    moved = f"{event.from_state} -> {event.to_state}" if event.from_state else f"created in {event.to_state}"
    return (
        f"{head}{event.trigger} {event.entity_kind} {event.entity_id}: {moved} "
        f"(event {event.seq}, version {event.entity_version}, {when(event.occurred_at)})"
    )


def _fire(state: Ctx, kind: str, entity: str | None, trigger: str, **kwargs: Any) -> None:
    event = engine_of(state).fire(kind, entity, trigger, **kwargs)
    emit(state, event.report(), _event_text(event))


actor_option = click.option("--actor", required=True, help="Who acts (an account name).")


@click.group()
def load() -> None:
    """Load a call or measure configuration file."""


@load.command("call")
@click.argument("path")
@click.option("--actor", default="operator", show_default=True)
@json_option
@click.pass_obj
@guarded
def load_call(state: Ctx, path: str, actor: str) -> None:
    """Create a call from its TOML file (see docs/calls.md)."""
    from workflow.config import read_call_file

    payload = read_call_file(_toml(path))
    _fire(state, "call", None, "create", actor=actor, role="operator", payload=payload)


@load.command("measure")
@click.argument("path")
@click.option("--actor", default="operator", show_default=True)
@json_option
@click.pass_obj
@guarded
def load_measure(state: Ctx, path: str, actor: str) -> None:
    """Create a measure from its TOML file (see docs/measures.md)."""
    from workflow.config import read_measure_file

    payload = read_measure_file(_toml(path))
    _fire(state, "measure", None, "create", actor=actor, role="operator", payload=payload)


def _toml(path: str) -> Path:
    """A TOML file to load: readable, and without the byte-order mark some editors add (TOML forbids it)."""
    from workflow.errors import ConfigurationError

    target = readable(path, "PATH")
    with target.open("rb") as handle:
        if handle.read(3) == b"\xef\xbb\xbf":
            raise ConfigurationError(
                path,
                "file",
                "starts with a byte-order mark, which TOML forbids: save it as UTF-8 without BOM",
            )
    return target


@click.command("register")
@click.argument("path")
@actor_option
@role_option(default="applicant")
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
        payload=_data(f"@{path}", "PATH"),
        idempotency_key=key,
    )


@click.command()
@click.argument("kind")
@actor_option
@role_option()
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
@role_option()
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


#: A batch line's fields and their JSON types; ``kind``, ``trigger``, ``actor``, ``role`` are required.
LINE_FIELDS: dict[str, type] = {
    "kind": str,
    "id": str,
    "trigger": str,
    "actor": str,
    "role": str,
    "data": dict,
    "key": str,
    "expect_version": int,
}
REQUIRED_FIELDS = ("kind", "trigger", "actor", "role")


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """The lines worth reading (not blank, not a ``#`` comment), as bytes: each is decoded on its own."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip() and not line.lstrip().startswith(b"#"):
                yield number, line


def _line(raw: bytes) -> dict[str, Any]:
    """One batch line, read and typed; anything wrong is :class:`InvalidInput` naming the field."""
    from states import ROLES
    from workflow.errors import InvalidInput

    item = read_json(raw, "line")
    if not isinstance(item, dict):
        raise InvalidInput("line", "must be a JSON object")
    for name, value in item.items():
        wanted = LINE_FIELDS.get(name)
        if wanted is None:
            raise InvalidInput(name, f"unknown field (fields: {', '.join(LINE_FIELDS)})")
        if value is not None and (not isinstance(value, wanted) or isinstance(value, bool)):
            raise InvalidInput(name, f"must be {_JSON_NAMES[wanted]}")
    missing = [name for name in REQUIRED_FIELDS if not item.get(name)]
    if missing:
        raise InvalidInput(missing[0], "required")
    if item["role"] not in ROLES:
        raise InvalidInput("role", f"unknown role {item['role']!r} (roles: {', '.join(sorted(ROLES))})")
    return item


_JSON_NAMES = {str: "a string", dict: "a JSON object", int: "an integer"}


@click.command()
@click.argument("path")
@click.option(
    "--dry-run", is_flag=True, help="Judge every line in order as the real run would; write nothing."
)
@json_option
@click.pass_obj
@guarded
def batch(state: Ctx, path: str, dry_run: bool) -> None:
    """Fire one transition per JSON line, each in its own transaction; go on past failures.

    Each line: {"kind", "id", "trigger", "actor", "role", "data", "key", "expect_version"}.
    A result line per input line (with its line number); exit 15 if any line failed.
    With keys, re-running the same file changes nothing. --dry-run runs the lines in order
    inside one transaction rolled back at the end, so a line that depends on an earlier
    one is judged as the real run would judge it.
    """
    from contextlib import nullcontext

    engine = engine_of(state)
    lines = list(_lines(readable(path, "PATH")))
    failed = 0
    show_bar = sys.stderr.isatty() and not state.as_json
    with (
        engine.rehearsal() if dry_run else nullcontext(engine.fire) as fire,
        click.progressbar(lines, label="batch", file=sys.stderr if show_bar else io.StringIO()) as bar,
    ):
        for number, raw in bar:
            result, human = _batch_line(fire, number, raw)
            failed += not result["ok"]
            emit(state, result, human)
    if failed:
        click.echo(f"{failed} of {plural(len(lines), 'line')} failed", err=True)
        sys.exit(EXIT_CODES["batch had failures"])


def _batch_line(fire: Any, number: int, raw: bytes) -> tuple[dict[str, Any], str]:
    """Run one line; whatever goes wrong is that line's result, never the end of the batch."""
    from workflow.cli.exits import error_document, message_of
    from workflow.errors import FiliereError

    try:
        item = _line(raw)
        event = fire(
            item["kind"],
            item.get("id"),
            item["trigger"],
            actor=item["actor"],
            role=item["role"],
            payload=item.get("data") or {},
            idempotency_key=item.get("key"),
            expected_version=item.get("expect_version"),
        )
    except Exception as exc:
        code = exc.exit_code if isinstance(exc, FiliereError) else 1
        document = error_document(exc, code)
        return {"line": number, **document}, f"line {number}: {document['type']}: {message_of(exc)}"
    return {"line": number, "ok": True, **event.report()}, f"line {number}: ok: {_event_text(event)}"


COMMANDS = (load, register, create, fire, show, history, batch)
