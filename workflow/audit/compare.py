"""Replay held against a live database: every divergence between the log and the tables, and any past state.

``compare`` reports each entity and list version whose stored state, version
or data differs from what the log rebuilds; ``as_of`` is the log replayed up to
a moment. Both read through ``workflow.store`` and write nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from workflow.audit.replay import (
    PARENT_FIELDS,
    Problem,
    Replayed,
    ReplayResult,
    entries_digest,
    replay,
)
from workflow.audit.stored import canonical_events, stored_definitions

if TYPE_CHECKING:
    from sqlalchemy import Engine


def compare(db: Engine, result: ReplayResult) -> ReplayResult:
    """Add to ``result`` every difference between what the log says and the live tables.

    Each entity is rebuilt again from its own events (read in entity order, a
    merge join with the entity table) so that no more than one entity's data
    is held at a time; its state and version must also be those ``result``
    reached in log order. List versions are compared by their entries' digest.
    """
    from sqlalchemy import select

    from workflow.store.db import reading
    from workflow.store.tables import ENTITY, EVENT

    with reading(db) as entities, reading(db) as events:
        rows = entities.execution_options(yield_per=1000).execute(
            select(ENTITY).order_by(_binary(db, ENTITY.c.kind), _binary(db, ENTITY.c.id))
        )
        stream = events.execution_options(yield_per=1000).execute(
            select(
                EVENT.c.entity_kind,
                EVENT.c.entity_id,
                EVENT.c.entity_version,
                EVENT.c.to_state,
                EVENT.c.payload,
            ).order_by(_binary(db, EVENT.c.entity_kind), _binary(db, EVENT.c.entity_id), EVENT.c.seq)
        )
        for key, want, have in _merge(_folded(stream), ((r.kind, r.id, r) for r in rows)):
            _compare_entity(result, key, want, have)
    _compare_lists(db, result)
    return result


def _binary(db: Engine, column: Any) -> Any:
    """Order by code point on both backends, as Python compares strings (the merge relies on it)."""
    return column.collate("C") if db.dialect.name == "postgresql" else column


def _folded(rows: Iterable[Any]) -> Iterator[tuple[str, str, Replayed]]:
    """Rows of events in entity order, folded into one :class:`Replayed` per entity."""
    current: Replayed | None = None
    for row in rows:
        changes = orjson.loads(row.payload).get("changes", {})
        if current is None or (current.kind, current.id) != (row.entity_kind, row.entity_id):
            if current is not None:
                yield current.kind, current.id, current
            parent = PARENT_FIELDS.get(row.entity_kind)
            current = Replayed(
                row.entity_kind,
                row.entity_id,
                row.to_state,
                0,
                {},
                str(changes[parent]) if parent and parent in changes else None,
            )
        current.state, current.version = row.to_state, int(row.entity_version)
        current.data = {**current.data, **changes}
    if current is not None:
        yield current.kind, current.id, current


def _merge(
    left: Iterator[tuple[str, str, Replayed]], right: Iterator[tuple[str, str, Any]]
) -> Iterator[tuple[tuple[str, str], Replayed | None, Any]]:
    """Pair two streams sorted by (kind, id); a side missing a key gives ``None``."""
    a, b = next(left, None), next(right, None)
    while a is not None or b is not None:
        if a is not None and (b is None or (a[0], a[1]) < (b[0], b[1])):
            yield (a[0], a[1]), a[2], None
            a = next(left, None)
        elif b is not None and (a is None or (b[0], b[1]) < (a[0], a[1])):
            yield (b[0], b[1]), None, b[2]
            b = next(right, None)
        elif a is not None and b is not None:
            yield (a[0], a[1]), a[2], b[2]
            a, b = next(left, None), next(right, None)


def _compare_entity(result: ReplayResult, key: tuple[str, str], want: Replayed | None, have: Any) -> None:
    name = f"{key[0]} {key[1]}"
    if want is None or have is None:
        result.divergences.append(
            Problem(
                None,
                name,
                "existence",
                want is not None,
                have is not None,
                "in the tables but not in the log" if want is None else "in the log but not in the tables",
            )
        )
        return
    data = orjson.loads(have.data)
    for field_name, expected, found in (
        ("state", want.state, have.state),
        ("version", want.version, have.version),
        ("parent_id", want.parent_id, have.parent_id),
    ):
        if expected != found:
            result.divergences.append(
                Problem(None, name, field_name, expected, found, f"{field_name} differs")
            )
    for data_key in sorted(set(data) | set(want.data)):
        if data.get(data_key) != want.data.get(data_key):
            result.divergences.append(
                Problem(
                    None,
                    name,
                    f"data.{data_key}",
                    want.data.get(data_key),
                    data.get(data_key),
                    "data differs",
                )
            )


def _compare_lists(db: Engine, result: ReplayResult) -> None:
    """Each list version's entries, as the approving decree's event lists them, against the tables."""
    from sqlalchemy import select

    from workflow.store.db import reading
    from workflow.store.tables import EVENT, LIST_ENTRY, LIST_VERSION

    with reading(db) as connection:
        versions = {(r.call_id, r.number) for r in connection.execute(select(LIST_VERSION))}
        live: dict[tuple[str, int], list[str]] = {key: [] for key in versions}
        for r in connection.execution_options(yield_per=1000).execute(select(LIST_ENTRY)):
            live.setdefault((r.call_id, r.number), []).append(r.proposal_id)
        logged = {(call, v["number"]): v for call, vs in result.lists.items() for v in vs}
        for key in sorted(set(live) | set(logged)):
            want, have = logged.get(key), live.get(key)
            if want is not None and have is not None and want["digest"] == entries_digest(have):
                continue
            expected = None
            if want is not None:
                row = connection.execute(select(EVENT.c.payload).where(EVENT.c.seq == want["seq"])).one()
                expected = sorted(orjson.loads(row.payload)["effects"]["entries"])
            result.divergences.append(
                Problem(
                    None,
                    f"list {key[0]} v{key[1]}",
                    "entries",
                    expected,
                    sorted(have) if have is not None else None,
                    "list version differs",
                )
            )


def as_of(db: Engine, moment: datetime) -> ReplayResult:
    """Everything as it was at ``moment``, data included: the log replayed up to it."""
    return replay(canonical_events(db, as_of=moment), stored_definitions(db), keep_data=True)
