"""Replay: rebuild every entity and list version from the event log alone, and judge each step.

Each event is run through the machine definition of the version recorded on it
(kept in the ``definition`` table and in every export): the entity must be in
the event's ``from_state``, an arrow of that trigger must lead to ``to_state``,
the role must be one the arrow allows, the entity version must be the next,
and the time rules in force at the event's moment must allow it (the call's
deadline in force for a submission, its passing for a close or an expiry, for
an extension either not passed or a closed call reopened by its act, the
measure's window for an application). Then the event's recorded ``changes``
are applied. Nothing stops at the first problem: every illegal event and, when
compared with a live database, every divergence is reported.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

SELF = "="


@dataclass
class Replayed:
    """An entity as the log says it is (kept whole only by :func:`as_of` and ``keep_data``)."""

    kind: str
    id: str
    state: str
    version: int
    data: dict[str, Any]
    parent_id: str | None


@dataclass(frozen=True, slots=True)
class Problem:
    """An illegal event (``field`` is ``"event"``) or a divergence from the live tables."""

    seq: int | None
    entity: str
    field: str
    expected: Any
    found: Any
    reason: str

    def to_json(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "seq": self.seq,
            "entity": self.entity,
            "field": self.field,
            "expected": self.expected,
            "found": self.found,
            "reason": self.reason,
        }


class StateTable(Mapping[tuple[str, str], tuple[str, int]]):
    """Every entity's state and version, packed: one small int per entity, keyed by kind then id.

    A replay of a million events holds hundreds of thousands of these; a
    ``(kind, id) -> (state, version)`` dict of tuples costs about 90 bytes an
    entity more than this (measured by ``bench/audit_million.py``).
    """

    _BITS = 8  # up to 256 states per machine

    def __init__(self) -> None:
        self._by_kind: dict[str, dict[str, int]] = {}
        self._codes: dict[str, dict[str, int]] = {}
        self._names: dict[str, list[str]] = {}

    def set(self, kind: str, entity_id: str, state: str, version: int) -> None:
        """Record where an entity now is."""
        codes = self._codes.setdefault(kind, {})
        code = codes.get(state)
        if code is None:
            code = codes[state] = len(codes)
            self._names.setdefault(kind, []).append(state)
        self._by_kind.setdefault(kind, {})[entity_id] = version << self._BITS | code

    def __getitem__(self, key: tuple[str, str]) -> tuple[str, int]:
        packed = self._by_kind.get(key[0], {})[key[1]]
        return self._names[key[0]][packed & ((1 << self._BITS) - 1)], packed >> self._BITS

    def __iter__(self) -> Iterator[tuple[str, str]]:
        for kind, ids in self._by_kind.items():
            for entity_id in ids:
                yield kind, entity_id

    def __len__(self) -> int:
        return sum(len(ids) for ids in self._by_kind.values())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, tuple) and key[1] in self._by_kind.get(key[0], {})


@dataclass
class ReplayResult:
    """What the log rebuilds, and what is wrong with it.

    ``states`` holds every entity's state and version (the least legality
    needs); ``entities`` holds whole entities, data included, only when the
    replay was asked to keep them (:func:`as_of`), so that a log of millions
    of events replays in memory bounded by its number of entities, not of
    events. ``lists`` holds every list version; its ``entries`` only when kept,
    else their count and digest.
    """

    states: StateTable = field(default_factory=StateTable)
    entities: dict[tuple[str, str], Replayed] = field(default_factory=dict)
    lists: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    illegal: list[Problem] = field(default_factory=list)
    divergences: list[Problem] = field(default_factory=list)
    definitions: list[Problem] = field(default_factory=list)
    #: Definition versions events named that replay had no rules for: [events, first seq].
    unknown: dict[str, list[int]] = field(default_factory=dict)
    events: int = 0
    last_seq: int = 0

    @property
    def ok(self) -> bool:
        """No illegal event, no divergence, and rules proven for every event."""
        return not self.illegal and not self.divergences and not self.definitions

    @property
    def unjudged(self) -> int:
        """How many events were not judged, their definition unknown."""
        return sum(count for count, _ in self.unknown.values())

    def to_json(self) -> dict[str, Any]:
        """The report as one JSON document (``filiere audit replay --json``)."""
        return {
            "ok": self.ok,
            "events": self.events,
            "last_seq": self.last_seq,
            "entities": len(self.states),
            "illegal": [p.to_json() for p in self.illegal],
            "divergences": [p.to_json() for p in self.divergences],
            "definitions": [p.to_json() for p in self.definitions],
            "unjudged": self.unjudged,
        }

    def text(self) -> str:
        """The report for people: a verdict line, then one line per problem."""
        problems = len(self.illegal) + len(self.divergences) + len(self.definitions)
        lines = [
            f"replayed {self.events} events (to {self.last_seq}), {len(self.states)} entities: "
            + ("all legal, no divergence" if self.ok else f"{problems} problems")
        ]
        lines += [f"  {p.entity}: {p.reason}" for p in self.definitions]
        lines += [f"  event {p.seq}: {p.entity}: ILLEGAL {p.found}: {p.reason}" for p in self.illegal]
        lines += [
            f"  {p.entity}: {p.field}: log says {p.expected!r}, table has {p.found!r}"
            for p in self.divergences
        ]
        return "\n".join(lines)


def parse_time(value: str) -> datetime:
    """A time as events store it (ISO 8601, UTC)."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def entries_digest(entries: Iterable[str]) -> str:
    """A digest of a list version's entries (sorted ids), to compare without keeping them."""
    return hashlib.sha256("\n".join(sorted(entries)).encode()).hexdigest()[:32]


