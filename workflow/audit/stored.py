"""The stored log as replay reads it: events in canonical form, and the definitions they name.

SQLAlchemy and the tables are imported when these are called, not on import:
replaying an export needs neither, and they are ~40 MB of a replay's memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from sqlalchemy import Engine


def canonical_events(
    db: Engine, *, until_seq: int | None = None, as_of: datetime | None = None, sealed_only: bool = False
) -> Iterator[dict[str, Any]]:
    """Stream the stored events in canonical form (payload parsed), in order, optionally cut.

    An event's request hash is kept only when its hash covers it (format 2),
    so that an exported line is exactly the bytes its hash covers, plus the
    hash and, once sealed, its ``position`` (not hashed: the Merkle tree covers it).
    """
    from workflow.canonical import canonical_text_time, chain_hash, event_bytes
    from workflow.store import firesql
    from workflow.store.db import snapshot

    names = firesql.ROW_COLUMNS
    with snapshot(db) as connection:
        for row in firesql.event_rows(connection, until_seq=until_seq, as_of=as_of, unsealed=not sealed_only):
            event = dict(zip(names, row, strict=True))
            if event["position"] is None:
                del event["position"]
            event["occurred_at"] = canonical_text_time(event["occurred_at"])
            event["effective_at"] = canonical_text_time(event["effective_at"])
            event["payload"] = orjson.loads(event["payload"])
            if event["request_hash"] is None or (
                chain_hash(event["prev_hash"], event_bytes(event)) != event["hash"]
            ):
                del event["request_hash"]
            yield event


def stored_definitions(db: Engine) -> dict[str, dict[str, Any]]:
    """Every definition version an event was fired under, by version."""
    from sqlalchemy import select

    from workflow.store.db import reading
    from workflow.store.tables import DEFINITION

    with reading(db) as connection:
        return {r.version: orjson.loads(r.content) for r in connection.execute(select(DEFINITION))}
