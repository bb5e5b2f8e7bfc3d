"""Handlers of the Call machine: open, extend the deadline by act, close, reopen by act.

The deadline in force at an instant is the last version adopted by then; the
guards read it from the call's data and the clock, never from the scheduler. A
call whose deadline in force has passed is closed whether or not the close was
recorded yet (:func:`effective_state`): the close job only records it, and
anything fired on the call first records what is due (:func:`overdue`).
So an extension adopted after the deadline is judged the same with or without a
scheduler: refused, unless its act says it reopens the call (``reopens``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import Field

from handlers.base import Context, FollowUp, InvalidPayload, Outcome, Refusal, Snapshot
from handlers.callconfig import CallConfig, LocalTime, Name, normalise
from handlers.payloads import Empty, Payload
from handlers.timeutil import clock_time, for_people, from_json, local_to_utc, to_json


class Extend(Payload):
    """A deadline extension (*proroga*) adopted by an act now.

    ``at`` is a local time in the call's zone (checked against the call, which
    the payload alone does not know). ``reopens`` says the act reopens a call
    whose deadline has already passed; without it such an act is refused.
    """

    at: LocalTime
    act: Name = Field(min_length=3)
    reopens: bool = False

    def check(self) -> None:
        """The new deadline must at least be a date and a time."""
        try:
            datetime.fromisoformat(self.at)
        except ValueError as exc:
            raise InvalidPayload("at", str(exc)) from exc


PAYLOADS: dict[str, type[Payload]] = {
    "create": CallConfig,
    "open": Empty,
    "extend": Extend,
    "close": Empty,
}


def zone(call: Mapping[str, Any]) -> ZoneInfo:
    """The call's time zone: its local times are read, and shown to people, in it."""
    return ZoneInfo(call.get("timezone", "Europe/Rome"))


def deadline_in_force(call: Mapping[str, Any], moment: datetime) -> dict[str, Any]:
    """The deadline version in force at ``moment``: the last adopted by then."""
    versions = call["deadlines"]
    in_force = versions[0]
    for version in versions[1:]:
        adopted = version["adopted_at"]
        if adopted is None or from_json(adopted) <= moment:
            in_force = version
    return dict(in_force)


def deadline_passed(call: Mapping[str, Any], moment: datetime) -> bool:
    """Whether ``moment`` is after the deadline in force then (the instant itself is on time)."""
    return moment > from_json(deadline_in_force(call, moment)["at"])


def effective_state(call: Snapshot, now: datetime) -> str:
    """The call's state by the clock: an open call is closed once its deadline in force passed."""
    if call.state == "open" and deadline_passed(call.data, now):
        return "closed"
    return call.state


def overdue(ctx: Context) -> tuple[FollowUp, ...]:
    """What the clock made due on the call that nobody recorded yet: its close, its drafts' expiry.

    The engine records these, as the system, before the trigger fired on the
    call (``workflow/step.py``), so an extension after the deadline meets a
    closed call whose drafts have expired whether or not the scheduler ran.
    """
    call = ctx.entity
    if call is None or ctx.trigger == "close" or effective_state(call, ctx.now) != "closed":
        return ()
    leads: tuple[FollowUp, ...] = ()
    if call.state == "open":
        deadline = from_json(deadline_in_force(call.data, ctx.now)["at"])
        leads = (FollowUp("call", call.id, "close", effective_at=deadline),)
    else:
        deadline = from_json(call.data["closing_deadline"]["at"])
    drafts = ctx.reader.find("proposal", parent_id=call.id, state="draft")
    return leads + tuple(FollowUp("proposal", d.id, "expire", effective_at=deadline) for d in drafts)


def extension_instant(call: Mapping[str, Any], local: str) -> datetime:
    """The act's local time, read in the call's zone.

    Raises:
        InvalidPayload: the time does not exist (spring gap) or is ambiguous (autumn) there.
    """
    try:
        return local_to_utc(local, zone(call))
    except ValueError as exc:
        raise InvalidPayload("at", str(exc)) from exc


def deadline_refusal(guard: str, call: Mapping[str, Any], now: datetime) -> Refusal | None:
    """Refuse when ``now`` is after the deadline in force (the instant itself is on time)."""
    version = deadline_in_force(call, now)
    deadline = from_json(version["at"])
    if now <= deadline:
        return None
    tz = zone(call)
    return Refusal(
        guard,
        f"deadline in force {for_people(deadline, tz)} ({version['act']}) passed at {clock_time(now, tz)}",
        {"deadline": version["at"], "act": version["act"], "now": to_json(now)},
    )


# --- guards -----------------------------------------------------------------


