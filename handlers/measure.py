"""Handlers of the Measure machine: window, budget, reservations, scorrimento.

The budget lives in the measure's data (``budget``, ``reserved`` and the
``reservations`` per application) and moves only by the measure's own events,
each in the same transaction as the application event that caused it. So the
budget cannot be over-committed (``funds_available`` is checked under the
write lock) and replay can rebuild it from the log alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from pydantic import Field

from handlers.base import Context, FollowUp, Outcome, Reader, Refusal, Snapshot
from handlers.callconfig import Name
from handlers.measureconfig import MeasureConfig, normalise
from handlers.money import Money, euro, text
from handlers.payloads import Empty, OptionalReason, Payload
from handlers.timeutil import for_people, from_json, to_json

#: Applications waiting for money, in the order they must be served.
WAITING = ("admitted", "admitted_not_funded")
#: Applications whose evaluation is not finished.
PENDING = ("submitted", "integration_requested")


class RaiseBudget(Payload):
    """An act adds money to the measure."""

    amount: Money
    act: Name


class Movement(Payload):
    """Money reserved for, or released by, one application."""

    application_id: Name
    amount: Money


class Close(Payload):
    """Why the measure closes (its window ended, or its budget ran out)."""

    reason: str = Field(default="window ended", max_length=200)


PAYLOADS: dict[str, type[Payload]] = {
    "create": MeasureConfig,
    "open": Empty,
    "close": Close,
    "raise_budget": RaiseBudget,
    "reserve": Movement,
    "release": Movement,
    "archive": OptionalReason,
}


def remaining(measure: Mapping[str, Any]) -> Decimal:
    """Budget not yet reserved."""
    return Decimal(measure["budget"]) - Decimal(measure["reserved"])


def queue(measure: Snapshot | Mapping[str, Any], applications: Sequence[Snapshot]) -> list[Snapshot]:
    """Applications in the order the measure serves them.

    Ranked measures: higher total score first, ties by earlier protocol.
    First-come measures: protocol order.
    """
    data = measure.data if isinstance(measure, Snapshot) else measure
    submitted = [a for a in applications if "protocol_number" in a.data]
    if data["procedure"] == "ranked":
        return sorted(submitted, key=lambda a: (-int(a.data.get("total", -1)), a.data["protocol_number"]))
    return sorted(submitted, key=lambda a: a.data["protocol_number"])


def next_in_line(
    reader: Reader, measure_id: str, measure: Mapping[str, Any], money: Decimal
) -> FollowUp | None:
    """The funding that scorrimento owes: the first waiting application, if the money covers it."""
    waiting = [
        a for a in queue(measure, reader.find("application", parent_id=measure_id)) if a.state in WAITING
    ]
    if waiting and Decimal(waiting[0].data["aid"]["base"]) <= money:
        return FollowUp("application", waiting[0].id, "fund", {}, actor="system", role="system")
    return None


# --- guards -----------------------------------------------------------------


def guard_window_opened(ctx: Context) -> Refusal | None:
    """A measure opens at the start of its window, not before."""
    opens = from_json(ctx.data["opens_at_utc"])
    if ctx.now >= opens:
        return None
    return Refusal(
        "window_opened", f"the window opens at {for_people(opens)}", {"opens_at": ctx.data["opens_at_utc"]}
    )


def guard_window_ended_or_exhausted(ctx: Context) -> Refusal | None:
    """A measure closes when its window ended or, early, when its budget is exhausted."""
    closes = ctx.data.get("closes_at_utc")
    if closes is not None and ctx.now > from_json(closes):
        return None
    waiting = ctx.reader.find("application", parent_id=ctx.entity_id, state="admitted_not_funded")
    if remaining(ctx.data) == 0 or waiting:
        return None
    return Refusal(
        "window_ended_or_exhausted",
        f"the window is open and {euro(remaining(ctx.data))} are left",
        {"remaining": text(remaining(ctx.data))},
    )


def guard_funds_available(ctx: Context) -> Refusal | None:
    """A reservation never takes the measure over its budget."""
    left, asked = remaining(ctx.data), Decimal(ctx.payload["amount"])
    if asked <= left:
        return None
    return Refusal(
        "funds_available",
        f"{euro(asked)} asked, {euro(left)} left of {euro(ctx.data['budget'])}",
        {"asked": text(asked), "remaining": text(left)},
    )


def guard_reservation_exists(ctx: Context) -> Refusal | None:
    """Only money reserved for an application can be released for it."""
    held = Decimal(ctx.data["reservations"].get(ctx.payload["application_id"], "0"))
    if Decimal(ctx.payload["amount"]) <= held and held > 0:
        return None
    return Refusal(
        "reservation_exists",
        f"{ctx.payload['application_id']} holds {euro(held)}, cannot release {euro(ctx.payload['amount'])}",
        {"held": text(held)},
    )


def guard_nothing_pending(ctx: Context) -> Refusal | None:
    """A measure is archived only when no application waits for a decision."""
    open_ones = [
        a.id
        for a in ctx.reader.find("application", parent_id=ctx.entity_id)
        if a.state in (*PENDING, "admitted")
    ]
    if not open_ones:
        return None
    return Refusal(
        "nothing_pending", f"applications still undecided: {', '.join(open_ones)}", {"pending": open_ones}
    )


# --- handlers ---------------------------------------------------------------


def create(ctx: Context) -> Outcome:
    """Store the validated configuration, its instants in UTC, an empty ledger."""
    return Outcome(changes=normalise(dict(ctx.payload)))


def open(ctx: Context) -> Outcome:  # noqa: A001 - named after its trigger
    """Record the opening."""
    return Outcome(changes={"opened_at": to_json(ctx.now)})


def close(ctx: Context) -> Outcome:
    """Record the closing and why."""
    return Outcome(changes={"closed_at": to_json(ctx.now), "closing_reason": ctx.payload["reason"]})


def raise_budget(ctx: Context) -> Outcome:
    """Add money; the next application waiting for it is funded (scorrimento)."""
    budget = Decimal(ctx.data["budget"]) + Decimal(ctx.payload["amount"])
    changed = {**ctx.data, "budget": text(budget)}
    follow = (
        next_in_line(ctx.reader, ctx.entity_id, changed, remaining(changed))
        if ctx.entity and ctx.entity.state != "planned"
        else None
    )
    raises = [*ctx.data.get("budget_raises", []), {**ctx.payload, "at": to_json(ctx.now)}]
    return Outcome(
        changes={"budget": text(budget), "budget_raises": raises},
        record={"budget": text(budget), "remaining": text(remaining(changed))},
        follow_ups=(follow,) if follow else (),
    )


def reserve(ctx: Context) -> Outcome:
    """Reserve money for a funded application; a first-come measure closes when none is left."""
    amount = Decimal(ctx.payload["amount"])
    reserved = Decimal(ctx.data["reserved"]) + amount
    reservations = {**ctx.data["reservations"], ctx.payload["application_id"]: text(amount)}
    left = Decimal(ctx.data["budget"]) - reserved
    exhausted = (
        left == 0
        and ctx.data["procedure"] == "first_come"
        and ctx.entity is not None
        and ctx.entity.state == "open"
    )
    closing = FollowUp(
        "measure", ctx.entity_id, "close", {"reason": "budget exhausted"}, actor="system", role="system"
    )
    return Outcome(
        changes={"reserved": text(reserved), "reservations": reservations},
        record={"reserved": text(reserved), "remaining": text(left)},
        follow_ups=(closing,) if exhausted else (),
    )


def release(ctx: Context) -> Outcome:
    """Release money; the next application waiting for it is funded (scorrimento)."""
    amount = Decimal(ctx.payload["amount"])
    reserved = Decimal(ctx.data["reserved"]) - amount
    held = Decimal(ctx.data["reservations"][ctx.payload["application_id"]]) - amount
    reservations = {k: v for k, v in ctx.data["reservations"].items() if k != ctx.payload["application_id"]}
    if held > 0:
        reservations[ctx.payload["application_id"]] = text(held)
    changed = {**ctx.data, "reserved": text(reserved)}
    follow = next_in_line(ctx.reader, ctx.entity_id, changed, remaining(changed))
    return Outcome(
        changes={"reserved": text(reserved), "reservations": reservations},
        record={"reserved": text(reserved), "remaining": text(remaining(changed))},
        follow_ups=(follow,) if follow else (),
    )


def archive(ctx: Context) -> Outcome:
    """Record the archiving."""
    return Outcome(changes={"archived_at": to_json(ctx.now)})


# --- for the application's rules ------------------------------------------------


def measure_of(ctx: Context) -> Snapshot:
    """The measure the application in ``ctx`` belongs to (or names, at creation)."""
    measure = ctx.reader.get("measure", ctx.data.get("measure_id") or ctx.payload["measure_id"])
    if measure is None:  # pragma: no cover - the create guard makes this impossible
        raise LookupError("measure vanished")
    return measure


def siblings(ctx: Context, states: Sequence[str]) -> list[Snapshot]:
    """Other applications of the same measure, in the given states."""
    everyone = ctx.reader.find("application", parent_id=measure_of(ctx).id)
    return [a for a in everyone if a.id != ctx.entity_id and a.state in states]
