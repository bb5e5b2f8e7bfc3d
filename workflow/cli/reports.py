"""The operators' read-only reports: a call's list as of a moment, a measure's budget, a call's status.

They read through the engine's public calls and write nothing.
"""

from __future__ import annotations

from typing import Any

import click

from workflow.cli.common import Ctx, emit, engine_of, guarded, json_option, parse_moment, plural, when

#: How many entities ``list`` shows at most unless told (``--limit``).
PAGE = 50


@click.command("list")
@click.argument("kind")
@click.option("--state", "states", multiple=True, help="Only entities in this state (repeatable).")
@click.option("--call", "parent", help="Only entities under this call or measure (proposals, applications).")
@click.option("--after", help="Start after this id: the `next` the previous page printed.")
@click.option("--limit", default=PAGE, show_default=True, type=click.IntRange(1, 1000), help="Page size.")
@json_option
@click.pass_obj
@guarded
def list_command(
    state: Ctx, *, kind: str, states: tuple[str, ...], parent: str | None, after: str | None, limit: int
) -> None:
    """The entities of a KIND (proposal, call, application, ...), by id, a page at a time.

    A call's list of recognised proposals (elenco) is `filiere elenco CALL_ID`.
    """
    engine = engine_of(state)
    _check_kind_and_states(engine, kind, states)
    page, more = _page(engine, kind, states=states, parent=parent, after=after, limit=limit)
    following = page[-1]["id"] if more else None
    lines = [
        f"{e['id']}  {e['state']}  version {e['version']}"
        + (f"  under {e['parent_id']}" if e["parent_id"] else "")
        for e in page
    ]
    tail = f"; next page: --after {following}" if following else ""
    lines.append(f"{plural(len(page), kind)} shown{tail}")
    emit(state, {"kind": kind, "entities": page, "next_after": following}, "\n".join(lines))


def _check_kind_and_states(engine: Any, kind: str, states: tuple[str, ...]) -> None:
    from workflow.errors import InvalidInput

    if kind not in engine.machines:
        kinds = ", ".join(sorted(engine.machines))
        hint = "; a call's list (elenco) is `filiere elenco CALL_ID`" if kind.isupper() else ""
        raise InvalidInput("kind", f"unknown kind {kind!r} (kinds: {kinds}){hint}")
    known = engine.definition(kind).states
    for wanted in states:
        if wanted not in known:
            raise InvalidInput("state", f"{kind} has no state {wanted!r} (states: {', '.join(known)})")


def _page(
    engine: Any,
    kind: str,
    *,
    states: tuple[str, ...],
    parent: str | None,
    after: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], bool]:
    """One page by id (keyset paging: stable while entities are added) and whether more follow."""
    from sqlalchemy import select

    from handlers.timeutil import to_json
    from workflow.store.db import reading
    from workflow.store.tables import ENTITY

    columns = (ENTITY.c.id, ENTITY.c.state, ENTITY.c.version, ENTITY.c.parent_id, ENTITY.c.updated_at)
    query = select(*columns).where(ENTITY.c.kind == kind)
    if states:
        query = query.where(ENTITY.c.state.in_(states))
    if parent is not None:
        query = query.where(ENTITY.c.parent_id == parent)
    if after is not None:
        query = query.where(ENTITY.c.id > after)
    with reading(engine.db) as connection:
        rows = connection.execute(query.order_by(ENTITY.c.id).limit(limit + 1)).all()
    page = [
        {
            "kind": kind,
            "id": r.id,
            "state": r.state,
            "version": r.version,
            "parent_id": r.parent_id,
            "updated_at": to_json(_aware(r.updated_at)),
        }
        for r in rows[:limit]
    ]
    return page, len(rows) > limit


def _aware(moment: Any) -> Any:
    """SQLite hands times back without their zone; they are stored in UTC."""
    from datetime import UTC

    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@click.command("elenco")
