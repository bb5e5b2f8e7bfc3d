"""The per-event check of the log: chains, positions, the tree, the request hash and what the auditor kept.

:class:`ChainChecker` knows nothing of the database, so the same code checks
the stored log (``workflow.audit.verify``) and an exported file
(``workflow.audit.export``). Events come in the audited order (sealed
position); each event's hash is recomputed from its fields and the hash it
names as previous, which must be the last hash of the same entity (events
from before the transparency log, ``seq`` below ``entities_from``, keep their
single global chain). An event's hash covers its ``request_hash`` when it has
one (format 2 of the hashed members); an older keyed event verifies under the
rule it was written with and is counted apart. Positions run from 1 without
gaps and rebuild a Merkle tree whose roots must equal every root kept.

A break of order (a jump, a ``prev_hash`` that does not follow) names what
should have come next; a caller that finds that event elsewhere, genuine,
reports the events as out of sequence (:meth:`ChainChecker.reordered`) rather
than deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from workflow import merkle
from workflow.canonical import GENESIS, chain_hash, event_bytes


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The verdict on a log.

    Attributes:
        ok: the chains and the tree are intact (and reach the kept head/roots if given).
        events: how many events were read.
        head_seq: the ``seq`` of the last event read (0 for an empty log).
        head_hash: the last hash read (the genesis hash for an empty log).
        first_bad_seq: the ``seq`` of the first event at which something breaks.
        problem: what is wrong there, in words.
        tree_size: how many events were sealed (the tree's size).
        root: the root hash the sealed events rebuild (hex).
        unsealed: events committed but not sealed yet (not an error: the sealer is behind).
        legacy_request_hashes: events written before the hash covered the
            request hash (format 1) that carry one: theirs is not proven.
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
    legacy_request_hashes: int = 0

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return asdict(self)


class ChainChecker:
    """Checks events one at a time, in the audited order; remembers the first break.

    Args:
        kept_hash: an event hash the auditor kept: it must be in the log.
        kept_seq: the ``seq`` kept with it, if any: the event with that number
            must have that hash, which tells a log cut before it (truncated)
            from one that has it with another hash (rewritten or forked).
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
        kept_seq: int | None = None,
        after: tuple[int, str] = (0, GENESIS),
        entities_from: int | None = 1,
        kept_roots: Mapping[int, str] | None = None,
        implied_positions: bool = False,
    ) -> None:
        self.count = 0
        self.implied_positions = implied_positions
        self.last_seq, self.last_hash = after
        self.top_seq = max(after[0], 0)
        self.entities_from = entities_from
        self.heads: dict[tuple[str, str], tuple[int, str]] = {}
        self.first_bad_seq: int | None = None
        self.problem: str | None = None
        self.kept_hash = kept_hash
        self.kept_seq = kept_seq
        self.kept_at: int | None = 0 if kept_hash is None or kept_hash == GENESIS else None
        self.at_kept_seq: str | None = None
        self.kept_roots = dict(kept_roots or {})
        self.roots: dict[int, str] = {}
        self.size = 0
        self.unsealed = 0
        self._frontier: list[tuple[int, int, bytes]] = []
        #: What should have come at a break of order: ``("prev_hash", hash)`` (the event
        #: naming that hash) or ``("position", n)``; and the last good event of the single chain.
        self.wanted: tuple[str, Any] | None = None
        self.broken_after: tuple[int, str] | None = None
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

    @property
    def order_break(self) -> bool:
        """Whether the break is one of order, whose missing event may be further on."""
        return self.wanted is not None

    def check(
        self,
        event: Mapping[str, Any],
        canonical: bytes | None = None,
        legacy: Callable[[], bytes] | None = None,
    ) -> None:
        """Check one event (its hashed fields in canonical form, ``hash``, and ``position`` once sealed).

        ``canonical`` is the event's canonical bytes when the caller already
        holds them (an export's line less its hash and position), saving a
        re-dump. ``legacy`` gives its bytes under format 1 (no request hash),
        for a stored event that has one: tried only when format 2 does not match.
        """
        self.count += 1
        seq, prev, digest = int(event["seq"]), str(event["prev_hash"]), str(event["hash"])
        key = (str(event["entity_kind"]), str(event["entity_id"]))
        if self.entities_from is None and (seq != self.last_seq + 1 or prev != self.last_hash):
            self.entities_from = seq  # the single chain ends here
        single = self.entities_from is None or seq < self.entities_from
        linked = self.linked(seq, prev) if single else self.entity_linked(seq, key, prev)
        if linked and chain_hash(prev, canonical or event_bytes(event)) != digest:
            if legacy is not None and chain_hash(prev, legacy()) == digest:
                self.legacy += 1
            else:
                self.fail(seq, "hash does not match the event's content (altered)")
        self.heads[key] = (seq, digest)
        self.last_seq, self.last_hash = seq, digest
        self.top_seq = max(self.top_seq, seq)
        if self.kept_at is None and digest == self.kept_hash:
            self.kept_at = seq
        if seq == self.kept_seq:
            self.at_kept_seq = digest
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
            ahead = int(position) > self.size + 1
            what = "deleted" if ahead else "duplicated or reordered"
            self.fail(seq, f"position jumps from {self.size} to {position} ({what})")
            if ahead and self.wanted is None and self.first_bad_seq == seq:
                self.wanted = ("position", self.size + 1)
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
            if self.first_bad_seq == seq and last_seq:
                self.wanted = ("prev_hash", last_hash)
            return False
        return True

    def fail(self, seq: int, problem: str, *, order: bool = False) -> None:
        """Record a break at ``seq`` (only the first one is kept)."""
        if self.first_bad_seq is None:
            self.first_bad_seq = seq
            self.problem = f"event {seq}: {problem}"
            self.broken_after = (self.last_seq, self.last_hash)
            self.wanted = ("prev_hash", self.last_hash) if order else None

    def reordered(self, found: Mapping[str, Any], where: str) -> bool:
        """Whether ``found``, an event met elsewhere, is the one missing at the break: a reordering.

        It is if it is what was wanted there (the event naming the last good
        hash, or the one sealed at the missing position) and its content
        hashes to its own hash (in either format; an event of the single
        chain numbered as the next one): the genuine event, out of its place.
        The break is then reported as events out of sequence, ``where``
        saying where the event was found.
        """
        if self.wanted is None or self.broken_after is None:
            return False
        what, value = self.wanted
        if found.get(what) != value:
            return False
        moved = dict(found)
        single = self.entities_from is None or int(found["seq"]) < self.entities_from
        if what == "prev_hash" and single:
            moved["seq"] = self.broken_after[0] + 1
        prev, digest = str(found["prev_hash"]), found["hash"]
        if chain_hash(prev, event_bytes(moved)) != digest and (
            found.get("request_hash") is None
            or chain_hash(prev, event_bytes({**moved, "request_hash": None})) != digest
        ):
            return False
        seq = int(moved["seq"])
        if what == "position":
            follows = f"the event sealed at position {value}"
        elif single:
            follows = f"the event that follows {self.broken_after[0]}"
        else:
            follows = f"the event that follows {found['entity_kind']} {found['entity_id']}'s previous one"
        self.first_bad_seq = seq
        self.problem = f"event {seq}: events out of sequence: {follows} is {where} (reordered)"
        return True

    def report(self, head: tuple[int, str] | None = None) -> ChainReport:
        """The verdict; ``head`` is the stored tree head (size, root hex), if any."""
        root = self.root()
        at = self.top_seq + 1
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
        if not self.broken:
            self._judge_kept_head()
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
            legacy_request_hashes=self.legacy,
        )

    def _judge_kept_head(self) -> None:
        """Is the kept head in this log, under the number kept with it? Else truncated, rewritten or wrong."""
        kept, at = str(self.kept_hash)[:16], self.kept_seq
        if self.kept_at is not None:
            if at is not None and self.kept_at != at:
                self.fail(
                    at, f"the kept head {kept}… is event {self.kept_at} of this log, not {at} (wrong head)"
                )
            return
        if at is None:
            self.fail(
                self.top_seq + 1,
                f"the kept head {kept}… is not in this log (rewritten or forked, or the tail cut before it;"
                " give --head SEQ:HASH to tell which)",
            )
        elif self.at_kept_seq is None and self.top_seq < at:
            self.fail(
                self.top_seq + 1,
                f"the log ends at event {self.top_seq}, before the kept head {at} {kept}…"
                " (tail cut: truncated)",
            )
        elif self.at_kept_seq is None:
            self.fail(at, f"the log has no event {at}, the kept head {kept}… (deleted)")
        else:
            self.fail(
                at,
                f"the kept head {at} {kept}… is not in this log: event {at} has another hash"
                " (rewritten or forked at or before it, or the kept head is wrong)",
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
