"""Typed answers for integrators: a replay's verdict, the world as of a moment, a measure's budget.

The audit tools (``workflow.audit``) work on plain dicts and packed tables so
that a log of millions of events replays in bounded memory; these frozen
dataclasses wrap what they return, once, into the public types an embedding
program can rely on (:class:`~handlers.base.Snapshot`,
:class:`~handlers.base.ListVersion`, :class:`Budget`) instead of CLI text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from handlers.base import ListVersion, Snapshot
from workflow.audit.replay import Problem, ReplayResult, parse_time
from workflow.errors import NotFound

if TYPE_CHECKING:
    from sqlalchemy import Engine as SAEngine


@dataclass(frozen=True, slots=True)
class Budget:
    """A measure's allocation, what funding has reserved of it, and what is left (``Decimal`` euros)."""

    measure_id: str
    state: str
    budget: Decimal
    reserved: Decimal
    remaining: Decimal

    @classmethod
    def of(cls, measure: Snapshot) -> Budget:
        """The budget a measure's data records."""
        total, reserved = Decimal(measure.data["budget"]), Decimal(measure.data["reserved"])
        return cls(measure.id, measure.state, total, reserved, total - reserved)


@dataclass(frozen=True, slots=True)
class ReplayReport:
    """The verdict of replaying the log: every illegal event, every divergence from the tables.

    ``states`` maps ``(kind, id)`` to ``(state, version)`` for every entity the
    log built; ``divergences`` is empty when the replay was cut (``until_seq``
    or ``as_of``), since the live tables are then ahead of it by design.
    """

    ok: bool
    events: int
    last_seq: int
    states: Mapping[tuple[str, str], tuple[str, int]]
    illegal: tuple[Problem, ...]
    divergences: tuple[Problem, ...]

    @classmethod
    def of(cls, result: ReplayResult) -> ReplayReport:
        """Freeze an audit replay's result."""
        return cls(
            ok=result.ok,
            events=result.events,
            last_seq=result.last_seq,
            states=result.states,
            illegal=tuple(result.illegal),
            divergences=tuple(result.divergences),
        )


@dataclass(frozen=True, slots=True)
class AsOf:
    """Every entity, list version and measure budget as the log says they were at ``moment``.

    ``lists`` holds, per call, every list version approved by then, oldest
    first; ``illegal`` any event up to then that the rules did not allow.
    """

    moment: datetime
    last_seq: int
    entities: Mapping[tuple[str, str], Snapshot]
    lists: Mapping[str, tuple[ListVersion, ...]]
    budgets: Mapping[str, Budget]
    illegal: tuple[Problem, ...]

    def entity(self, kind: str, entity_id: str) -> Snapshot:
        """One entity as it was.

        Raises:
            NotFound: it did not exist yet.
        """
        try:
            return self.entities[(kind, entity_id)]
        except KeyError:
            raise NotFound(kind, entity_id) from None

    def list_of(self, call_id: str) -> ListVersion | None:
        """The call's list version in force then (the last approved), or ``None``."""
        versions = self.lists.get(call_id, ())
        return versions[-1] if versions else None

    def budget(self, measure_id: str) -> Budget:
        """A measure's budget as it was.

        Raises:
            NotFound: the measure did not exist yet.
        """
        try:
            return self.budgets[measure_id]
        except KeyError:
            raise NotFound("measure", measure_id) from None


def replay_report(
    db: SAEngine, *, until_seq: int | None = None, as_of: datetime | None = None
) -> ReplayReport:
    """Replay the database's log (to a point, if asked); a whole replay is compared with the tables."""
    from workflow.audit.compare import compare
    from workflow.audit.replay import replay
    from workflow.audit.stored import canonical_events, stored_definitions

    result = replay(canonical_events(db, until_seq=until_seq, as_of=as_of), stored_definitions(db))
    if until_seq is None and as_of is None:
        compare(db, result)
    return ReplayReport.of(result)


def as_of_report(db: SAEngine, moment: datetime) -> AsOf:
    """The log replayed up to ``moment``, as public types."""
    from workflow.audit.compare import as_of

    result = as_of(db, moment)
    entities = {
        key: Snapshot(e.kind, e.id, e.state, e.version, e.data, e.parent_id)
        for key, e in result.entities.items()
    }
    lists = {call_id: tuple(_list_version(call_id, v) for v in vs) for call_id, vs in result.lists.items()}
    budgets = {
        entity.id: Budget.of(entity)
        for (kind, _), entity in entities.items()
        if kind == "measure" and "budget" in entity.data
    }
    return AsOf(moment, result.last_seq, entities, lists, budgets, tuple(result.illegal))


def _list_version(call_id: str, version: Mapping[str, Any]) -> ListVersion:
    return ListVersion(
        call_id=call_id,
        number=int(version["number"]),
        decree_id=str(version["decree_id"]),
        approved_at=parse_time(str(version["approved_at"])),
        proposal_ids=tuple(version["entries"]),
    )
