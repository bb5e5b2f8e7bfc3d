"""Verifying the event log in the database: every entity's hash chain, the order, and the Merkle tree.

One pass in the audited order (sealed position), in memory bounded by the
number of entities, with the per-event check of :mod:`workflow.audit.chain`:
each event's hash is recomputed from its stored fields (its request hash
too, when it has one) and the hash it names as previous, which must be the
last hash of the same entity (events from before the transparency log,
``seq`` below ``entity_chains_from``, keep their single global chain).
Positions must run from 1 without gaps. The sealed events rebuild a Merkle
tree whose root must equal the stored tree head and every root the auditor
kept (a signed checkpoint, or just a size and a root hash): a log rewritten
with recomputed hashes, cut, or forked cannot rebuild a root taken before
the change. A head the auditor kept as ``SEQ:HASH`` tells a log cut before
it from one rewritten up to it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import orjson

from workflow.audit.chain import ChainChecker, ChainReport, parse_head
from workflow.canonical import HASHED_FIELDS, canonical_text_time, event_bytes, timestamp

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

__all__ = [
    "ChainChecker",
    "ChainReport",
    "canonical_row",
    "entities_from",
    "parse_head",
    "stored_fields",
    "verify_chain",
]


def canonical_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """An ``event`` row in the form its hash covers (timestamps as text, payload parsed)."""
    fields = {name: row[name] for name in HASHED_FIELDS}
    for name in ("occurred_at", "effective_at"):
        value = fields[name]
        fields[name] = timestamp(value) if isinstance(value, datetime) else value
    fields["payload"] = orjson.loads(row["payload"])
    if row.get("request_hash") is not None:
        fields["request_hash"] = row["request_hash"]
    fields["hash"] = row["hash"]
    return fields


_KIND, _ID = HASHED_FIELDS.index("entity_kind"), HASHED_FIELDS.index("entity_id")
# Places in a stored row (``firesql.ROW_COLUMNS``).
_SEQ, _PREV, _REQUEST, _HASH = 0, len(HASHED_FIELDS) - 1, len(HASHED_FIELDS), len(HASHED_FIELDS) + 1
_POSITION = _HASH + 1


def stored_fields(row: tuple[Any, ...]) -> dict[str, Any]:
    """A raw event row as the members its hash covers, plus ``hash`` (and ``position`` if the row has it).

    The stored payload is canonical JSON text (the engine writes it so): it is
    embedded as it stands rather than parsed and re-dumped, so any change to
    the stored text, even one that means the same, breaks the hash. Stored
    times are rewritten as canonical text.
    """
    fields = dict(zip(HASHED_FIELDS, row, strict=False))
    fields["occurred_at"] = canonical_text_time(fields["occurred_at"])
    fields["effective_at"] = canonical_text_time(fields["effective_at"])
    fields["payload"] = orjson.Fragment(fields["payload"])
    fields["request_hash"] = row[_REQUEST]
    fields["hash"] = row[_HASH]
    if len(row) > _POSITION:
        fields["position"] = row[_POSITION]
    return fields


def _stored_canonical(row: tuple[Any, ...]) -> tuple[dict[str, Any], bytes, Callable[[], bytes] | None]:
    """What the checker reads of a raw row: the event, its bytes, its bytes under format 1 if they differ."""
    fields = stored_fields(row)
    position = fields.pop("position", None)
    legacy = None
    if fields["request_hash"] is not None:
        legacy = partial(event_bytes, {**fields, "request_hash": None})
    checked = {
        "seq": row[_SEQ],
        "entity_kind": row[_KIND],
        "entity_id": row[_ID],
        "prev_hash": row[_PREV],
        "hash": row[_HASH],
        "position": position,
    }
    return checked, event_bytes(fields), legacy


def entities_from(connection: Any) -> int:
    """The first ``seq`` chained per entity (``filiere_meta``); 1 when the key is absent."""
    from sqlalchemy import select

    from workflow.store.tables import META

    value = connection.execute(select(META.c.value).where(META.c.key == "entity_chains_from")).scalar()
    return int(value) if value is not None else 1


def verify_chain(
    db: Engine,
    *,
    head_hash: str | None = None,
    head_seq: int | None = None,
    kept_roots: Mapping[int, str] | None = None,
) -> ChainReport:
    """Verify the whole log stored in ``db``; report the first bad event.

    Args:
        db: the database.
        head_hash: an event hash the auditor kept (e.g. from an earlier export):
            the log must contain it, so a cut tail is detected.
        head_seq: the ``seq`` kept with it, which tells a cut tail from a rewritten log.
        kept_roots: tree sizes and root hashes the auditor kept (checkpoints):
            the log must rebuild each, so a rewrite, a cut or a fork is detected.
    """
    # The database modules are imported here, not above: checking an export needs none of them
    # (and SQLAlchemy alone is ~25 MB of the verifier's memory).
    from workflow.store import firesql, tree
    from workflow.store.db import snapshot

    with snapshot(db) as connection:  # the sealer may commit while we read
        stored = tree.head(connection)
        checker = ChainChecker(
            head_hash, kept_seq=head_seq, entities_from=entities_from(connection), kept_roots=kept_roots
        )
        for row in firesql.event_rows(connection):
            checker.check(*_stored_canonical(row))
        if checker.order_break:
            _find_moved(connection, checker)
        elif not checker.broken and stored.size == checker.size and stored.root != checker.root():
            _find_misplaced(connection, checker)
    return checker.report((stored.size, stored.root))


def _find_moved(connection: Connection, checker: ChainChecker) -> None:
    """Is the event missing at a break of order stored elsewhere? One look-up, once."""
    from sqlalchemy import select

    from workflow.store import firesql
    from workflow.store.tables import EVENT

    assert checker.wanted is not None
    what, value = checker.wanted
    columns = [EVENT.c[name] for name in firesql.ROW_COLUMNS]
    for row in connection.execute(select(*columns).where(EVENT.c[what] == value)):
        where = f"stored as event {row[_SEQ]}" if row[_POSITION] is None else f"at position {row[_POSITION]}"
        if checker.reordered(stored_fields(tuple(row)), where):
            return


def _find_misplaced(connection: Connection, checker: ChainChecker) -> None:
    """The events rebuild another root than the stored one: was one sealed where another now stands?

    The stored tree keeps each leaf (level 0) where it was sealed. At the
    first position whose event is not the leaf stored there, the event whose
    leaf it is, found further on, was moved (reordered), not rewritten.
    """
    from sqlalchemy import select

    from workflow.store import tree
    from workflow.store.tables import EVENT, TREE_NODE

    leaves = select(TREE_NODE.c.idx, TREE_NODE.c.hash).where(TREE_NODE.c.level == 0)
    stored = {int(i): str(h) for i, h in connection.execute(leaves)}
    events = select(EVENT.c.seq, EVENT.c.hash, EVENT.c.position).where(EVENT.c.position.is_not(None))
    wanted: tuple[int, str] | None = None
    for seq, digest, position in connection.execute(events.order_by(EVENT.c.position)):
        try:
            leaf = tree.leaf_of(str(digest)).hex()
        except ValueError:  # not a hash at all: the root check names it
            continue
        if wanted is None:
            sealed = stored.get(int(position) - 1)
            if sealed is not None and sealed != leaf:
                wanted = (int(position), sealed)
        elif leaf == wanted[1]:
            checker.fail(
                int(seq),
                f"events out of sequence: the event sealed at position {wanted[0]} is at position {position}"
                " (reordered)",
            )
            return
