"""The operators' read-only reports: a call's list as of a moment, a measure's budget, a call's status.

They read through the engine's public calls and write nothing.
"""

from __future__ import annotations

import click

from workflow.cli.common import Ctx, emit, engine_of, guarded, json_option, parse_moment


@click.command("list")
@click.argument("call_id")
@click.option("--as-of", "as_of", help="A moment: ISO date-time, Europe/Rome if no offset (default: now).")
@json_option
@click.pass_obj
@guarded
def list_command(state: Ctx, call_id: str, as_of: str | None) -> None:
    """The list (elenco) of a call as of a moment."""
    engine = engine_of(state)
    engine.get("call", call_id)
    moment = parse_moment(as_of) if as_of else engine.clock.now()
    version = engine.list_as_of(call_id, moment)
    if version is None:
        emit(
            state,
            {"call_id": call_id, "as_of": moment.isoformat(), "version": None, "proposals": []},
            f"no list of {call_id} as of {moment.isoformat()}",
        )
        return
    emit(
        state,
        {
            "call_id": call_id,
            "as_of": moment.isoformat(),
            "version": version.number,
            "decree_id": version.decree_id,
            "approved_at": version.approved_at.isoformat(),
            "proposals": list(version.proposal_ids),
        },
        f"{call_id} list version {version.number} "
        f"({version.decree_id}, approved {version.approved_at.isoformat()}):\n"
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
    from handlers.timeutil import for_people, from_json

    engine = engine_of(state)
    call = engine.get("call", call_id)
    now = engine.clock.now()
    deadline = deadline_in_force(call.data, now)
    counts = Counter(p.state for p in engine.find("proposal", parent_id=call_id))
    listed = engine.list_as_of(call_id, now)
    document = {
        "id": call_id,
        "state": call.state,
        "now": now.isoformat(),
        "deadline": deadline,
        "proposals": dict(sorted(counts.items())),
        "list_version": listed.number if listed else None,
        "listed": len(listed.proposal_ids) if listed else 0,
    }
    text = "\n".join(
        [
            f"{call_id}: {call.state}; it is {for_people(now)}",
            f"deadline in force: {for_people(from_json(deadline['at']))} ({deadline['act']})",
            "proposals: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"),
            f"list: version {listed.number}, {len(listed.proposal_ids)} proposals"
            if listed
            else "list: none yet",
        ]
    )
    emit(state, document, text)


COMMANDS = (list_command, measure, status)