#: Entities whose data the legality of other entities' events depends on: always kept whole.
CONTEXT_KINDS = frozenset({"call", "measure"})
#: The kinds whose parent (``call_id`` or ``measure_id`` in their creating event) replay tracks.
_IN = "measure_id"
PARENT_FIELDS = {"proposal": "call_id", "decree": "call_id", "application": _IN, "project": _IN}


class Replayer:
    """Folds events, in order, into a :class:`ReplayResult`, judging each one."""

    def __init__(self, definitions: Mapping[str, Mapping[str, Any]], *, keep_data: bool = False) -> None:
        self.definitions = definitions
        self.keep_data = keep_data
        self.result = ReplayResult()
        self.context: dict[tuple[str, str], dict[str, Any]] = {}
        self.parents: dict[str, dict[str, str]] = {kind: {} for kind in PARENT_FIELDS}
        self.last_time = ""
        self.ledgers: dict[str, Any] = {}

    def apply(self, event: Mapping[str, Any]) -> None:
        """Judge and apply one event (canonical form: timestamps as text, payload parsed)."""
        result = self.result
        result.events += 1
        result.last_seq = int(event["seq"])
        kind, entity_id = event["entity_kind"], event["entity_id"]
        key = (kind, entity_id)
        current = result.states.get(key)
        reasons = list(self._illegal(event, key, current))
        if event["occurred_at"] < self.last_time:  # canonical UTC text sorts as time
            reasons.append(
                f"occurred at {event['occurred_at']}, before the event before it ({self.last_time})"
            )
        self.last_time = event["occurred_at"]
        for reason in reasons:
            result.illegal.append(
                Problem(event["seq"], f"{kind} {entity_id}", "event", None, event["trigger"], reason)
            )
        changes = event["payload"].get("changes", {})
        if current is None and kind in PARENT_FIELDS and PARENT_FIELDS[kind] in changes:
            self.parents[kind][entity_id] = sys.intern(str(changes[PARENT_FIELDS[kind]]))
        result.states.set(kind, entity_id, event["to_state"], int(event["entity_version"]))
        if kind in CONTEXT_KINDS:
            self.context[key] = {**self.context.get(key, {}), **changes}
        if self.keep_data:
            self._keep(key, event, changes)
        if kind == "decree" and event["trigger"] == "approve":
            self._list_version(event)
        if kind == "project":
            self._ledger(event, f"{kind} {entity_id}")

    def _ledger(self, event: Mapping[str, Any], where: str) -> None:
        """A project's ledger must reconcile, to the cent, with the money its events moved."""
        from handlers.projectledger import LedgerCheck

        check = self.ledgers.setdefault(event["entity_id"], LedgerCheck())
        for reason in check.feed(event["payload"]):
            self.result.illegal.append(Problem(event["seq"], where, "ledger", None, event["trigger"], reason))

    def parent(self, key: tuple[str, str]) -> str | None:
        """The call or measure an entity was created under, if its kind has one."""
        return self.parents.get(key[0], {}).get(key[1])

    def _keep(self, key: tuple[str, str], event: Mapping[str, Any], changes: Mapping[str, Any]) -> None:
        whole = self.result.entities.get(key)
        if whole is None:
            whole = Replayed(key[0], key[1], "", 0, {}, self.parent(key))
            self.result.entities[key] = whole
        whole.state, whole.version = self.result.states[key]
        whole.data = {**whole.data, **changes}

    def _list_version(self, event: Mapping[str, Any]) -> None:
        effects = event["payload"].get("effects", {})
        call_id = self.parent(("decree", event["entity_id"])) or ""
        entries = sorted(effects.get("entries", []))
        version: dict[str, Any] = {
            "number": effects.get("list_version"),
            "decree_id": event["entity_id"],
            "approved_at": event["occurred_at"],
            "seq": event["seq"],
            "count": len(entries),
            "digest": entries_digest(entries),
        }
        if self.keep_data:
            version["entries"] = entries
        self.result.lists.setdefault(call_id, []).append(version)

    def _illegal(
        self, event: Mapping[str, Any], key: tuple[str, str], current: tuple[str, int] | None
    ) -> Iterator[str]:
        definition = self.definitions.get(event["definition_version"])
        if definition is None:  # not judged: the rules are missing, not the event illegal
            unknown = self.result.unknown.setdefault(event["definition_version"], [0, int(event["seq"])])
            unknown[0] += 1
            return
        if event["trigger"] == "create":
            if current is not None:
                yield "created twice"
            if event["to_state"] not in definition["initial"]:
                yield f"created in {event['to_state']}, not the initial state"
            if event["role"] not in definition["create"]["roles"]:
                yield f"role {event['role']} may not create a {definition['name']}"
            return
        if current is None:
            yield "fired on an entity that was never created"
            return
        state, version = current
        if state != event["from_state"]:
            yield f"the entity was in {state}, the event says {event['from_state']}"
        if int(event["entity_version"]) != version + 1:
            yield f"entity version {event['entity_version']} does not follow {version}"
        leads = [
            t
            for t in definition["transitions"]
            if t["trigger"] == event["trigger"]
            and state in t["source"]
            and (state if t["dest"] == SELF else t["dest"]) == event["to_state"]
        ]
        if not leads:
            yield f"no arrow {event['trigger']} from {state} to {event['to_state']}"
        elif not any(event["role"] in t["roles"] for t in leads):
            yield f"role {event['role']} may not {event['trigger']}"
        yield from self._time_rules(event, key)

    def _time_rules(self, event: Mapping[str, Any], key: tuple[str, str]) -> Iterator[str]:
        kind, trigger = key[0], event["trigger"]
        if (kind, trigger) in (("proposal", "submit"), ("proposal", "expire"), ("call", "close")):
            call_id = key[1] if kind == "call" else self.parent(key) or ""
            call = self.context.get(("call", call_id))
            if call is not None:
                yield from _deadline_rule(event, call)
        if (kind, trigger) == ("call", "extend"):
            yield from _extension_rule(event, self.context.get(key))
        if (kind, trigger) == ("application", "submit"):
            measure_key = ("measure", self.parent(key) or "")
            measure = self.context.get(measure_key)
            closes = measure.get("closes_at_utc") if measure else None
            state = self.result.states.get(measure_key, ("", 0))[0]
            moment = parse_time(event["occurred_at"])
            if measure is None or state != "open" or (closes and moment > parse_time(closes)):
                yield f"submitted at {event['occurred_at']} outside the measure's window"