def guard_opening_reached(ctx: Context) -> Refusal | None:
    """A call opens at its configured opening time, not before."""
    opens = from_json(ctx.data["opens_at_utc"])
    if ctx.now >= opens:
        return None
    tz = zone(ctx.data)
    return Refusal(
        "opening_reached",
        f"the call opens at {for_people(opens, tz)}; it is {for_people(ctx.now, tz)}",
        {"opens_at": ctx.data["opens_at_utc"], "now": to_json(ctx.now)},
    )


def guard_extension_later(ctx: Context) -> Refusal | None:
    """An extension must move the deadline in force later, and past now."""
    current = from_json(deadline_in_force(ctx.data, ctx.now)["at"])
    proposed = extension_instant(ctx.data, ctx.payload["at"])
    if proposed > current and proposed > ctx.now:
        return None
    tz = zone(ctx.data)
    than = f"the deadline in force {for_people(current, tz)}"
    if proposed > current:
        than = f"now ({for_people(ctx.now, tz)})"
    return Refusal(
        "extension_later",
        f"the new deadline {for_people(proposed, tz)} is not after {than}",
        {"proposed": to_json(proposed), "in_force": to_json(current), "now": to_json(ctx.now)},
    )


def guard_deadline_not_passed(ctx: Context) -> Refusal | None:
    """An extension of an open call is adopted before its deadline in force passes."""
    refusal = deadline_refusal("deadline_not_passed", ctx.data, ctx.now)
    if refusal is None:
        return None
    return Refusal(
        refusal.guard,
        f"{refusal.reason}: the call is closed; an act adopted after its deadline "
        "reopens it only if it says so (reopens: true)",
        refusal.data,
    )


def guard_reopened_by_act(ctx: Context) -> Refusal | None:
    """A closed call reopens only by an extension whose act says it reopens the call."""
    if ctx.payload.get("reopens"):
        return None
    closed = ctx.data.get("closing_deadline") or deadline_in_force(ctx.data, ctx.now)
    tz = zone(ctx.data)
    return Refusal(
        "reopened_by_act",
        f"the call closed at its deadline {for_people(from_json(closed['at']), tz)} ({closed['act']}); "
        "an act adopted after it reopens the call only if it says so (reopens: true)",
        {"deadline": closed["at"], "act": closed["act"], "now": to_json(ctx.now)},
    )


def guard_deadline_passed(ctx: Context) -> Refusal | None:
    """A call closes only once the deadline in force has passed."""
    if deadline_passed(ctx.data, ctx.now):
        return None
    version = deadline_in_force(ctx.data, ctx.now)
    tz = zone(ctx.data)
    return Refusal(
        "deadline_passed",
        f"deadline in force {for_people(from_json(version['at']), tz)} has not passed at "
        f"{for_people(ctx.now, tz)}",
        {"deadline": version["at"], "now": to_json(ctx.now)},
    )


# --- handlers ---------------------------------------------------------------


def create(ctx: Context) -> Outcome:
    """Store the validated configuration with its instants computed in UTC."""
    return Outcome(changes=normalise(dict(ctx.payload)))


def open(ctx: Context) -> Outcome:  # noqa: A001 - named after its trigger
    """Record the opening time."""
    return Outcome(changes={"opened_at": to_json(ctx.now)})


def extend(ctx: Context) -> Outcome:
    """Append a deadline version, in force from now; a reopening act also clears the close."""
    moved = extension_instant(ctx.data, ctx.payload["at"])
    version = {"at": to_json(moved), "act": ctx.payload["act"], "adopted_at": to_json(ctx.now)}
    changes: dict[str, Any] = {"deadlines": [*ctx.data["deadlines"], version]}
    record: dict[str, Any] = {"deadline": version}
    if ctx.entity is not None and ctx.entity.state == "closed":
        version["reopens"] = True
        changes |= {"closed_at": None, "closing_deadline": None, "reopened_at": to_json(ctx.now)}
        record["reopened"] = {"closed_at": ctx.data.get("closed_at"), "act": ctx.payload["act"]}
    return Outcome(changes=changes, record=record)


def close(ctx: Context) -> Outcome:
    """Close the call at the deadline in force; its remaining drafts expire in their own transactions.

    The scheduler expires each remaining draft right after the close (one job a
    draft, ``scheduler/plan.py``). Expiring them inside this transaction, as
    follow-ups, made the close take seconds with thousands of drafts
    (``bench/RESULTS.md``, the crush); a closed call already refuses submissions.
    """
    version = deadline_in_force(ctx.data, ctx.now)
    drafts = ctx.reader.find("proposal", parent_id=ctx.entity_id, state="draft")
    return Outcome(
        changes={"closed_at": to_json(ctx.now), "closing_deadline": version},
        record={"deadline": version, "drafts_left": len(drafts)},
    )
