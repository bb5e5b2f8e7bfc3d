"""Verifying the hash chain of the event log.

The chain is checked in one pass, in sequence order, in constant memory: each
event's hash is recomputed from its stored fields and the previous hash; the
sequence must run from 1 without gaps; the ``chain_head`` row must name the
last event. A head hash the auditor kept from an earlier export proves that no
tail was cut, even if ``chain_head`` was rewritten too.

The per-event check (:class:`ChainChecker`) knows nothing of the database, so
the same code verifies an exported file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from workflow.canonical import GENESIS, HASHED_FIELDS, canonical_text_time, chain_hash, event_bytes, timestamp

if TYPE_CHECKING:
    from sqlalchemy import Engine


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The verdict on a chain.

    Attributes:
        ok: the chain is intact (and reaches ``head_hash`` if one was given).
        events: how many events were read.
        head_seq: the last sequence number read (0 for an empty log).
        head_hash: the last hash read (the genesis hash for an empty log).
        first_bad_seq: the first sequence number at which the chain breaks.
        problem: what is wrong there, in words.
    """

    ok: bool
    events: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return asdict(self)


class ChainChecker:
    """Checks events one at a time, in the order given; remembers the first break."""

    def __init__(self, kept_hash: str | None = None, *, after: tuple[int, str] = (0, GENESIS)) -> None:
        self.count = 0
        # ``after``: the event before the first one given (a slice of a chain starts mid-way).
        self.last_seq, self.last_hash = after
        self.first_bad_seq: int | None = None
        self.problem: str | None = None
        self.kept_hash = kept_hash
        self.kept_found = kept_hash is None or kept_hash == GENESIS

    @property
    def broken(self) -> bool:
        """Whether a break was found."""
        return self.first_bad_seq is not None

    def check(self, event: Mapping[str, Any], canonical: bytes | None = None) -> None:
        """Check one event (its hashed fields in canonical form, plus ``hash``).

        ``canonical`` is the event's canonical bytes when the caller already
        holds them (an export's line less its hash member), saving a re-dump.
        """
        self.count += 1
        seq = int(event["seq"])
        if self.linked(seq, event["prev_hash"]) and (
            chain_hash(self.last_hash, canonical or event_bytes(event)) != event["hash"]
        ):
            self.fail(seq, "hash does not match the event's content (altered)")
        self.last_seq = seq
        self.last_hash = str(event["hash"])
        if self.last_hash == self.kept_hash:
            self.kept_found = True

    def linked(self, seq: int, prev_hash: str) -> bool:
        """Whether an event numbered ``seq`` naming ``prev_hash`` follows the last one; else a break."""
        expected = self.last_seq + 1
        if seq != expected:
            what = "deleted" if seq > expected else "duplicated or reordered"
            self.fail(expected, f"sequence jumps from {self.last_seq} to {seq} ({what})")
            return False
        if prev_hash != self.last_hash:
            self.fail(seq, f"prev_hash does not match event {self.last_seq} (inserted, deleted or reordered)")
            return False
        return True

    def fail(self, seq: int, problem: str) -> None:
        """Record a break at ``seq`` (only the first one is kept)."""
        if self.first_bad_seq is None:
            self.first_bad_seq = seq
            self.problem = f"event {seq}: {problem}"

    def report(self, head: tuple[int, str] | None = None) -> ChainReport:
        """The verdict; ``head`` is the stored chain head (last seq, last hash), if any."""
        if not self.broken and head is not None and head != (self.last_seq, self.last_hash):
            self.fail(
                min(head[0], self.last_seq + 1),
                f"chain ends at {self.last_seq} but its recorded head says {head[0]}"
                " (tail cut or head altered)",
            )
        if not self.broken and not self.kept_found:
            kept = str(self.kept_hash)
            self.fail(self.last_seq + 1, f"the kept head hash {kept[:16]}… is not in the chain (tail cut)")
        return ChainReport(
            ok=not self.broken,
            events=self.count,
            head_seq=self.last_seq,
            head_hash=self.last_hash,
            first_bad_seq=self.first_bad_seq,
            problem=self.problem,
        )


def canonical_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """An ``event`` row in the form its hash covers (timestamps as text, payload parsed)."""
    fields = {name: row[name] for name in HASHED_FIELDS}
    for name in ("occurred_at", "effective_at"):
        value = fields[name]
        fields[name] = timestamp(value) if isinstance(value, datetime) else value
    fields["payload"] = orjson.loads(row["payload"])
    fields["hash"] = row["hash"]
    return fields


_SEQ, _PREV, _HASH = 0, len(HASHED_FIELDS) - 1, len(HASHED_FIELDS) + 1  # positions in a stored row


def _stored_canonical(row: tuple[Any, ...]) -> tuple[dict[str, Any], bytes]:
    """A raw event row (hashed fields, request hash, hash): what the checker reads, and its bytes.

    The stored payload is canonical JSON text (the engine writes it so): it is
    embedded as it stands rather than parsed and re-dumped, so any change to
    the stored text, even one that means the same, breaks the hash. Stored
    times are rewritten as canonical text.
    """
    fields = dict(zip(HASHED_FIELDS, row, strict=False))
    fields["occurred_at"] = canonical_text_time(fields["occurred_at"])
    fields["effective_at"] = canonical_text_time(fields["effective_at"])
    fields["payload"] = orjson.Fragment(fields["payload"])
    canonical = orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)
    return {"seq": row[_SEQ], "prev_hash": row[_PREV], "hash": row[_HASH]}, canonical


def verify_chain(db: Engine, *, head_hash: str | None = None) -> ChainReport:
    """Verify the whole chain stored in ``db``; report the first bad sequence number.

    Args:
        db: the database.
        head_hash: a hash the auditor kept (e.g. from an earlier export): the
            chain must contain it, so a cut tail is detected.
    """
    # The database modules are imported here, not above: checking an export needs none of them
    # (and SQLAlchemy alone is ~25 MB of the verifier's memory).
    from sqlalchemy import select

    from workflow.store import firesql
    from workflow.store.db import reading
    from workflow.store.tables import CHAIN_HEAD

    with reading(db) as connection:
        head_row = connection.execute(select(CHAIN_HEAD.c.seq, CHAIN_HEAD.c.hash)).first()
        checker = ChainChecker(head_hash)
        for row in firesql.event_rows(connection):
            event, canonical = _stored_canonical(row)
            checker.check(event, canonical)
    head = (int(head_row.seq), str(head_row.hash)) if head_row is not None else None
    return checker.report(head)