def _deadline_rule(event: Mapping[str, Any], call: Mapping[str, Any]) -> Iterator[str]:
    """A submission before the deadline in force at its moment; a close or an expiry after it."""
    from handlers.call import deadline_in_force

    moment = parse_time(event["occurred_at"])
    deadline = deadline_in_force(call, moment)
    passed = moment > parse_time(deadline["at"])
    if event["trigger"] == "submit" and passed:
        yield f"submitted at {event['occurred_at']} after the deadline in force {deadline['at']}"
    if event["trigger"] != "submit" and not passed:
        yield f"{event['trigger']} at {event['occurred_at']} before the deadline in force {deadline['at']}"


def _extension_rule(event: Mapping[str, Any], call: Mapping[str, Any] | None) -> Iterator[str]:
    """An extension before the deadline in force; after it, only by an act that reopens the call.

    A call is closed by the clock at its deadline: an extension of an ``open``
    call after it is illegal even if no close was recorded, as the engine judges.
    """
    from handlers.call import deadline_passed

    moment = parse_time(event["occurred_at"])
    if event["from_state"] == "closed":
        if not event["payload"].get("input", {}).get("reopens"):
            yield f"extended a closed call at {event['occurred_at']} by an act that does not reopen it"
    elif call is not None and deadline_passed(call, moment):
        yield f"extended an open call at {event['occurred_at']}, after its deadline in force had passed"


def replay(
    events: Iterable[Mapping[str, Any]],
    definitions: Mapping[str, Mapping[str, Any]],
    *,
    keep_data: bool = False,
) -> ReplayResult:
    """Rebuild and judge from ``events`` alone."""
    replayer = Replayer(definitions, keep_data=keep_data)
    for event in events:
        replayer.apply(event)
    return replayer.result
