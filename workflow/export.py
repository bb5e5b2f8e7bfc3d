"""Exporting the event log for auditors, and verifying an export without the database.

``export_events`` streams every event, in order, as one canonical JSON line
(the hashed fields plus the hash: exactly the bytes the chain covers, plus the
hash), in constant memory, and writes a manifest beside it with the count, the
head and every machine definition the events name, so that the file alone is
enough to verify and to replay.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from workflow.audit import ChainChecker, ChainReport
from workflow.canonical import HASHED_FIELDS
from workflow.replay import canonical_events, stored_definitions

if TYPE_CHECKING:
    from sqlalchemy import Engine

FORMAT = "filiere-events/1"


def manifest_path(path: str | Path) -> Path:
    """Where the manifest of an export lives."""
    return Path(f"{path}.manifest.json")


def export_events(
    db: Engine, out: str | Path, progress: Callable[[int], None] | None = None
) -> dict[str, Any]:
    """Write every event to ``out`` (JSON lines) and its manifest; return the manifest."""
    count, head_seq, head_hash = 0, 0, "0" * 64
    with Path(out).open("wb") as handle:
        for event in canonical_events(db):
            handle.write(orjson.dumps(event, option=orjson.OPT_SORT_KEYS) + b"\n")
            count, head_seq, head_hash = count + 1, int(event["seq"]), str(event["hash"])
            if progress is not None:
                progress(1)
    return write_manifest(out, count, (head_seq, head_hash), stored_definitions(db))


def write_manifest(
    out: str | Path, count: int, head: tuple[int, str], definitions: dict[str, Any]
) -> dict[str, Any]:
    """Write the manifest beside the export ``out``; return it."""
    manifest = {
        "format": FORMAT,
        "events": count,
        "head_seq": head[0],
        "head_hash": head[1],
        "exported_at": datetime.now(UTC).isoformat(),
        "definitions": definitions,
    }
    manifest_path(out).write_bytes(orjson.dumps(manifest, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2))
    return manifest


def read_events(path: str | Path) -> Iterator[dict[str, Any]]:
    """The events of an export, one at a time."""
    with Path(path).open("rb") as handle:
        for line in handle:
            if line.strip():
                yield orjson.loads(line)


def read_manifest(path: str | Path) -> dict[str, Any] | None:
    """The manifest beside an export, if there is one."""
    where = manifest_path(path)
    return orjson.loads(where.read_bytes()) if where.exists() else None


def verify_file(path: str | Path, *, head_hash: str | None = None) -> ChainReport:
    """Verify an exported chain; the manifest's head (or ``head_hash``) catches a cut tail.

    Each line must be the canonical JSON of its event (what the export
    writes: sorted keys, no spaces), so that what replay parses is exactly
    what the hash covers; the canonical bytes are then the line less its
    ``hash`` member, hashed as they stand.
    """
    manifest = read_manifest(path)
    checker = ChainChecker(head_hash)
    with Path(path).open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            body = line.rstrip(b"\n")
            if body:
                _check_line(checker, number, body)
            if checker.broken:
                break
    head = (int(manifest["head_seq"]), str(manifest["head_hash"])) if manifest else None
    return checker.report(head)


_HASH_MEMBER = b',"hash":"'
_HASH_MEMBER_LENGTH = len(_HASH_MEMBER) + 64 + 1  # the member, 64 hex digits, the closing quote


def _check_line(checker: ChainChecker, number: int, body: bytes) -> None:
    at = checker.last_seq + 1
    try:
        event = orjson.loads(body)
    except orjson.JSONDecodeError:
        checker.fail(at, f"line {number} is not JSON")
        return
    if not isinstance(event, dict) or not event.keys() >= _FIELDS:
        checker.fail(at, f"line {number} is not an event (fields missing)")
        return
    cut = body.find(_HASH_MEMBER)
    if cut < 0 or orjson.dumps(event, option=orjson.OPT_SORT_KEYS) != body:
        checker.fail(at, f"line {number} is not in canonical form (altered)")
        return
    checker.check(event, body[:cut] + body[cut + _HASH_MEMBER_LENGTH :])


_FIELDS = frozenset((*HASHED_FIELDS, "hash"))
