"""The auditor's commands of ``filiere audit``: export, replay and as-of (verify is in ``cli``).

They read the database (or an export) and never write to it; a replay that
finds an illegal event or a divergence exits with the code of a broken chain,
so a script can tell "proven" from "not proven" without parsing the report.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from workflow.cli.common import (
    EXIT_CODES,
    Ctx,
    emit,
    guarded,
    json_option,
    parse_moment,
    plural,
    readable,
    when,
    writable,
)


@click.group()
def audit() -> None:
    """The auditor's tools."""


@audit.command()
@click.option(
    "--head",
    "head_hash",
    help="A head you kept earlier, HASH or SEQ:HASH: detects a cut tail (with SEQ, tells it from a rewrite).",
)
@click.option("--file", "path", help="Verify an export, not the database.")
@json_option
@click.pass_obj
@guarded
def verify(state: Ctx, head_hash: str | None, path: str | None) -> None:
    """Check the whole hash chain; report the first bad sequence number."""
    from workflow.audit.export import verify_file
    from workflow.audit.verify import parse_head, verify_chain

    kept_seq, kept = parse_head(head_hash) if head_hash is not None else (None, None)
    report = (
        verify_file(readable(path, "--file"), head_hash=kept, head_seq=kept_seq)
        if path
        else verify_chain(state.existing(), head_hash=kept, head_seq=kept_seq)
    )
    if state.as_json:
        click.echo(json.dumps(report.to_json(), sort_keys=True))
    elif report.ok:
        click.echo(f"chain ok: {plural(report.events, 'event')}, head {report.head_seq} {report.head_hash}")
        if report.legacy_request_hashes:
            click.echo(
                f"note: {plural(report.legacy_request_hashes, 'event')} written before format 2 keep a"
                " request hash their hash does not cover"
            )
    else:
        where = f"event {report.first_bad_seq}"
        click.echo(f"chain BROKEN at {where}: {str(report.problem).removeprefix(where + ': ')}")
    sys.exit(0 if report.ok else EXIT_CODES["audit chain broken"])


@audit.command("export")
@click.option("--out", required=True, help="The JSON-lines file to write (its folder must exist).")
@json_option
@click.pass_obj
@guarded
def audit_export(state: Ctx, out: str) -> None:
    """Write every event in order (canonical JSON lines) and a manifest with the head hash."""
    from workflow.audit.export import export_events, manifest_path

    writable(out, "--out")
    db = state.existing()
    if sys.stderr.isatty() and not state.as_json:
        with click.progressbar(length=_event_count(db), label="export", file=sys.stderr) as bar:
            manifest = export_events(db, out, bar.update)
    else:
        manifest = export_events(db, out)
    summary = {k: manifest[k] for k in ("events", "head_seq", "head_hash")}
    emit(
        state,
        {**summary, "file": out, "manifest": str(manifest_path(out))},
        f"exported {plural(manifest['events'], 'event')} to {out}; "
        f"head {manifest['head_seq']} {manifest['head_hash']}",
    )


def _event_count(db: Any) -> int:
    """The bar's length: the last sequence number (one query, not a pass over the log)."""
    from workflow.store.db import reading
    from workflow.store.eventlog import head_seq

    with reading(db) as connection:
        return head_seq(connection)


@audit.command("replay")
@click.option("--file", "path", help="Replay an export.")
@click.option("--until", "until_seq", type=int, help="Stop after this sequence number.")
@click.option("--as-of", "as_of", help="Stop at this moment (ISO; Europe/Rome without an offset).")
@json_option
@click.pass_obj
@guarded
def audit_replay(state: Ctx, path: str | None, until_seq: int | None, as_of: str | None) -> None:
    """Rebuild everything from the events, judge each step, compare with the live tables."""
    from workflow.audit.compare import compare
    from workflow.audit.definitions import proven
    from workflow.audit.export import read_events, read_manifest
    from workflow.audit.replay import replay
    from workflow.audit.stored import canonical_events, stored_definitions

    moment = parse_moment(as_of) if as_of else None
    if path:
        readable(path, "--file")
        manifest = read_manifest(path)
        rules = proven(manifest.get("definitions", {}) if manifest is not None else None)
        events: Any = (e for e in read_events(path) if _within(e, until_seq, moment))
        result = rules.conclude(replay(events, rules.definitions))
    else:
        db = state.existing()
        rules = proven(stored_definitions(db), "the definition table")
        result = replay(canonical_events(db, until_seq=until_seq, as_of=moment), rules.definitions)
        rules.conclude(result)
        if until_seq is None and moment is None:
            compare(db, result)
    text = result.text()
    if rules.source is None and not result.unjudged:
        text += "\n(no manifest: judged by the shipped definitions, which hash to the events' versions)"
    emit(state, result.to_json(), text)
    if rules.source is None and result.unjudged:
        sys.exit(EXIT_CODES["audit definitions unknown"])
    if not result.ok:
        sys.exit(EXIT_CODES["audit chain broken"])


def _within(event: dict[str, Any], until_seq: int | None, moment: Any) -> bool:
    from workflow.audit.replay import parse_time

    if until_seq is not None and int(event["seq"]) > until_seq:
        return False
    return moment is None or parse_time(event["occurred_at"]) <= moment


@audit.command("as-of")
@click.argument("moment")
@click.option("--kind", help="Only entities of this kind.")
@click.option("--id", "entity_id", help="Only this entity.")
@json_option
@click.pass_obj
@guarded
def audit_as_of(state: Ctx, moment: str, kind: str | None, entity_id: str | None) -> None:
    """The state of every entity (and of the lists) at a moment, rebuilt from the log."""
    from handlers.timeutil import to_json
    from workflow.audit.compare import as_of

    at = parse_moment(moment)
    result = as_of(state.existing(), at)
    chosen = [
        e
        for e in result.entities.values()
        if (kind is None or e.kind == kind) and (entity_id is None or e.id == entity_id)
    ]
    document = {
        "as_of": to_json(at),
        "last_seq": result.last_seq,
        "entities": [
            {"kind": e.kind, "id": e.id, "state": e.state, "version": e.version, "data": e.data}
            for e in chosen
        ],
        "lists": result.lists,
    }
    emit(
        state,
        document,
        "\n".join(
            [f"as of {when(at)} (through event {result.last_seq}):"]
            + [f"  {e.kind} {e.id}: {e.state} (version {e.version})" for e in chosen]
        ),
    )


COMMANDS = (audit,)
