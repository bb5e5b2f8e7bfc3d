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

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import partial
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
        legacy_request_hashes: events written before the hash covered the
            request hash (format 1) that carry one: theirs is not proven.
    """

    ok: bool
    events: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str | None = None
    legacy_request_hashes: int = 0

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return asdict(self)


class ChainChecker:
    """Checks events one at a time, in the order given; remembers the first break.

    Args:
        kept_hash: a head hash the auditor kept; the chain must contain it.
        kept_seq: the sequence number the auditor kept with it, if any: it
            tells a log that ends before the kept head (truncated) from one
            that reaches that number with another hash (rewritten or forked).
        after: the event before the first one given (a slice of a chain
            starts mid-way).
    """

    def __init__(
        self,
        kept_hash: str | None = None,
        *,
        kept_seq: int | None = None,
        after: tuple[int, str] = (0, GENESIS),
    ) -> None:
        self.count = 0
        self.last_seq, self.last_hash = after
        self.first_bad_seq: int | None = None
        self.problem: str | None = None
        self.kept_hash = kept_hash
        self.kept_seq = kept_seq
        self.kept_at: int | None = 0 if kept_hash is None or kept_hash == GENESIS else None
        #: The last good event before the break, and whether the break is one of order
        #: (a jump or a prev_hash that does not follow): then the event that should have
        #: come next may be further on, and :meth:`reordered` can tell.
        self.broken_after: tuple[int, str] | None = None
        self.order_break = False
        #: Events of format 1 that carry a request hash their hash does not cover.
        self.legacy = 0

    @property
    def broken(self) -> bool:
        """Whether a break was found."""
        return self.first_bad_seq is not None

    @property
    def kept_found(self) -> bool:
        """Whether the kept head hash was met (or none was kept)."""
        return self.kept_at is not None

    def check(
        self,
        event: Mapping[str, Any],
        canonical: bytes | None = None,
        legacy: Callable[[], bytes] | None = None,
    ) -> None:
        """Check one event (its hashed fields in canonical form, plus ``hash``).

        ``canonical`` is the event's canonical bytes when the caller already
        holds them (an export's line less its hash member), saving a re-dump.
        ``legacy`` gives its bytes under format 1 (no request hash), for a
        stored event that has one: tried only when format 2 does not match.
        """
        self.count += 1
        seq = int(event["seq"])
        if self.linked(seq, event["prev_hash"]):
            digest = event["hash"]
            if chain_hash(self.last_hash, canonical or event_bytes(event)) != digest:
                if legacy is not None and chain_hash(self.last_hash, legacy()) == digest:
                    self.legacy += 1
                else:
                    self.fail(seq, "hash does not match the event's content (altered)")
        self.last_seq = seq
        self.last_hash = str(event["hash"])
        if self.kept_at is None and self.last_hash == self.kept_hash:
            self.kept_at = seq

    def linked(self, seq: int, prev_hash: str) -> bool:
        """Whether an event numbered ``seq`` naming ``prev_hash`` follows the last one; else a break."""
        expected = self.last_seq + 1
        if seq != expected:
            what = "deleted" if seq > expected else "duplicated or reordered"
            self.fail(
                expected, f"sequence jumps from {self.last_seq} to {seq} ({what})", order=seq > expected
            )
            return False
        if prev_hash != self.last_hash:
            self.fail(
                seq,
                f"prev_hash does not match event {self.last_seq} (inserted, deleted or reordered)",
                order=True,
            )
            return False
        return True

    def fail(self, seq: int, problem: str, *, order: bool = False) -> None:
        """Record a break at ``seq`` (only the first one is kept)."""
        if self.first_bad_seq is None:
            self.first_bad_seq = seq
            self.problem = f"event {seq}: {problem}"
            self.broken_after = (self.last_seq, self.last_hash)
            self.order_break = order

    def reordered(self, found: Mapping[str, Any], where: str) -> bool:
        """Whether ``found``, an event met elsewhere, is the one that should follow the break: a reordering.

        It is, if it names the last good hash and its content, numbered as
        the next event, hashes to its own hash (in either format): the
        genuine next event, out of its place. The break is then reported as
        events out of sequence, ``where`` saying where the event was found.
        """
        if not self.order_break or self.broken_after is None:
            return False
        seq, prev = self.broken_after
        if found["prev_hash"] != prev:
            return False
        moved = {**found, "seq": seq + 1}
        if chain_hash(prev, event_bytes(moved)) != found["hash"] and (
            found.get("request_hash") is None
            or chain_hash(prev, event_bytes({**moved, "request_hash": None})) != found["hash"]
        ):
            return False
        self.first_bad_seq = seq + 1
        self.problem = (
            f"event {seq + 1}: events out of sequence: the event that follows {seq} is {where} (reordered)"
        )
        return True

    def report(self, head: tuple[int, str] | None = None) -> ChainReport:
        """The verdict; ``head`` is the stored chain head (last seq, last hash), if any."""
        if not self.broken and head is not None and head != (self.last_seq, self.last_hash):
            self.fail(
                min(head[0], self.last_seq + 1),
                f"chain ends at {self.last_seq} but its recorded head says {head[0]}"
                " (tail cut or head altered)",
            )
        if not self.broken:
            self._judge_kept_head()
        return ChainReport(
            ok=not self.broken,
            events=self.count,
            head_seq=self.last_seq,
            head_hash=self.last_hash,
            first_bad_seq=self.first_bad_seq,
            problem=self.problem,
            legacy_request_hashes=self.legacy,
        )

    def _judge_kept_head(self) -> None:
        """Is the kept head in this log, where the auditor said? Else truncated, rewritten or wrong."""
        kept, at = str(self.kept_hash)[:16], self.kept_seq
        if self.kept_at is not None:
            if at is not None and self.kept_at != at:
                self.fail(
                    at, f"the kept head {kept}… is event {self.kept_at} of this log, not {at} (wrong head)"
                )
            return
        if at is None:
            self.fail(
                self.last_seq + 1,
                f"the kept head {kept}… is not in this log (rewritten, forked or cut before it;"
                " give --head SEQ:HASH to tell which)",
            )
        elif self.last_seq < at:
            self.fail(
                self.last_seq + 1,
                f"the log ends at event {self.last_seq}, before the kept head {at} {kept}…"
                " (tail cut: truncated)",
            )
        else:
            self.fail(
                at,
                f"the kept head {at} {kept}… is not in this log: event {at} has another hash"
                " (rewritten or forked at or before it, or the kept head is wrong)",
            )


def parse_head(text: str) -> tuple[int | None, str]:
    """A kept head as the auditor gives it: ``HASH``, ``SEQ:HASH`` or ``SEQ HASH`` (64 hex digits).

    ``SEQ HASH`` is how ``audit export`` prints the head, so it may be pasted as it stands.

    Raises:
        InvalidInput: anything else (a typo is not a cut tail).
    """
    from workflow.errors import InvalidInput

    parts = text.replace(":", " ").split()
    seq, digest = (parts[0], parts[1]) if len(parts) == 2 else ("", " ".join(parts))
    digest = digest.lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise InvalidInput(
            "--head", "a head is 64 hex digits, optionally after its sequence number: SEQ:HASH"
        )
    if not seq:
        return None, digest
    if not seq.isascii() or not seq.isdigit() or int(seq) < 1:
        raise InvalidInput("--head", f"{seq!r} is not a sequence number (SEQ:HASH, SEQ from 1)")
    return int(seq), digest


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


_SEQ, _PREV, _REQUEST, _HASH = 0, len(HASHED_FIELDS) - 1, len(HASHED_FIELDS), len(HASHED_FIELDS) + 1


def stored_fields(row: tuple[Any, ...]) -> dict[str, Any]:
    """A raw event row (``firesql.EVENT_COLUMNS``) as the members its hash covers, plus ``hash``.

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
    return fields


def _stored_canonical(row: tuple[Any, ...]) -> tuple[dict[str, Any], bytes, Callable[[], bytes] | None]:
    """What the checker reads of a raw row: the event, its bytes, its bytes under format 1 if they differ."""
    fields = stored_fields(row)
    legacy = None
    if fields["request_hash"] is not None:
        legacy = partial(event_bytes, {**fields, "request_hash": None})
    return {"seq": row[_SEQ], "prev_hash": row[_PREV], "hash": row[_HASH]}, event_bytes(fields), legacy


def verify_chain(db: Engine, *, head_hash: str | None = None, head_seq: int | None = None) -> ChainReport:
    """Verify the whole chain stored in ``db``; report the first bad sequence number.

    Args:
        db: the database.
        head_hash: a hash the auditor kept (e.g. from an earlier export): the
            chain must contain it, so a cut tail is detected.
        head_seq: the sequence number kept with it, which tells a cut tail
            from a rewritten log.
    """
    # The database modules are imported here, not above: checking an export needs none of them
    # (and SQLAlchemy alone is ~25 MB of the verifier's memory).
    from sqlalchemy import select

    from workflow.store import firesql
    from workflow.store.db import reading
    from workflow.store.tables import CHAIN_HEAD, EVENT

    with reading(db) as connection:
        head_row = connection.execute(select(CHAIN_HEAD.c.seq, CHAIN_HEAD.c.hash)).first()
        checker = ChainChecker(head_hash, kept_seq=head_seq)
        for row in firesql.event_rows(connection):
            checker.check(*_stored_canonical(row))
        if checker.order_break and checker.broken_after is not None:
            # Is the event that should follow the break stored elsewhere? One look-up, once.
            columns = [EVENT.c[name] for name in firesql.EVENT_COLUMNS]
            naming = select(*columns).where(EVENT.c.prev_hash == checker.broken_after[1])
            for row in connection.execute(naming):
                if checker.reordered(stored_fields(tuple(row)), f"stored as event {row[_SEQ]}"):
                    break
    head = (int(head_row.seq), str(head_row.hash)) if head_row is not None else None
    return checker.report(head)
