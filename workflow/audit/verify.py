"""Verifying the event log: every entity's hash chain, the order, and the Merkle tree.

One pass in the audited order (sealed position), in memory bounded by the
number of entities: each event's hash is recomputed from its stored fields
and the hash it names as previous, which must be the last hash of the same
entity (events from before the transparency log, ``seq`` below
``entity_chains_from``, keep their single global chain and are linked to the
event before them). Positions must run from 1 without gaps. Each event's hash
is appended as a leaf to a Merkle tree rebuilt on the fly, whose root must
equal the stored tree head and every root the auditor kept (a signed
checkpoint, or just a size and a root hash): a log rewritten with recomputed
hashes, cut, or forked cannot rebuild a root taken before the change.

The per-event check (:class:`ChainChecker`) knows nothing of the database, so
the same code verifies an exported file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from workflow import merkle
from workflow.canonical import GENESIS, HASHED_FIELDS, canonical_text_time, chain_hash, event_bytes, timestamp

if TYPE_CHECKING:
    from sqlalchemy import Engine


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The verdict on a log.

    Attributes:
        ok: the chains and the tree are intact (and reach ``head_hash``/the kept roots if given).
        events: how many events were read.
        head_seq: the ``seq`` of the last event read (0 for an empty log).
        head_hash: the last hash read (the genesis hash for an empty log).
        first_bad_seq: the ``seq`` of the first event at which something breaks.
        problem: what is wrong there, in words.
        tree_size: how many events were sealed (the tree's size).
        root: the root hash the sealed events rebuild (hex).
        unsealed: events committed but not sealed yet (not an error: the sealer is behind).
    """

    ok: bool
    events: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str | None = None
    tree_size: int = 0
    root: str = field(default=merkle.EMPTY_ROOT.hex())
    unsealed: int = 0

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return asdict(self)


class ChainChecker:
    """Checks events one at a time, in the audited order; remembers the first break.

    Args:
        kept_hash: an event hash the auditor kept: it must be in the log.
        after: the (seq, hash) of the event before the first one given, for a
            slice of a legacy chain.
        entities_from: the first ``seq`` chained per entity (older ones form one chain);
            ``None`` when unknown (an export without its manifest): the single chain
            runs as long as each event extends it, and per-entity chains from there.
        kept_roots: tree sizes and the root hashes (hex) the auditor kept for them.
        implied_positions: an event without ``position`` is sealed at the next one
            (a format-1 export, written before positions existed).
    """

    def __init__(
        self,
        kept_hash: str | None = None,
        *,
        after: tuple[int, str] = (0, GENESIS),
        entities_from: int | None = 1,
        kept_roots: Mapping[int, str] | None = None,
        implied_positions: bool = False,
    ) -> None:
        self.count = 0
        self.implied_positions = implied_positions
        self.last_seq, self.last_hash = after
        self.entities_from = entities_from
        self.heads: dict[tuple[str, str], tuple[int, str]] = {}
        self.first_bad_seq: int | None = None
        self.problem: str | None = None
        self.kept_hash = kept_hash
        self.kept_found = kept_hash is None or kept_hash == GENESIS
        self.kept_roots = dict(kept_roots or {})
        self.roots: dict[int, str] = {}
        self.size = 0
        self.unsealed = 0
        self._frontier: list[tuple[int, int, bytes]] = []

    @property
    def broken(self) -> bool:
        """Whether a break was found."""
        return self.first_bad_seq is not None

    def check(self, event: Mapping[str, Any], canonical: bytes | None = None) -> None:
        """Check one event (its hashed fields in canonical form, ``hash``, and ``position`` once sealed).

        ``canonical`` is the event's canonical bytes when the caller already
        holds them (an export's line less its hash and position), saving a re-dump.
        """
        self.count += 1
        seq, prev, digest = int(event["seq"]), str(event["prev_hash"]), str(event["hash"])
        key = (str(event["entity_kind"]), str(event["entity_id"]))
        if self.entities_from is None and (seq != self.last_seq + 1 or prev != self.last_hash):
            self.entities_from = seq  # the single chain ends here
        legacy = self.entities_from is None or seq < self.entities_from
        linked = self.linked(seq, prev) if legacy else self.entity_linked(seq, key, prev)
        if linked and chain_hash(prev, canonical or event_bytes(event)) != digest:
            self.fail(seq, "hash does not match the event's content (altered)")
        self.heads[key] = (seq, digest)
        self.last_seq, self.last_hash = seq, digest
        if digest == self.kept_hash:
            self.kept_found = True
        self._seal(seq, event.get("position"), digest)

    def _seal(self, seq: int, position: Any, digest: str) -> None:
        if position is None and self.implied_positions:
            position = self.size + 1
        if position is None:
            self.unsealed += 1
            return
        if self.unsealed:
            self.fail(seq, f"sealed at {position} after an unsealed event (reordered)")
        elif int(position) != self.size + 1:
            what = "deleted" if int(position) > self.size + 1 else "duplicated or reordered"
            self.fail(seq, f"position jumps from {self.size} to {position} ({what})")
        try:
            leaf = merkle.leaf_hash(bytes.fromhex(digest))
        except ValueError:
            leaf = merkle.leaf_hash(digest.encode())
        self._frontier, self.size = _push(self._frontier, self.size, leaf)
        if self.size in self.kept_roots:
            self.roots[self.size] = self.root()

    def root(self) -> str:
        """The root hash (hex) of the events sealed so far."""
        return merkle.frontier_root(self._frontier).hex()

    def linked(self, seq: int, prev_hash: str) -> bool:
        """Whether a legacy event ``seq`` naming ``prev_hash`` follows the last one; else a break."""
        expected = self.last_seq + 1
        if seq != expected:
            what = "deleted" if seq > expected else "duplicated or reordered"
            self.fail(expected, f"sequence jumps from {self.last_seq} to {seq} ({what})")
            return False
        if prev_hash != self.last_hash:
            self.fail(seq, f"prev_hash does not match event {self.last_seq} (inserted, deleted or reordered)")
            return False
        return True

    def entity_linked(self, seq: int, key: tuple[str, str], prev_hash: str) -> bool:
        """Whether ``prev_hash`` is the last hash of the event's own entity; else a break."""
        last_seq, last_hash = self.heads.get(key, (0, GENESIS))
        if seq <= last_seq:
            self.fail(seq, f"{key[0]} {key[1]}: event {seq} comes after its event {last_seq} (reordered)")
            return False
        if prev_hash != last_hash:
            previous = f"event {last_seq}" if last_seq else "the entity's start"
            self.fail(
                seq,
                f"{key[0]} {key[1]}: prev_hash does not match {previous} (inserted, deleted or reordered)",
            )
            return False
        return True

    def fail(self, seq: int, problem: str) -> None:
        """Record a break at ``seq`` (only the first one is kept)."""
        if self.first_bad_seq is None:
            self.first_bad_seq = seq
            self.problem = f"event {seq}: {problem}"

    def report(self, head: tuple[int, str] | None = None) -> ChainReport:
        """The verdict; ``head`` is the stored tree head (size, root hex), if any."""
        root = self.root()
        at = self.last_seq + 1
        if not self.broken and head is not None and head[0] != self.size:
            self.fail(
                at, f"the log holds {self.size} sealed events but its tree head says {head[0]} (tail cut)"
            )
        elif not self.broken and head is not None and head[1] != root:
            self.fail(at, "the sealed events do not rebuild the stored tree head's root (rewritten)")
        for size, kept in sorted(self.kept_roots.items()):
            if self.broken:
                break
            if size > self.size:
                self.fail(at, f"a kept checkpoint has {size} events, the log only {self.size} (tail cut)")
            elif self.roots.get(size) != kept:
                self.fail(
                    at, f"the log's first {size} events do not rebuild the kept root (rewritten or forked)"
                )
        if not self.broken and not self.kept_found:
            kept_hash = str(self.kept_hash)
            self.fail(at, f"the kept head hash {kept_hash[:16]}… is not in the chain (tail cut)")
        return ChainReport(
            ok=not self.broken,
            events=self.count,
            head_seq=self.last_seq,
            head_hash=self.last_hash,
            first_bad_seq=self.first_bad_seq,
            problem=self.problem,
            tree_size=self.size,
            root=root,
            unsealed=self.unsealed,
        )


