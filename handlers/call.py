"""Handlers of the Call machine: open, extend the deadline by act, close.

The deadline in force at an instant is the last version adopted by then; the
guards read it from the call's data and the clock, never from the scheduler.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import Field

from handlers.base import Context, InvalidPayload, Outcome, Refusal
from handlers.callconfig import CallConfig, LocalTime, Name, normalise
from handlers.payloads import Empty, Payload
from handlers.timeutil import clock_time, for_people, from_json, local_to_utc, to_json


class Extend(Payload):
    """A deadline extension (*proroga*) adopted by an act now."""

    at: LocalTime
    act: Name = Field(min_length=3)

    def check(self) -> None:
        """The new deadline must be one instant in Europe/Rome."""
        try:
            local_to_utc(self.at)
        except ValueError as exc:
            raise InvalidPayload("at", str(exc)) from exc


PAYLOADS: dict[str, type[Payload]] = {
    "create": CallConfig,
    "open": Empty,
    "extend": Extend,
    "close": Empty,
}


def deadline_in_force(call: Mapping[str, Any], moment: datetime) -> dict[str, Any]:
    """The deadline version in force at ``moment``: the last adopted by then."""
    versions = call["deadlines"]
    in_force = versions[0]
    for version in versions[1:]:
        adopted = version["adopted_at"]
        if adopted is None or from_json(adopted) <= moment:
            in_force = version
    return dict(in_force)


def deadline_refusal(guard: str, call: Mapping[str, Any], now: datetime) -> Refusal | None:
    """Refuse when ``now`` is after the deadline in force (the instant itself is on time)."""
    version = deadline_in_force(call, now)
    deadline = from_json(version["at"])
    if now <= deadline:
        return None
    tz = ZoneInfo(call.get("timezone", "Europe/Rome"))
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
    return Refusal(
        "opening_reached",
        f"the call opens at {for_people(opens)}; it is {for_people(ctx.now)}",
        {"opens_at": ctx.data["opens_at_utc"], "now": to_json(ctx.now)},
    )


def guard_extension_later(ctx: Context) -> Refusal | None:
    """An extension must move the deadline in force later."""
    current = deadline_in_force(ctx.data, ctx.now)
    proposed = local_to_utc(ctx.payload["at"])
    if proposed > from_json(current["at"]):
        return None
    return Refusal(
        "extension_later",
        f"the new deadline {for_people(proposed)} is not after the deadline in force "
        f"{for_people(from_json(current['at']))}",
        {"proposed": to_json(proposed), "in_force": current["at"]},
    )


def guard_deadline_passed(ctx: Context) -> Refusal | None:
    """A call closes only once the deadline in force has passed."""
    if deadline_refusal("deadline_passed", ctx.data, ctx.now) is not None:
        return None
    version = deadline_in_force(ctx.data, ctx.now)
    return Refusal(
        "deadline_passed",
        f"deadline in force {for_people(from_json(version['at']))} has not passed at {for_people(ctx.now)}",
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
    """Append a deadline version, in force from now."""
    moved = local_to_utc(ctx.payload["at"])
    version = {"at": to_json(moved), "act": ctx.payload["act"], "adopted_at": to_json(ctx.now)}
    return Outcome(
        changes={"deadlines": [*ctx.data["deadlines"], version]},
        record={"deadline": version},
    )


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