@click.argument("call_id")
@click.option("--as-of", "as_of", help="A moment: ISO date-time, Europe/Rome if no offset (default: now).")
@json_option
@click.pass_obj
@guarded
def elenco(state: Ctx, call_id: str, as_of: str | None) -> None:
    """The list (elenco) of a call's recognised proposals, as of a moment."""
    from handlers.timeutil import to_json

    engine = engine_of(state)
    engine.get("call", call_id)
    moment = parse_moment(as_of) if as_of else engine.clock.now()
    version = engine.list_as_of(call_id, moment)
    if version is None:
        emit(
            state,
            {"call_id": call_id, "as_of": to_json(moment), "version": None, "proposals": []},
            f"no list of {call_id} as of {when(moment)}",
        )
        return
    emit(
        state,
        {
            "call_id": call_id,
            "as_of": to_json(moment),
            "version": version.number,
            "decree_id": version.decree_id,
            "approved_at": to_json(version.approved_at),
            "proposals": list(version.proposal_ids),
        },
        f"{call_id} list version {version.number} "
        f"({version.decree_id}, approved {when(version.approved_at)}, "
        f"{plural(len(version.proposal_ids), 'proposal')}):\n"
        + "\n".join(f"  {p}" for p in version.proposal_ids),
    )


@click.command()
@click.argument("measure_id")
@json_option
@click.pass_obj
@guarded
def measure(state: Ctx, measure_id: str) -> None:
    """A measure's budget and the ranking (or protocol order) of its applications."""
    from handlers.measure import queue, remaining
    from handlers.money import euro, text

    engine = engine_of(state)
    entity = engine.get("measure", measure_id)
    ranking = [
        {
            "rank": n,
            "id": a.id,
            "state": a.state,
            "protocol": a.data.get("protocol"),
            "total": a.data.get("total"),
            "aid": a.data["aid"]["base"],
        }
        for n, a in enumerate(queue(entity, engine.find("application", parent_id=measure_id)), start=1)
    ]
    d = entity.data
    document = {
        "id": measure_id,
        "state": entity.state,
        "procedure": d["procedure"],
        "budget": d["budget"],
        "reserved": d["reserved"],
        "remaining": text(remaining(d)),
        "ranking": ranking,
    }
    lines = [
        f"{measure_id} ({d['procedure']}, {entity.state}): budget {euro(d['budget'])}, "
        f"reserved {euro(d['reserved'])}, left {euro(remaining(d))}"
    ]
    lines += [
        f"  {r['rank']:>3}  {r['id']}  {r['state']:<20} score {r['total']}  aid {euro(r['aid'])}"
        for r in ranking
    ]
    emit(state, document, "\n".join(lines))


@click.command()
@click.argument("call_id")
@json_option
@click.pass_obj
@guarded
def status(state: Ctx, call_id: str) -> None:
    """An overview of a call: state, deadline in force, proposals by state, the list."""
    from collections import Counter

    from handlers.call import deadline_in_force
    from handlers.timeutil import from_json, to_json

    engine = engine_of(state)
    call = engine.get("call", call_id)
    now = engine.clock.now()
    deadline = deadline_in_force(call.data, now)
    counts = Counter(p.state for p in engine.find("proposal", parent_id=call_id))
    listed = engine.list_as_of(call_id, now)
    document = {
        "id": call_id,
        "state": call.state,
        "now": to_json(now),
        "deadline": deadline,
        "proposals": dict(sorted(counts.items())),
        "list_version": listed.number if listed else None,
        "listed": len(listed.proposal_ids) if listed else 0,
    }
    text = "\n".join(
        [
            f"{call_id}: {call.state}; it is {when(now)}",
            f"deadline in force: {when(from_json(deadline['at']))} ({deadline['act']})",
            "proposals: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"),
            f"list: version {listed.number}, {plural(len(listed.proposal_ids), 'proposal')}"
            if listed
            else "list: none yet",
        ]
    )
    emit(state, document, text)


COMMANDS = (list_command, elenco, measure, status)
