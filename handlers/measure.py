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
#: Applications holding an award (all of it, or what a partial revocation left).
HOLDING = ("funded", "partially_revoked")
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


def scorrimento(
    reader: Reader, measure_id: str, measure: Mapping[str, Any], state: str, money: Decimal
) -> tuple[FollowUp, ...]:
    """The fundings that money freed up owes (*scorrimento*), one follow-up each.

    The applications waiting for money are funded in the measure's order (rank,
    ties by the earlier protocol; or protocol), one after another while the next
    one fits in ``money``: never a partial grant, never one skipped for a
    smaller one behind it. A ranked measure funds only once its ranking is
    final (closed, nothing left to evaluate); a first-come one stops at an
    application still being evaluated, which comes first.
    """
    everyone = reader.find("application", parent_id=measure_id)
    if measure["procedure"] == "ranked" and (state != "closed" or any(a.state in PENDING for a in everyone)):
        return ()
    owed: list[FollowUp] = []
    once = measure["composition"].get("one_grant_per_company", False)
    holders = {p["tax_code"] for a in everyone if a.state in HOLDING for p in a.data["partners"]}
    for application in queue(measure, everyone):
        if application.state in PENDING:
            break
        if application.state not in WAITING:
            continue
        need = Decimal(application.data["aid"]["base"])
        mine = {p["tax_code"] for p in application.data["partners"]}
        if need > money or (once and mine & holders):  # one grant per company: a director's call
            break
        money, holders = money - need, holders | mine
        owed.append(FollowUp("application", application.id, "fund", {}, actor="system", role="system"))
    return tuple(owed)


def short_of(
    reader: Reader, measure_id: str, measure: Mapping[str, Any], left: Decimal, admitted: str | None = None
) -> Snapshot | None:
    """The next application in arrival order a first-come measure cannot fund with ``left``.

    ``None`` if the measure is ranked, if the next one in line is still being
    evaluated (it comes first, whatever it will need), or if the next one fits.
    ``admitted`` names an application being admitted right now (it counts as waiting).
    """
    if measure["procedure"] != "first_come":
        return None
    for application in queue(measure, reader.find("application", parent_id=measure_id)):
        if application.state in PENDING and application.id != admitted:
            return None
        if application.state in WAITING or application.id == admitted:
            return application if Decimal(application.data["aid"]["base"]) > left else None
    return None


def exhausted(
    reader: Reader, measure: Snapshot, left: Decimal, admitted: str | None = None
) -> FollowUp | None:
    """The closing an open first-come measure owes itself when ``left`` cannot fund the next in line."""
    if measure.state != "open" or measure.data["procedure"] != "first_come":
        return None
    short = short_of(reader, measure.id, measure.data, left, admitted)
    if left > 0 and short is None:
        return None
    reason = f"budget exhausted: {euro(left)} left"
    if short is not None:
        reason += f", {short.id} needs {euro(short.data['aid']['base'])}"
    return FollowUp("measure", measure.id, "close", {"reason": reason}, actor="system", role="system")


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
    """A measure closes when its window ended or, early, when its budget is exhausted.

    Exhausted: nothing left, an admitted application already left without money,
    or (first-come) what is left cannot fund the next application in arrival order.
    """
    closes = ctx.data.get("closes_at_utc")
    if closes is not None and ctx.now > from_json(closes):
        return None
    left = remaining(ctx.data)
    waiting = ctx.reader.find("application", parent_id=ctx.entity_id, state="admitted_not_funded")
    if left == 0 or waiting or short_of(ctx.reader, ctx.entity_id, ctx.data, left) is not None:
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
    """Record the closing and why; closed early by exhaustion, it shelves who still waits.

    A first-come measure closing before its window's end is exhausted: the event names the
    amount left, and each admitted application still waiting for money is
    shelved (admitted, not funded) by its own event.
    """
    changes = {"closed_at": to_json(ctx.now), "closing_reason": ctx.payload["reason"]}
    closes = ctx.data.get("closes_at_utc")
    if ctx.data["procedure"] != "first_come" or (closes is not None and ctx.now > from_json(closes)):
        return Outcome(changes=changes)
    left = text(remaining(ctx.data))
    shelved = [a.id for a in ctx.reader.find("application", parent_id=ctx.entity_id, state="admitted")]
    return Outcome(
        changes={**changes, "exhausted": {"remaining": left, "at": to_json(ctx.now)}},
        record={"remaining": left, "shelved": shelved},
        follow_ups=tuple(
            FollowUp(
                "application", a, "shelve", {"reason": "budget exhausted"}, actor="system", role="system"
            )
            for a in shelved
        ),
    )


def raise_budget(ctx: Context) -> Outcome:
    """Add money; the applications waiting for it are funded while the next one fits (scorrimento)."""
    budget = Decimal(ctx.data["budget"]) + Decimal(ctx.payload["amount"])
    changed = {**ctx.data, "budget": text(budget)}
    state = ctx.entity.state if ctx.entity else "planned"
    owed = (
        scorrimento(ctx.reader, ctx.entity_id, changed, state, remaining(changed))
        if state != "planned"
        else ()
    )
    raises = [*ctx.data.get("budget_raises", []), {**ctx.payload, "at": to_json(ctx.now)}]
    return Outcome(
        changes={"budget": text(budget), "budget_raises": raises},
        record={"budget": text(budget), "remaining": text(remaining(changed))},
        follow_ups=owed,
    )


def reserve(ctx: Context) -> Outcome:
    """Reserve money for a funded application; a first-come measure closes when it cannot fund the next."""
    amount = Decimal(ctx.payload["amount"])
    reserved = Decimal(ctx.data["reserved"]) + amount
    reservations = {**ctx.data["reservations"], ctx.payload["application_id"]: text(amount)}
    left = Decimal(ctx.data["budget"]) - reserved
    closing = exhausted(ctx.reader, ctx.entity, left) if ctx.entity is not None else None
    return Outcome(
        changes={"reserved": text(reserved), "reservations": reservations},
        record={"reserved": text(reserved), "remaining": text(left)},
        follow_ups=(closing,) if closing else (),
    )


def release(ctx: Context) -> Outcome:
    """Release money; the applications waiting for it are funded while the next one fits (scorrimento)."""
    amount = Decimal(ctx.payload["amount"])
    reserved = Decimal(ctx.data["reserved"]) - amount
    held = Decimal(ctx.data["reservations"][ctx.payload["application_id"]]) - amount
    reservations = {k: v for k, v in ctx.data["reservations"].items() if k != ctx.payload["application_id"]}
    if held > 0:
        reservations[ctx.payload["application_id"]] = text(held)
    changed = {**ctx.data, "reserved": text(reserved)}
    state = ctx.entity.state if ctx.entity else "closed"
    return Outcome(
        changes={"reserved": text(reserved), "reservations": reservations},
        record={"reserved": text(reserved), "remaining": text(remaining(changed))},
        follow_ups=scorrimento(ctx.reader, ctx.entity_id, changed, state, remaining(changed)),
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