def _push(
    frontier: list[tuple[int, int, bytes]], size: int, leaf: bytes
) -> tuple[list[tuple[int, int, bytes]], int]:
    level, index, digest = 0, size, leaf
    while frontier and frontier[-1][0] == level:
        _, left_index, left = frontier.pop()
        level, index, digest = level + 1, left_index >> 1, merkle.node_hash(left, digest)
    frontier.append((level, index, digest))
    return frontier, size + 1


def canonical_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """An ``event`` row in the form its hash covers (timestamps as text, payload parsed)."""
    fields = {name: row[name] for name in HASHED_FIELDS}
    for name in ("occurred_at", "effective_at"):
        value = fields[name]
        fields[name] = timestamp(value) if isinstance(value, datetime) else value
    fields["payload"] = orjson.loads(row["payload"])
    fields["hash"] = row["hash"]
    return fields


_KIND, _ID = HASHED_FIELDS.index("entity_kind"), HASHED_FIELDS.index("entity_id")
_SEQ, _PREV, _HASH = 0, len(HASHED_FIELDS) - 1, len(HASHED_FIELDS) + 1  # positions in a stored row
_POSITION = _HASH + 1


def _stored_canonical(row: tuple[Any, ...]) -> tuple[dict[str, Any], bytes]:
    """A raw event row (``firesql.ROW_COLUMNS``): what the checker reads, and its canonical bytes.

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
    checked = {
        "seq": row[_SEQ],
        "entity_kind": row[_KIND],
        "entity_id": row[_ID],
        "prev_hash": row[_PREV],
        "hash": row[_HASH],
        "position": row[_POSITION],
    }
    return checked, canonical


def entities_from(connection: Any) -> int:
    """The first ``seq`` chained per entity (``filiere_meta``); 1 when the key is absent."""
    from sqlalchemy import select

    from workflow.store.tables import META

    value = connection.execute(select(META.c.value).where(META.c.key == "entity_chains_from")).scalar()
    return int(value) if value is not None else 1


def verify_chain(
    db: Engine, *, head_hash: str | None = None, kept_roots: Mapping[int, str] | None = None
) -> ChainReport:
    """Verify the whole log stored in ``db``; report the first bad event.

    Args:
        db: the database.
        head_hash: an event hash the auditor kept (e.g. from an earlier export):
            the log must contain it, so a cut tail is detected.
        kept_roots: tree sizes and root hashes the auditor kept (checkpoints):
            the log must rebuild each, so a rewrite, a cut or a fork is detected.
    """
    # The database modules are imported here, not above: checking an export needs none of them
    # (and SQLAlchemy alone is ~25 MB of the verifier's memory).
    from workflow.store import firesql, tree
    from workflow.store.db import reading

    with reading(db) as connection:
        stored = tree.head(connection)
        checker = ChainChecker(head_hash, entities_from=entities_from(connection), kept_roots=kept_roots)
        for row in firesql.event_rows(connection):
            event, canonical = _stored_canonical(row)
            checker.check(event, canonical)
    return checker.report((stored.size, stored.root))
